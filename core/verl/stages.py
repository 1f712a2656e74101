"""The plan of one verl run: its run directory, the training data of each curriculum stage, and one
composed and validated verl config per stage (:func:`plan`).

``curriculum=semantic_entropy``: every training prompt is scored once with the base model (``python -m
core.curriculum`` on vLLM, shared by every run of that model and scoring settings; or
``curriculum.scores_path``), ordered and split by the curriculum package's rule, one parquet file per
stage (core/verl/data.py). Stage k+1 starts from stage k's final HF checkpoint.

May import ``core.config``, ``core.curriculum``, ``core.eval.benchmarks``, and the other modules of
``core.verl`` except ``core.verl.backend`` (the orchestration that calls this).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from core.config import run_dir as configured_run_dir, select
from core.verl.commands import eval_env, gen_args, shell
from core.verl.config import REPO_ROOT, TRAIN_DATA, check, paper_setting, pythonpath, task_overrides, verl_settings
from methods import ConfigError


@dataclass
class StagePlan:
    """One main_ppo launch."""

    stage: int                      # 1-based
    stages: int
    train_file: Path
    model_path: str                 # stage 1: model.path; later: the previous stage's final HF checkpoint
    stage_dir: Path                 # <run_dir>/verl/stage<k>: config, verl logs, markers
    ckpt_dir: Path                  # verl's trainer.default_local_dir
    settings: dict[str, Any] = field(default_factory=dict)   # dotted verl key -> value
    config: DictConfig | None = None


def resolve_run_dir(cfg: DictConfig, run_dir: str | os.PathLike | None = None) -> Path:
    """``run_dir``, else the run-directory rule (:func:`core.config.run_dir`); absolute: verl runs in the
    stage directory, so every path in its config must be absolute."""
    return Path(configured_run_dir(cfg) if run_dir is None else run_dir).resolve()


def data_dir(cfg: DictConfig) -> Path:
    """Where converted parquet files are shared by all runs (content-hashed names)."""
    return Path(str(select(cfg, "backend.data_dir") or Path(str(select(cfg, "runs_root"))) / "_verl_data")).resolve()


def train_key(cfg: DictConfig) -> str:
    """The training set's benchmark key (``TRAIN_DATA`` of ``data=``; :func:`check` refuses any other)."""
    return TRAIN_DATA[str(select(cfg, "data.name"))]


def scoring_dir(cfg: DictConfig) -> Path:
    """Where the semantic-entropy scores of the base model are written (shared by every run that uses
    the same model and scoring settings; ``core.curriculum`` also caches the samples themselves)."""
    key = json.dumps([str(select(cfg, "model.path"))] + [select(cfg, f"curriculum.{k}") for k in (
        "m", "variant", "unparseable", "seed", "temperature", "top_p", "max_new_tokens")], default=str)
    return data_dir(cfg) / "semantic_entropy" / f"{select(cfg, 'model.name')}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def scoring_command(cfg: DictConfig) -> list[str]:
    """``python -m core.curriculum`` with vLLM: M samples per DAPO prompt from the base model (SENT §IV-A)."""
    def c(key: str) -> Any:
        return select(cfg, f"curriculum.{key}")

    cmd = [sys.executable, "-m", "core.curriculum", "--model", str(select(cfg, "model.path")), "--backend", "vllm",
           "--data", train_key(cfg), "--m", str(c("m")), "--variant", str(c("variant")),
           "--unparseable", str(c("unparseable")), "--stages", str(c("stages")),
           "--max-new-tokens", str(c("max_new_tokens") or paper_setting(cfg, "data.max_response_length")),
           "--temperature", str(c("temperature")), "--top-p", str(c("top_p")),
           "--seed", str(c("seed")), "--out", str(scoring_dir(cfg)),
           "--gen-arg", f"tensor_parallel_size={int(select(cfg, 'model.verl.eval_tp'))}"]
    if c("stage_fractions"):
        cmd += ["--stage-fractions", ",".join(str(f) for f in c("stage_fractions"))]
    if c("cache_dir"):
        cmd += ["--cache-dir", str(c("cache_dir"))]
    for key, value in gen_args(cfg).items():
        cmd += ["--gen-arg", f"{key}={json.dumps(value)}"]
    return cmd


def scores_file(cfg: DictConfig, *, dry_run: bool) -> Path:
    """``curriculum.scores_path`` if given, else the base model's scores (computed once, with vLLM)."""
    given = select(cfg, "curriculum.scores_path")
    if given:
        return Path(str(given))
    path = scoring_dir(cfg) / "semantic_entropy.jsonl"
    if dry_run or path.exists():
        return path
    scoring_dir(cfg).mkdir(parents=True, exist_ok=True)
    cmd = scoring_command(cfg)
    print(f"[verl] semantic-entropy scores of the base model: {shell(cmd, eval_env(cfg), REPO_ROOT)}", flush=True)
    with open(scoring_dir(cfg) / "scoring.log", "ab") as log:
        rc = subprocess.call(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                             env={**os.environ, **eval_env(cfg), "PYTHONPATH": pythonpath()})
    if rc != 0 or not path.exists():
        raise RuntimeError(f"semantic-entropy scoring failed (exit {rc}); see {scoring_dir(cfg) / 'scoring.log'}")
    return path


