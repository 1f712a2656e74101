"""The harness's entry point (Hydra): one run, or a grid with ``-m``.

    python sweep.py                                     # one run: method=grpo seed=0, embedded CPU
    python sweep.py -m method=sent,mask,clip seed=0,1,2 # a grid (basic launcher: one after another)
    python sweep.py -m hydra/launcher=submitit_local method=grpo,en seed=0,1   # jobs in parallel
    python sweep.py preset=smoke                        # CI-sized

The ``method`` config group is generated from the method registry (``methods/``) by
``core.config.register_configs``: one structured node per method with its paper defaults, so YAML
never restates a default and an unknown ``method.<key>`` is rejected by Hydra; the embedded
``train`` block and ``model=tiny`` are ``TrainSpec`` / ``ModelSpec`` nodes the same way. Per-scale
settings live in ``sweeps/method_scale/<model>_<method>.yaml`` (each run prints what they change).

Run directory: ``<runs_root>/<sweep_name>/<run_name>``, ``run_name`` built from the command-line
overrides as Hydra parses them (``method=sent,seed=0``; ``train.lr=1e-4`` and ``train.lr=0.0001`` name
the same run), stable across relaunches; a run whose ``DONE`` exists is skipped.

Before anything is written, :func:`core.checks.check_job` refuses a config that would train something
other than what it says. One process owns a run (``<runs_root>/<sweep_name>/.locks/<run_name>.lock``,
``core.runlog.run_lock``): a second launch skips it with a message. A user error (bad value, bad file,
diverged run) prints one ``error:`` line without a traceback (``HYDRA_FULL_ERROR=1`` shows it); the
other jobs of a ``-m`` grid still run and the exit status is 1. See ``docs/reliability.md``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from core.config import RUN_NAME_EXCLUDE, register_configs, run_dir, run_name  # noqa: E402,F401 - sweep.run_name stays API

METHODS = register_configs()


#: one line per job of this process that ended in a user error (sets the exit status)
FAILED: list[str] = []


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _in_process_launcher() -> bool:
    """True when jobs run in this process (single run, or ``-m`` with Hydra's basic launcher)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        return str(hc.mode) == "RunMode.RUN" or "BasicLauncher" in str(hc.launcher.get("_target_", ""))
    except Exception:  # noqa: BLE001 - outside a Hydra job
        return True


def _train(cfg: DictConfig, rd: Path) -> Any:
    from core.checks import UserError, check_job
    from core.runlog import RunLocked, run_lock

    check_job(cfg)  # before anything is written
    backend = cfg.backend.name
    if backend not in ("embedded", "verl"):
        raise UserError(f"unknown backend.name {backend!r}; valid: embedded, verl")
    if backend == "embedded":
        from core.embedded import trainer

        try:
            job = trainer._Run(cfg, rd, log=_log)  # validates every value; writes nothing
        except ValueError as exc:
            raise UserError(str(exc)) from exc
        go = job.run
    else:
        try:
            from core.verl import backend as verl_backend
        except ImportError as exc:
            raise RuntimeError(f"backend=verl needs core/verl/backend.py and its dependencies: {exc}") from exc
        if OmegaConf.select(cfg, "backend.dry_run", default=False):
            return verl_backend.run(cfg, rd)  # prints the plan; writes no run file
        go = lambda: verl_backend.run(cfg, rd)  # noqa: E731
        nnodes = int(OmegaConf.select(cfg, "backend.nnodes", default=1) or 1)
        if nnodes > 1:
            from core.verl.ray_cluster import role

            if role(nnodes).kind == "worker":  # the run is node 0's (its driver holds the lock); workers serve it
                return go()
    if (rd / "DONE").exists():
        return go()  # finished: the backend only reads (and skips); DONE is written last, so no lock is needed
    try:
        with run_lock(rd.parent / ".locks" / f"{rd.name}.lock", what=f"run {rd}"):
            return go()
    except RunLocked as exc:
        _log(f"[{rd.name}] {exc}")
        return None


@hydra.main(version_base="1.3", config_path="sweeps", config_name="config")
def main(cfg: DictConfig) -> Any:
    from core.checks import user_errors

    rd = run_dir(cfg)
    try:
        return _train(cfg, rd)
    except user_errors() as exc:
        if os.environ.get("HYDRA_FULL_ERROR") == "1" or not _in_process_launcher():
            raise  # the full traceback, or the launcher's own report of a failed job
        line = " ".join(str(exc).split())
        _log(f"error: [{rd.name}] {line}")
        FAILED.append(rd.name)
        return None


def _cli() -> int:
    from core.checks import UserError, check_sweep_overrides

    args = sys.argv[1:]
    if "-m" in args or "--multirun" in args:
        try:
            check_sweep_overrides(args)
        except UserError as exc:
            _log(f"error: {exc}")
            return 2
    main()
    if FAILED:
        if len(FAILED) > 1 or "-m" in args or "--multirun" in args:
            _log(f"error: {len(FAILED)} job(s) failed: {', '.join(FAILED)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_cli())
