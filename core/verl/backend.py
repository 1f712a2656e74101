"""The verl backend (``backend=verl``): one run of verl 0.9.1 ``main_ppo`` with vLLM rollouts, orchestrated.

``sweep.py`` calls :func:`run`. The harness's composed config (``sweeps/``) becomes verl's own
``ppo_trainer`` config per curriculum stage (core/verl/config.py maps our keys to verl's,
core/verl/compose.py composes and validates verl's packaged YAML, core/verl/stages.py plans the
stages and their data, core/verl/commands.py builds the command lines); this module launches them.
The harness loss owns every loss coefficient, so verl's ``entropy_coeff`` and ``kl_loss_coef`` are 0
and the method's settings travel in ``actor.policy_loss`` (:class:`core.verl.plugin.HarnessPolicyLossConfig`);
the registered v1 trainer ``harness`` installs :func:`core.loss.harness_loss` on the actor workers.

One run (:func:`run`)::

    data      data/dapo_math_17k -> parquet with the paper's prompt (core/verl/data.py); the
              six benchmarks -> validation parquet
    scores    curriculum=semantic_entropy: the base model's semantic entropy per prompt
              (python -m core.curriculum on vLLM, once per model; or curriculum.scores_path),
              ordered and split into one parquet per stage
    stages    curriculum stage k = one main_ppo launch on stage k's data; stage k+1 starts from
              stage k's last HF checkpoint (verl loads the reference from model.path, so the
              reference moves with it, as in the SENT scripts)
    metrics   verl's file logger -> train.jsonl (core/verl/metrics.py)
    eval      python -m core.eval (vLLM, backend.eval: SENT Table XI by default) on the saved
              checkpoints -> samples/<benchmark>.jsonl
    DONE      written last

A relaunch (SLURM requeue) resumes: finished stages and evaluations are skipped, and the
unfinished stage restarts main_ppo with ``trainer.resume_mode=auto`` from its last checkpoint.

``backend.dry_run=true`` composes and validates everything (verl's own ``validate_config``, the
actor config dataclass with the method, the registered trainer, the reward function) and prints
the config and the launch commands, on a CPU machine, without writing anything.

May import every module of ``core.verl``, ``core.config``, ``core.curriculum``, ``core.runlog``; the
multi-node Ray cluster is core/verl/ray_cluster.py (roles, ports) and core/verl/ray_nodes.py (processes).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from core.config import select
from core.runlog import RunLog, atomic_write, claim_checkpoint_dir
from core.verl.commands import eval_command, eval_env, launch_command, launch_env, shell
from core.verl.config import (REPO_ROOT, check_eval_overrides, device, eval_settings, method_of, pythonpath,
                              resolve_device, task_overrides, updates_per_step)
from core.verl.stages import StagePlan, curriculum_stages, plan, resolve_run_dir, scoring_command, scoring_dir

__all__ = ["run", "print_dry_run", "node_resources", "resolve_model_path"]


def print_dry_run(cfg: DictConfig, run_dir: Path, plans: list[StagePlan], file=None) -> None:
    file = file or sys.stdout
    method = method_of(cfg)
    print(f"# backend=verl dry run: {method.name} (v{method.version}) on {select(cfg, 'model.name')} "
          f"({select(cfg, 'model.path')}), {len(plans)} stage(s); run dir {run_dir}", file=file)
    print("# validated: verl validate_config, actor config dataclass (omega_conf_to_dataclass) + "
          "core.loss.validate_actor_config, trainer 'harness', reward function", file=file)
    for sp in plans:
        print(f"\n# ===== stage {sp.stage}/{sp.stages}: verl ppo_trainer config "
              f"({sp.stage_dir / 'ppo_trainer.yaml'}) =====", file=file)
        if sp.stage == 1:
            print(OmegaConf.to_yaml(sp.config), file=file)
        else:
            print("# same as stage 1 except:", file=file)
            first = plans[0].settings
            for k, v in sp.settings.items():
                if first.get(k) != v:
                    print(f"{k}: {json.dumps(v)}", file=file)
        print(f"# overrides of verl's packaged ppo_trainer.yaml (stage {sp.stage}):", file=file)
        for k, v in sp.settings.items():
            print(f"#   {k}={json.dumps(v)}", file=file)
        print(f"# launch (stage {sp.stage}):", file=file)
        print(shell(launch_command(sp), launch_env(sp), sp.stage_dir), file=file)
    if select(cfg, "curriculum.name") == "semantic_entropy" and not select(cfg, "curriculum.scores_path"):
        print("\n# curriculum: semantic-entropy scores of the base model (run once, before stage 1; skipped when "
              f"{scoring_dir(cfg) / 'semantic_entropy.jsonl'} exists):", file=file)
        print(shell(scoring_command(cfg), eval_env(cfg), REPO_ROOT), file=file)
    if int(select(cfg, "backend.nnodes")) > 1:
        print(f"\n# backend.nnodes={select(cfg, 'backend.nnodes')}: main_ppo runs on the first node of the job with "
              "RAY_ADDRESS=<head>:<port> (core/verl/ray_cluster.py starts the Ray head there and a Ray worker on every "
              "other node, resources per node: " + json.dumps(node_resources(cfg)) + ")", file=file)
    last = plans[-1]
    print("\n# evaluation (after training; each evaluated checkpoint, SENT Table XI):", file=file)
    placeholder = last.ckpt_dir / "global_step_<N>" / "actor" / "huggingface"
    print(shell(eval_command(cfg, str(placeholder), run_dir, "<N>"), eval_env(cfg), REPO_ROOT), file=file)


def run(cfg: DictConfig, run_dir: str | os.PathLike | None = None) -> dict | None:
    """Train (all curriculum stages), evaluate and finalise one run; or print the plan (dry run)."""
    run_dir = resolve_run_dir(cfg, run_dir)
    dry_run = bool(select(cfg, "backend.dry_run"))
    resolve_model_path(cfg, build=not dry_run and not (run_dir / "DONE").exists())
    if not dry_run and (run_dir / "DONE").exists():
        print(f"[verl] {run_dir} is complete (DONE present); skipping")
        return json.loads((run_dir / "DONE").read_text())
    check_eval_overrides(task_overrides())
    if dry_run:
        plans = plan(cfg, run_dir, dry_run=True)
        print_dry_run(cfg, run_dir, plans)
        return None
    asked = select(cfg, "backend.device")
    print(f"[verl] device: {resolve_device(cfg)} (backend.device={asked})", flush=True)
    _require_gpu_stack()
    nnodes = int(select(cfg, "backend.nnodes"))
    if nnodes > 1:  # one run over several nodes: this task's part in the job's Ray cluster (core/verl/ray_cluster.py)
        from core.verl import ray_cluster, ray_nodes

        r = ray_cluster.role(nnodes)
        print(f"[verl] backend.nnodes={nnodes}: {r.kind} (node {r.node_rank})", flush=True)
        if r.kind == "worker":
            ray_nodes.run_worker(r, state_dir=run_dir / "verl", **node_resources(cfg))
            return None
    plan(cfg, run_dir, dry_run=False, upto=1)  # validate everything before writing anything
    _write_config_and_meta(cfg, run_dir)
    _, scores, stage_of = curriculum_stages(cfg, dry_run=False)
    if scores is not None:
        from core.curriculum import write_semantic_entropy_jsonl

        write_semantic_entropy_jsonl(run_dir, scores, stage_of)
    with _ray_cluster(cfg, run_dir):
        offset = 0
        for k in range(1, int(select(cfg, "curriculum.stages")) + 1):
            sp = plan(cfg, run_dir, dry_run=False, upto=k)[-1]  # planned per stage: stage k+1 needs k's checkpoint
            claim_checkpoint_dir(sp.ckpt_dir, RunLog(run_dir).run_id)  # verl resumes with torch.load(weights_only=False)
            offset = _train_stage(sp, offset)
            _convert_all(cfg, run_dir)  # train.jsonl is current after every stage
    _evaluate(cfg, run_dir)
    return _write_done(cfg, run_dir)


def node_resources(cfg: DictConfig) -> dict[str, int | None]:
    """What each node of a multi-node run gives its ``ray start``: ``backend.ray_num_cpus`` (else the
    task's ``SLURM_CPUS_PER_TASK``, else Ray's count) and ``backend.n_gpus_per_node`` GPUs (CPU mode: its
    one fake GPU and 16 CPUs, as core.verl.cpu.CPU_SETTINGS gives a one-node run)."""
    cpus = select(cfg, "backend.ray_num_cpus") or os.environ.get("SLURM_CPUS_PER_TASK")
    if device(cfg) == "cpu":
        from core.verl.cpu import CPU_SETTINGS

        return {"num_cpus": int(cpus or CPU_SETTINGS["ray_kwargs.ray_init.num_cpus"]),
                "num_gpus": int(CPU_SETTINGS["+ray_kwargs.ray_init.num_gpus"])}
    return {"num_cpus": int(cpus) if cpus else None, "num_gpus": int(select(cfg, "backend.n_gpus_per_node"))}


class _ray_cluster:
    """Training's Ray cluster for ``backend.nnodes > 1``: on node 0 of the SLURM job the head is started
    here (workers join from their own tasks) and stopped on exit; with ``RAY_ADDRESS`` the running cluster
    is used. ``RAY_ADDRESS`` is set for main_ppo (verl's ``ray.init()`` connects to it) while inside."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.cfg, self.run_dir, self.head, self.saved = cfg, run_dir, None, None

    def __enter__(self):
        nnodes = int(select(self.cfg, "backend.nnodes"))
        if nnodes < 2:
            return None
        from core.verl import ray_cluster, ray_nodes

        r = ray_cluster.role(nnodes)
        env = {}
        if r.kind == "driver":
            self.head = ray_nodes.SlurmHead(r, state_dir=self.run_dir / "verl", **node_resources(self.cfg))
            address = self.head.__enter__()
            env = {**self.head.auth, "RAY_ADDRESS": address}  # main_ppo connects with the job's token
        else:
            address = r.address
            nodes = ray_nodes.alive_nodes(address)
            if len(nodes) < nnodes:
                raise ray_cluster.ClusterError(f"backend.nnodes={nnodes} but the Ray cluster at RAY_ADDRESS={address} "
                                               f"has {len(nodes)} alive node(s)")
        self.saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        return address

    def __exit__(self, *exc):
        if self.head is not None:
            self.head.__exit__(*exc)
        for k, v in (self.saved or {}).items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        return False


def resolve_model_path(cfg: DictConfig, *, build: bool) -> None:
    """``model=tiny_hf`` with an empty ``model.path``: the exported embedded base model (core/verl/tiny.py;
    exported once, cached; ``build=False`` only names the folder)."""
    if select(cfg, "model.name") != "tiny_hf" or select(cfg, "model.path"):
        return
    from omegaconf import open_dict

    from core.verl import tiny as verl_tiny
    from core.embedded.model import ModelSpec

    spec = ModelSpec.from_cfg(select(cfg, "model"))
    path = verl_tiny.export_hf(spec) if build else verl_tiny.hf_model_path(spec)
    with open_dict(cfg):
        cfg.model.path = str(path)


def _require_gpu_stack() -> None:
    missing = [m for m in ("vllm",) if importlib.util.find_spec(m) is None]
    if missing:
        raise ModuleNotFoundError(f"backend=verl needs {', '.join(missing)} (GPU machine: pip install -e .[gpu]; "
                                  "CPU: bash scripts/install_verl_cpu.sh, then run with .venv-verl-cpu/bin/python); "
                                  "use backend.dry_run=true to validate the config without it")


def _train_stage(sp: StagePlan, offset: int) -> int:
    """Launch (or resume) one stage; returns the global step offset for the next stage."""
    marker = sp.stage_dir / "COMPLETE"
    if marker.exists():
        return offset + int(json.loads(marker.read_text())["final_step"])
    sp.stage_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(sp.stage_dir / "offset", str(offset))
    OmegaConf.save(sp.config, sp.stage_dir / "ppo_trainer.yaml")
    env = {**os.environ, **launch_env(sp)}
    cmd = launch_command(sp)
    print(f"[verl] stage {sp.stage}/{sp.stages}: {shell(cmd, launch_env(sp), sp.stage_dir)}", flush=True)
    with open(sp.stage_dir / "main_ppo.log", "ab") as log:
        rc = subprocess.call(cmd, cwd=sp.stage_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    if rc != 0:
        raise RuntimeError(f"verl main_ppo failed (exit {rc}) in stage {sp.stage}; see {sp.stage_dir / 'main_ppo.log'}")
    final = int((sp.ckpt_dir / "latest_checkpointed_iteration.txt").read_text().strip())
    atomic_write(marker, json.dumps({"final_step": final, "offset": offset}))
    return offset + final


def _stage_dirs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "verl").glob("stage*"), key=lambda p: int(p.name[len("stage"):]))