def curriculum_stages(cfg: DictConfig, *, dry_run: bool):
    """``(train parquet per stage, SE scores or None, stage of each id or None)``.

    ``curriculum=semantic_entropy``: every DAPO-Math-17k problem is scored with the base model
    (``python -m core.curriculum`` on vLLM, :func:`scores_file`; or precomputed scores from
    ``curriculum.scores_path``), ordered by ascending semantic entropy and split into stages with the
    embedded backend's rule (``core.curriculum.order_and_split``); each stage becomes one parquet file.
    """
    from core.verl.data import dataset_file, write_stage_files

    name = select(cfg, "curriculum.name")
    stages = int(select(cfg, "curriculum.stages"))
    out = data_dir(cfg)
    if name == "none":
        if stages != 1:
            raise ConfigError(f"curriculum=none with curriculum.stages={stages}; use curriculum=semantic_entropy")
        return [dataset_file(train_key(cfg), out, split="train", dry_run=dry_run)], None, None
    if name != "semantic_entropy":
        raise ConfigError(f"curriculum={name!r} is unknown to the verl backend (none | semantic_entropy)")
    path = scores_file(cfg, dry_run=dry_run)
    if dry_run and not path.exists():  # the plan only: the scores do not exist yet
        return ([out / f"{train_key(cfg)}.stage{k + 1}of{stages}.<ordered by {path}>.parquet" for k in range(stages)],
                None, None)
    from core.curriculum import order_and_split, read_semantic_entropy_jsonl

    scores = read_semantic_entropy_jsonl(path)
    parts = order_and_split(scores, stages, select(cfg, "curriculum.stage_fractions"))
    stage_of = {i: k + 1 for k, part in enumerate(parts) for i in part}
    return write_stage_files(train_key(cfg), out, parts, dry_run=dry_run), scores, stage_of


def hf_checkpoint(ckpt_dir: Path, step: int | None = None) -> Path:
    """``<ckpt_dir>/global_step_<step>/actor/huggingface`` (``step=None``: the latest verl checkpoint)."""
    if step is None:
        tracker = ckpt_dir / "latest_checkpointed_iteration.txt"
        if not tracker.exists():
            raise FileNotFoundError(f"no verl checkpoint in {ckpt_dir} (missing {tracker.name})")
        step = int(tracker.read_text().strip())
    return ckpt_dir / f"global_step_{step}" / "actor" / "huggingface"


def plan(cfg: DictConfig, run_dir: Path, *, dry_run: bool, upto: int | None = None) -> list[StagePlan]:
    """The stage launches of one run (the first ``upto``), each with its composed and validated verl config."""
    check(cfg)
    if select(cfg, "curriculum.name") == "auto":  # the method's default curriculum, validated (core.curriculum)
        from core.curriculum import resolve_curriculum

        resolve_curriculum(cfg, task_overrides())
    if not bool(select(cfg, "curriculum.reset_reference")):
        raise NotImplementedError(
            "curriculum.reset_reference=false (keep the original reference model in later stages) is not "
            "supported: verl 0.9.1 builds the reference from actor_rollout_ref.model.path, which stage k+1 sets "
            "to stage k's checkpoint (what the SENT scripts did). Use reset_reference=true.")
    from core.eval.benchmarks import PAPER_BENCHMARKS
    from core.verl.compose import compose_verl_config, validate_verl_config
    from core.verl.data import dataset_file

    train_files = curriculum_stages(cfg, dry_run=dry_run)[0]
    val_keys = list(select(cfg, "backend.val_benchmarks") or PAPER_BENCHMARKS)
    val_files = [dataset_file(k, data_dir(cfg), split="test", dry_run=dry_run) for k in val_keys]
    run_name, sweep = run_dir.name, str(select(cfg, "sweep_name"))
    plans = []
    for k, train_file in enumerate(train_files[:upto], 1):
        stage_dir = run_dir / "verl" / f"stage{k}"
        ckpt_dir = run_dir / "checkpoints" / f"stage{k}"
        model_path = str(select(cfg, "model.path")) if k == 1 else str(_stage_output(plans[-1], dry_run))
        sp = StagePlan(stage=k, stages=len(train_files), train_file=train_file, model_path=model_path,
                       stage_dir=stage_dir, ckpt_dir=ckpt_dir)
        sp.settings = verl_settings(cfg, run_name=f"{run_name}-stage{k}" if len(train_files) > 1 else run_name,
                                    sweep_name=sweep, train_file=train_file, val_files=val_files,
                                    model_path=model_path, ckpt_dir=ckpt_dir,
                                    logger_path=stage_dir / f"verl_metrics.{_attempt(stage_dir)}.jsonl")
        sp.config = compose_verl_config(sp.settings)
        validate_verl_config(sp.config)
        plans.append(sp)
    return plans


def _stage_output(sp: StagePlan, dry_run: bool) -> Path:
    """The final HF checkpoint of a finished stage (the next stage's model.path)."""
    done = sp.stage_dir / "COMPLETE"
    if done.exists():
        return hf_checkpoint(sp.ckpt_dir, int(json.loads(done.read_text())["final_step"]))
    if dry_run:
        return sp.ckpt_dir / "global_step_<final>" / "actor" / "huggingface"
    raise RuntimeError(f"stage {sp.stage} is not finished ({done} missing); it must run before stage {sp.stage + 1}")


def _attempt(stage_dir: Path) -> int:
    return len(list(stage_dir.glob("verl_metrics.*.jsonl"))) if stage_dir.exists() else 0
