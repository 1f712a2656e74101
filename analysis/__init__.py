"""Run logs -> the paper's tables and figures (``python -m analysis [RUNS_DIR] --out paper_figs/``).

Reads only the run-log contract (docs/runlog.md); imports neither torch nor verl. Importing this
package imports nothing heavy: the modules are ``load`` (run directories -> tidy frames), ``scores``
and ``metrics`` (pass@k, avg@k, len@k), ``stats`` (bootstrap intervals), ``select`` (which runs feed
which column), ``paper`` (the paper's layout and numbers), ``render`` / ``tables`` / ``check``
(tables), ``curves`` / ``figures`` (figures), ``claims`` (the paper's claims checked), ``report`` and
``cli``. See docs/analysis.md.
"""