def _convert_all(cfg: DictConfig, run_dir: Path) -> None:
    """All stages' verl logs -> ``train.jsonl`` (rewritten atomically; idempotent)."""
    from core.verl.metrics import convert_files, write_jsonl_atomic

    rows = []
    for d in _stage_dirs(run_dir):
        files = sorted(d.glob("verl_metrics.*.jsonl"), key=lambda p: int(p.name.split(".")[1]))
        offset = int((d / "offset").read_text()) if (d / "offset").exists() else 0
        rows += convert_files(files, stage=int(d.name[len("stage"):]), step_offset=offset,
                              updates_per_step=updates_per_step(cfg))
    write_jsonl_atomic(rows, run_dir / "train.jsonl")
    write_jsonl_atomic(_token_stats_rows(run_dir), run_dir / "token_stats.jsonl")


def _token_stats_rows(run_dir: Path) -> list[dict]:
    """Every stage's ``token_stats.<attempt>.jsonl`` (core/verl/hooks.py): global steps, the stage, and
    for a step logged by several attempts the last attempt's record (as for train.jsonl)."""
    rows = []
    for d in _stage_dirs(run_dir):
        offset = int((d / "offset").read_text()) if (d / "offset").exists() else 0
        by_step: dict[int, dict] = {}
        for f in sorted(d.glob("token_stats.*.jsonl"), key=lambda p: int(p.name.split(".")[1])):
            lines = f.read_text(encoding="utf-8").splitlines()
            for i, line in enumerate(lines):
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    if i == len(lines) - 1:
                        continue  # a torn last line
                    raise
                by_step[int(rec["step"])] = rec
        for step in sorted(by_step):
            rows.append({**by_step[step], "step": offset + step, "stage": int(d.name[len("stage"):])})
    return rows


