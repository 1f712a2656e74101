"""The commands the verl backend runs, and their environments: ``main_ppo`` for one stage, ``python -m
core.eval`` on one checkpoint, and the vLLM engine arguments both the evaluation and the curriculum's
scoring pass get.

Owns only command lines (no process is started here; core/verl/backend.py and core/verl/stages.py run
them). May import ``core.config``, ``core.verl.config`` and ``core.verl.cpu``.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from omegaconf import DictConfig

from core.config import select
from core.verl.config import device, eval_settings

if TYPE_CHECKING:
    from core.verl.stages import StagePlan


def launch_command(sp: StagePlan) -> list[str]:
    """The command that trains one stage (run in ``sp.stage_dir``)."""
    return [sys.executable, "-m", "verl.trainer.main_ppo", f"--config-path={sp.stage_dir}",
            "--config-name=ppo_trainer", "hydra.run.dir=.", "hydra.output_subdir=null"]


def launch_env(sp: StagePlan) -> dict[str, str]:
    env_vars = {str(k): str(v) for k, v in sp.settings["ray_kwargs.ray_init.runtime_env.env_vars"].items()}
    return {**env_vars, "VERL_USE_EXTERNAL_PLUGINS": "auto"}


def _cpu_env(cfg: DictConfig) -> dict[str, str]:
    if device(cfg) != "cpu":
        return {}
    from core.verl.cpu import CPU_ENV, CPU_EVAL_ENV

    return {**CPU_ENV, **CPU_EVAL_ENV}


def gen_args(cfg: DictConfig) -> dict[str, Any]:
    """vLLM engine arguments of the evaluation and the scoring: CPU mode's, then ``model.verl.eval_gen_args``."""
    out: dict[str, Any] = {}
    if device(cfg) == "cpu":
        from core.verl.cpu import CPU_EVAL_GEN_ARGS

        out.update(CPU_EVAL_GEN_ARGS)
    out.update(select(cfg, "model.verl.eval_gen_args") or {})
    return out


def eval_command(cfg: DictConfig, model_path: str, out: Path, eval_step: int | str) -> list[str]:
    """``python -m core.eval`` on one checkpoint with the verl evaluation settings (:func:`eval_settings`)."""
    e = eval_settings(cfg)
    cmd = [sys.executable, "-m", "core.eval", "--model", model_path, "--backend", "vllm",
           "--benchmarks", ",".join(e["benchmarks"]), "--n", str(e["n"]), "--k", ",".join(map(str, e["k"])),
           "--max-new-tokens", str(e["max_new_tokens"]), "--temperature", str(e["temperature"]),
           "--top-p", str(e["top_p"]), "--seed", str(int(select(cfg, "seed"))), "--eval-step", str(eval_step),
           "--out", str(out), "--no-progress",
           "--gen-arg", f"tensor_parallel_size={int(select(cfg, 'model.verl.eval_tp'))}"]
    for key, value in gen_args(cfg).items():
        cmd += ["--gen-arg", f"{key}={json.dumps(value)}"]
    return cmd


def eval_env(cfg: DictConfig) -> dict[str, str]:
    return {**_cpu_env(cfg), **{str(k): str(v) for k, v in (select(cfg, "model.verl.eval_env") or {}).items()}}


def shell(cmd: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    """``cmd`` as one copy-pasteable shell line (``cd`` and environment included)."""
    prefix = f"cd {shlex.quote(str(cwd))} && " if cwd else ""
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    return prefix + (envs + " " if envs else "") + " ".join(shlex.quote(c) for c in cmd)
