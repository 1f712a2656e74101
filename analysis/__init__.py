"""Run logs -> the paper's tables and figures (``python -m analysis [RUNS_DIR] --out paper_figs/``).

Reads only the run-log contract (docs/runlog.md); imports neither torch nor verl, from ``core`` only
``core.metrics`` (and ``core.runlog``'s torch-free helpers), from ``methods`` only
``methods/catalog.py`` (by path); ``tests/test_layering.py`` checks this. Importing this package
imports nothing heavy. The modules: ``load`` with ``logfiles``, ``schema`` and ``sample_logs`` (run
directories -> tidy frames), ``scores`` (pass@k, avg@k, len@k per run), ``stats`` (bootstrap
intervals), ``select`` (which runs feed which column), ``paper`` (the paper's layout, numbers and
claims data in ``reference/``), ``cells`` / ``render`` / ``tables`` / ``check`` (tables),
``curves`` / ``figures`` / ``fig_curves`` / ``fig_passk`` / ``fig_tokens`` (figures), ``claims`` /
``claim_eval`` / ``ranks`` (the paper's claims checked), ``registry``, ``report`` and ``cli``. See
docs/analysis.md.
"""
