"""Experiment tracking as verl users expect (``logger=[console,tensorboard,wandb,...]``), through verl's
own ``verl.utils.tracking.Tracking`` on both backends.

* embedded: :func:`open_tracker` in the trainer; every ``train.jsonl`` record is also logged there
  (same keys, same values, the run-log step), so TensorBoard/W&B show exactly what train.jsonl holds.
* verl: ``logger`` is added to verl's ``trainer.logger`` (core/verl/backend.py; ``file`` stays for
  train.jsonl), so verl's own Tracking logs every verl metric.

Where the files go, unless the environment already says: TensorBoard ``<run_dir>/tensorboard``
(``TENSORBOARD_DIR``), W&B offline (``WANDB_MODE=offline``) under ``<run_dir>`` (``WANDB_DIR``); the
project is the sweep name and the experiment the run name. ``file`` is verl's JSONL logger and is
not needed (train.jsonl is the contract); an unknown name fails before training with verl's list.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = ["loggers_of", "tracking_env", "open_tracker", "numeric"]


def loggers_of(cfg: Any) -> list[str]:
    """``cfg.logger`` as a list of verl Tracking backend names (validated)."""
    from omegaconf import OmegaConf

    value = OmegaConf.select(cfg, "logger", default=None) if OmegaConf.is_config(cfg) else (cfg or {}).get("logger")
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    names = [value] if isinstance(value, str) else list(value or [])
    from verl.utils.tracking import Tracking

    bad = [n for n in names if n not in Tracking.supported_backend]
    if bad:
        from methods import ConfigError

        raise ConfigError(f"logger={names}: {bad} unknown to verl's Tracking; use any of "
                          f"{sorted(Tracking.supported_backend)}")
    return names


def tracking_env(run_dir: str | os.PathLike, loggers: Sequence[str]) -> dict[str, str]:
    """Environment defaults that keep tracking files inside the run folder (the caller's values win)."""
    env = {}
    if "tensorboard" in loggers:
        env["TENSORBOARD_DIR"] = str(Path(run_dir) / "tensorboard")
    if "wandb" in loggers:
        env["WANDB_MODE"] = "offline"
        env["WANDB_DIR"] = str(Path(run_dir))
    return {k: os.environ.get(k, v) for k, v in env.items()}


def open_tracker(loggers: Sequence[str], *, project: str, experiment: str, run_dir: str | os.PathLike,
                 config: Mapping[str, Any] | None = None):
    """verl's ``Tracking`` for ``loggers`` (None when the list is empty)."""
    if not loggers:
        return None
    from verl.utils.tracking import Tracking

    env = tracking_env(run_dir, loggers)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # read by the backends when they open (only then: another run of this process
    Path(run_dir).mkdir(parents=True, exist_ok=True)  # must not inherit this run's folders)
    try:
        return Tracking(project_name=project, experiment_name=experiment, default_backend=list(loggers),
                        config={"trainer": {}, **dict(config or {})})
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def numeric(record: Mapping[str, Any]) -> dict[str, float]:
    """The scalar metrics of a train.jsonl record (what a tracker can plot)."""
    return {k: float(v) for k, v in record.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "step"}