def _checkpoints(run_dir: Path) -> list[tuple[int, Path]]:
    """``(global step, HF checkpoint dir)`` of every saved checkpoint, across stages."""
    out = []
    for d in _stage_dirs(run_dir):
        offset = int((d / "offset").read_text()) if (d / "offset").exists() else 0
        ckpt_dir = run_dir / "checkpoints" / d.name
        for g in ckpt_dir.glob("global_step_*"):
            hf = g / "actor" / "huggingface"
            if (hf / "config.json").exists():
                out.append((offset + int(g.name.split("_")[-1]), hf))
    return sorted(out)


def _evaluate(cfg: DictConfig, run_dir: Path) -> None:
    """Evaluate the chosen checkpoints (``backend.eval.every``: every N steps; 0 = the final one only;
    ``backend.eval_base``: also step 0 = the base model)."""
    ckpts = _checkpoints(run_dir)
    if not ckpts:
        raise RuntimeError(f"no HF checkpoint under {run_dir / 'checkpoints'} to evaluate")
    every = eval_settings(cfg)["every"]
    chosen = [c for c in ckpts if every and c[0] % every == 0]
    if ckpts[-1] not in chosen:
        chosen.append(ckpts[-1])
    if bool(select(cfg, "backend.eval_base")):
        chosen.insert(0, (0, Path(str(select(cfg, "model.path")))))
    marks = run_dir / "verl" / "eval_done"
    marks.mkdir(parents=True, exist_ok=True)
    for step, path in chosen:
        if (marks / str(step)).exists():
            continue
        cmd = eval_command(cfg, str(path), run_dir, step)
        print(f"[verl] evaluate step {step}: {shell(cmd)}", flush=True)
        with open(run_dir / "verl" / "evaluate.log", "ab") as log:
            rc = subprocess.call(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 env={**os.environ, **eval_env(cfg), "PYTHONPATH": pythonpath()})
        if rc != 0:
            raise RuntimeError(f"evaluation of step {step} failed (exit {rc}); see {run_dir / 'verl' / 'evaluate.log'}")
        (marks / str(step)).write_text("")


