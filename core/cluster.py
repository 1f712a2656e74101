"""The SLURM launcher of the sweeps (``hydra/launcher=slurm``, ``sweeps/hydra/launcher/slurm.yaml``).

``hydra_plugins.sent_harness_launcher.HarnessSlurmLauncher`` (Hydra only loads launchers from the
``hydra_plugins`` namespace) is hydra-submitit-launcher's ``SlurmLauncher`` plus
:class:`PreflightMixin` from here: checks that run
on the submitting machine *before* anything is submitted, so a bad sweep fails in seconds with one
clear message instead of as a job array of failures:

- SLURM is installed here (``sbatch`` on PATH);
- ``hydra.launcher.partition`` is set and names an existing partition;
- no GPUs are requested for ``backend=embedded`` jobs (they run on CPU);
- every ``backend=verl`` job has a valid verl-backend config (model, method, layout:
  :func:`core.verl.config.check`, no verl import);
- nodes per run: ``backend.nnodes`` for verl (one job of N nodes; core/verl/ray_cluster.py forms the Ray
  cluster inside it), 1 for embedded; the partition has that many nodes with the GPUs asked per node;
- finished runs (``DONE`` in their run directory) are not submitted again.

Requeue and resume: a job that receives SIGUSR2 (preemption, ``scontrol requeue`` by submitit, or the
time limit approaching: ``signal_delay_s``) is checkpointed by submitit, which re-submits the same
Hydra job (``checkpoint`` returns the same call); the re-run job resumes from the run's own
checkpoint (the embedded trainer and the verl backend both do). ``max_num_timeout`` in slurm.yaml
allows that many time-limit requeues.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from pathlib import Path
from typing import Any, Sequence

from hydra.core.utils import JobReturn, JobStatus
from omegaconf import DictConfig, OmegaConf

__all__ = ["PreflightMixin", "LaunchError", "preflight", "job_run_dir", "slurm_partitions", "partition_nodes", "gres_gpus"]

log = logging.getLogger(__name__)


class LaunchError(RuntimeError):
    """A sweep that must not be submitted (raised before any sbatch call)."""


def slurm_partitions() -> list[str]:
    """Partition names ``sinfo`` reports (default partition's ``*`` removed)."""
    out = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise LaunchError(f"sinfo failed (exit {out.returncode}): {out.stderr.strip()}; is slurmctld reachable?")
    return sorted({line.strip().rstrip("*") for line in out.stdout.splitlines() if line.strip()})


def gres_gpus(gres: str) -> int:
    """GPUs in a node's ``sinfo %G`` string: ``gpu:8``, ``gpu:a100:4(S:0-1)``, ``gpu:2,shard:8`` -> 8, 4, 2."""
    n = 0
    for item in str(gres or "").split(","):
        item = item.split("(")[0].strip()
        if item.startswith("gpu:") and item.rsplit(":", 1)[-1].isdigit():
            n += int(item.rsplit(":", 1)[-1])
    return n


def partition_nodes(partition: str) -> dict[str, int]:
    """``{node: GPUs}`` of a partition (``sinfo -N``; a node listed twice, e.g. in two states, once)."""
    out = subprocess.run(["sinfo", "-h", "-N", "-p", partition, "-o", "%N %G"], capture_output=True, text=True,
                         timeout=30)
    if out.returncode != 0:
        raise LaunchError(f"sinfo failed (exit {out.returncode}): {out.stderr.strip()}; is slurmctld reachable?")
    nodes: dict[str, int] = {}
    for line in out.stdout.splitlines():
        parts = line.split(None, 1)
        if parts:
            nodes[parts[0]] = max(nodes.get(parts[0], 0), gres_gpus(parts[1] if len(parts) > 1 else ""))
    return nodes


def _node_problems(params: dict, job_cfgs: Sequence[DictConfig], check_partitions: bool) -> list[str]:
    """Nodes per run against the jobs and the partition: a verl run asks for backend.nnodes nodes, an
    embedded run for one, and the partition must have that many nodes with the GPUs asked per node."""
    problems = []
    nodes = int(params.get("nodes") or 1)
    for cfg in job_cfgs:
        label = _sel(cfg, "hydra.job.override_dirname") or "default"
        want = int(_sel(cfg, "backend.nnodes", 1) or 1) if _sel(cfg, "backend.name") == "verl" else 1
        if want != nodes:
            problems.append(f"job {label!r}: the launcher asks for {nodes} node(s) per run but the run needs {want} "
                            f"(backend.nnodes); leave hydra.launcher.nodes at its default (backend.nnodes)")
    partition = params.get("partition")
    if not (check_partitions and partition):
        return problems
    have = partition_nodes(partition)
    gpus = _gpus_requested(params)
    if nodes > len(have):
        problems.append(f"{nodes} nodes per run but partition {partition!r} has {len(have)}; lower backend.nnodes "
                        "or use a bigger partition")
    elif gpus:
        enough = [n for n, g in have.items() if g >= gpus]
        if len(enough) < nodes:
            problems.append(f"{nodes} node(s) with {gpus} GPUs each per run but partition {partition!r} has "
                            f"{len(enough)} such node(s) (GPUs per node: {max(have.values(), default=0)} at most); "
                            "lower backend.n_gpus_per_node (and the model layout) or backend.nnodes")
    return problems


def _sel(cfg: Any, key: str, default: Any = None) -> Any:
    v = OmegaConf.select(cfg, key, default=default)
    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def job_run_dir(job_cfg: DictConfig) -> Path:
    """The run directory a job will write: the run-log contract's one rule (:func:`core.config.run_dir`)."""
    from core.config import run_dir

    return Path(run_dir(job_cfg))


def _gpus_requested(params: dict) -> int:
    n = int(params.get("gpus_per_node") or 0) + int(params.get("gpus_per_task") or 0)
    gres = str(params.get("gres") or "")
    if gres.startswith("gpu"):
        n += int(gres.rsplit(":", 1)[-1]) if gres.rsplit(":", 1)[-1].isdigit() else 1
    return n


def preflight(params: dict, job_cfgs: Sequence[DictConfig], *, check_partitions: bool = True) -> None:
    """Every check that must pass before submission; raises one :class:`LaunchError` listing problems."""
    if shutil.which("sbatch") is None:
        raise LaunchError("hydra/launcher=slurm but SLURM is not installed on this machine (no `sbatch` on PATH). "
                          "Submit from a SLURM login node, or run locally: drop hydra/launcher=slurm (one job at a "
                          "time) or use hydra/launcher=submitit_local (parallel local processes).")
    problems, names = [], []
    partition = params.get("partition")
    if not partition:
        problems.append("hydra.launcher.partition is not set; pass hydra.launcher.partition=<name> "
                        "(`sinfo -s` lists the partitions)")
    elif check_partitions:
        names = slurm_partitions()
        if partition not in names:
            problems.append(f"partition {partition!r} does not exist here; available: {', '.join(names) or 'none'}")
    gpus = _gpus_requested(params)
    for cfg in job_cfgs:
        backend = _sel(cfg, "backend.name")
        label = _sel(cfg, "hydra.job.override_dirname") or "default"
        if backend == "embedded" and gpus > 0:
            problems.append(f"{gpus} GPU(s) requested (hydra.launcher.gpus_per_node/gres) for backend=embedded, "
                            "which runs on CPU; set hydra.launcher.gpus_per_node=0, or use backend=verl")
        elif backend == "verl":
            from core.verl.config import check
            from methods import ConfigError

            try:
                check(cfg)
            except ConfigError as e:
                problems.append(f"job {label!r}: {e}")
            if not _sel(cfg, "backend.dry_run", False) and gpus < int(_sel(cfg, "backend.n_gpus_per_node", 1)):
                problems.append(f"job {label!r}: backend.n_gpus_per_node={_sel(cfg, 'backend.n_gpus_per_node')} "
                                f"but the launcher requests {gpus} GPU(s); set hydra.launcher.gpus_per_node")
    problems += _node_problems(params, job_cfgs, bool(check_partitions and partition in names))
    if problems:
        # one message; de-duplicated (a grid repeats the same problem per job)
        raise LaunchError("not submitted:\n  - " + "\n  - ".join(dict.fromkeys(problems)))


class PreflightMixin:
    """Put before a submitit launcher class: :func:`preflight`, then submit only unfinished runs."""

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        assert self.config is not None and self.hydra_context is not None
        loader = self.hydra_context.config_loader
        job_cfgs = [loader.load_sweep_config(self.config, list(o)) for o in job_overrides]
        preflight(self.params, job_cfgs)
        todo, skipped = [], []
        for overrides, cfg in zip(job_overrides, job_cfgs):
            run_dir = job_run_dir(cfg)
            if (run_dir / "DONE").exists():
                log.info(f"skip (DONE present): {run_dir}")
                skipped.append(_skipped_return(cfg, run_dir))
            else:
                todo.append(overrides)
        if skipped:
            log.info(f"{len(skipped)} of {len(job_overrides)} runs are finished and not submitted")
        results = list(super().launch(todo, initial_job_idx)) if todo else []
        return results + skipped


def _skipped_return(cfg: DictConfig, run_dir: Path) -> JobReturn:
    ret = JobReturn()
    ret.cfg = cfg
    ret.overrides = list(_sel(cfg, "hydra.overrides.task", []) or [])
    ret.status = JobStatus.COMPLETED
    ret.return_value = {"skipped": True, "run_dir": str(run_dir)}
    return ret