def _write_config_and_meta(cfg: DictConfig, run_dir: Path) -> None:
    from core.runlog import RunLog

    method = method_of(cfg)
    log = RunLog(run_dir)
    # config.yaml's `eval` is the evaluation this run performs (analysis reads eval.n / eval.k from it); the
    # composed top-level `eval` block is the embedded backend's and stays untouched in `cfg`
    log.write_config({**OmegaConf.to_container(cfg, resolve=True), "eval": eval_settings(cfg)})
    log.write_meta(method=method.name, method_version=method.version, seed=int(select(cfg, "seed")),
                   backend="verl", model=str(select(cfg, "model.name")),
                   curriculum=str(select(cfg, "curriculum.name")),
                   curriculum_stages=int(select(cfg, "curriculum.stages")),
                   extra={"versions_gpu": _gpu_versions()})


def _gpu_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("vllm", "flash-attn", "TransferQueue"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _write_done(cfg: DictConfig, run_dir: Path) -> dict:
    from core.runlog import RunLog

    rows = [json.loads(line) for line in (run_dir / "train.jsonl").read_text().splitlines() if line.strip()]
    summary_path = run_dir / "eval_summary.json"
    evals = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    last_eval = evals[max(evals, key=int)]["summary"] if evals else {}
    summary = {"steps": rows[-1]["step"] if rows else 0,
               "final": {k: v for k, v in (rows[-1] if rows else {}).items() if not k.startswith("verl/")},
               "eval": last_eval}
    RunLog(run_dir).write_done(summary)
    return json.loads((run_dir / "DONE").read_text())
