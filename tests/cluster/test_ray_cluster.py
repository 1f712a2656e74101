"""Multi-node runs (core/verl/ray_cluster.py, core/verl/ray_nodes.py): SLURM node lists, the role of each task, port blocks, the
``ray start`` commands, layout checks and the verl settings of ``backend.nnodes > 1``. No SLURM or
Ray cluster needed; tests/verl_e2e/test_two_nodes.py runs the real engine on two Ray nodes."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys

import pytest

from core.verl import ray_cluster as rc
from core.verl import ray_nodes as rn


# ---------------------------------------------------------------------------------------------
# node lists
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, hosts", [
    ("gpu[01-03,07]", ["gpu01", "gpu02", "gpu03", "gpu07"]),
    ("node7", ["node7"]),
    ("n[8-10]", ["n8", "n9", "n10"]),                       # no padding unless the lower bound has it
    ("gpu[098-101]", ["gpu098", "gpu099", "gpu100", "gpu101"]),
    ("a[1-2]-ib[3,5],login", ["a1-ib3", "a1-ib5", "a2-ib3", "a2-ib5", "login"]),
    ("gpu[01-02],cpu[1-2],big", ["gpu01", "gpu02", "cpu1", "cpu2", "big"]),
    ("rack1-[001-002]", ["rack1-001", "rack1-002"]),
    (" gpu[1,3] ", ["gpu1", "gpu3"]),
])
def test_parse_nodelist(text, hosts):
    assert rc.parse_nodelist(text) == hosts


@pytest.mark.parametrize("text", ["", "gpu[01-03", "gpu]1", "gpu[a-b]", "gpu[3-1]", "a,,b", "gpu[1-2,]", ","])
def test_parse_nodelist_refuses_malformed_lists(text):
    with pytest.raises(ValueError, match="SLURM node list"):
        rc.parse_nodelist(text)


@pytest.mark.parametrize("text", ["gpu[01-03,07]", "n[8-10]", "gpu[01-02],cpu[1-2],big", "rack1-[001-002]"])
def test_parse_nodelist_agrees_with_submitit(text):
    """submitit's own parser (an independent implementation) on the forms both handle."""
    from submitit.slurm.slurm import _parse_node_list

    assert rc.parse_nodelist(text) == _parse_node_list(text)


@pytest.mark.skipif(shutil.which("scontrol") is None, reason="SLURM's scontrol not installed")
@pytest.mark.parametrize("text", ["gpu[01-03,07]", "a[1-2]-ib[3,5],login", "n[8-10]"])
def test_parse_nodelist_agrees_with_scontrol(text):
    out = subprocess.run(["scontrol", "show", "hostnames", text], capture_output=True, text=True, check=True)
    assert rc.parse_nodelist(text) == out.stdout.split()


def test_job_hostnames_checks_the_node_count(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)  # no scontrol: the parser
    env = {"SLURM_JOB_NODELIST": "gpu[01-03,07]", "SLURM_JOB_NUM_NODES": "4"}
    assert rc.job_hostnames(env) == ["gpu01", "gpu02", "gpu03", "gpu07"]
    with pytest.raises(rc.ClusterError, match="names 4 host.*SLURM_JOB_NUM_NODES=3"):
        rc.job_hostnames({**env, "SLURM_JOB_NUM_NODES": "3"})
    with pytest.raises(rc.ClusterError, match="not inside a SLURM job"):
        rc.job_hostnames({})


# ---------------------------------------------------------------------------------------------
# the role of each task
# ---------------------------------------------------------------------------------------------

def _job(node: int, **extra) -> dict:
    return {"SLURM_JOB_ID": "4242", "SLURM_JOB_NODELIST": "gpu[01-02]", "SLURM_JOB_NUM_NODES": "2",
            "SLURM_NTASKS": "2", "SLURM_NODEID": str(node), "SLURM_PROCID": str(node), **extra}


def test_role_in_a_two_node_job(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    head, worker = rc.role(2, _job(0)), rc.role(2, _job(1))
    assert (head.kind, head.node_rank, head.hosts) == ("driver", 0, ("gpu01", "gpu02"))
    assert (worker.kind, worker.node_rank) == ("worker", 1)
    assert rc.role(1, _job(1)).kind == "single"  # one node: nothing to form
    assert rc.role(2, {"RAY_ADDRESS": "10.0.0.1:6379"}).address == "10.0.0.1:6379"


def test_role_refuses_what_cannot_form_the_cluster(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(rc.ClusterError, match="needs a Ray cluster of 2 nodes: submit with hydra/launcher=slurm"):
        rc.role(2, {})
    with pytest.raises(rc.ClusterError, match="backend.nnodes=3 but this SLURM job holds 2 node"):
        rc.role(3, _job(0))
    with pytest.raises(rc.ClusterError, match="one task per node, this job has 4 task"):
        rc.role(2, _job(0, SLURM_NTASKS="4"))


# ---------------------------------------------------------------------------------------------
# ports and commands
# ---------------------------------------------------------------------------------------------

def test_port_blocks_are_per_job_and_node():
    a, b = rc.choose_ports("1001", is_free=lambda p: True), rc.choose_ports("1002", is_free=lambda p: True)
    assert a == rc.choose_ports("1001", is_free=lambda p: True)          # the same job: the same block
    assert set(a.all()).isdisjoint(b.all())                                # two runs: different blocks
    worker = rc.choose_ports("1001", offset=1, is_free=lambda p: True)
    assert set(a.all()).isdisjoint(worker.all())                          # two nodes of one run on one host
    for p in (a, b, worker):
        assert rc.PORT_BASE <= p.base and p.base + p.SIZE <= 32768          # below the ephemeral range


def test_a_busy_block_is_skipped():
    first = rc.choose_ports("77", is_free=lambda p: True)
    busy = set(first.all())
    moved = rc.choose_ports("77", is_free=lambda p: p not in busy)
    assert moved.base == first.base + first.SIZE or moved.base == rc.PORT_BASE
    with pytest.raises(rc.ClusterError, match="no free block"):
        rc.choose_ports("77", is_free=lambda p: False, tries=3)


def test_a_port_in_use_here_is_seen():
    with socket.socket() as s:
        s.bind(("", 0))
        s.listen()
        port = s.getsockname()[1]
        assert not rc.port_free(port)
    assert rc.port_free(port)


def test_ray_start_commands():
    ports = rc.RayPorts(24000)
    head = rc.head_command(ports, node_ip="10.0.0.1", num_cpus=64, num_gpus=8)
    n = len(rc.ray_cli())
    assert head[:n] == [sys.executable, "-m", "ray.scripts.scripts"]  # this interpreter: Ray's workers use it
    assert head[n:n + 3] == ["start", "--head", "--block"] and "--port=24000" in head
    assert {"--node-ip-address=10.0.0.1", "--num-cpus=64", "--num-gpus=8", "--include-dashboard=false"} <= set(head)
    worker = rc.worker_command("10.0.0.1:24000", rc.RayPorts(24008), node_ip="10.0.0.2", num_cpus=None, num_gpus=8)
    assert "--address=10.0.0.1:24000" in worker and "--head" not in worker and "--port=24008" not in worker
    assert not any(a.startswith("--num-cpus") for a in worker)  # unset: Ray counts the node's CPUs
    used = [int(a.split("=")[1]) for a in head if a.split("=")[0].endswith("port")]
    assert sorted(used) == list(ports.all())                     # every fixed port inside the block, none twice


def test_ray_start_knows_every_flag():
    """The flags we pass exist in this Ray's ``ray start`` (its own CLI, not our list)."""
    out = subprocess.run([*rc.ray_cli(), "start", "--help"], capture_output=True, text=True, timeout=120)
    flags = {a.split("=")[0] for a in rc.head_command(rc.RayPorts(24000), node_ip="1.2.3.4", num_cpus=1, num_gpus=1)
             + rc.worker_command("a:1", rc.RayPorts(24008), node_ip="1.2.3.4", num_cpus=1, num_gpus=1)
             if a.startswith("--")}
    missing = [f for f in flags if f not in out.stdout]
    assert not missing, missing


# ---------------------------------------------------------------------------------------------
# layout
# ---------------------------------------------------------------------------------------------

PAPER_LAYOUT = dict(train_batch_size=256, ppo_mini_batch_size=128, rollout_n=8)


@pytest.mark.parametrize("nnodes", [1, 2, 4, 8])
def test_paper_batch_splits_over_whole_nodes(nnodes):
    assert rc.layout_problems(nnodes=nnodes, n_gpus_per_node=8, rollout_tp=2, **PAPER_LAYOUT) == []


def test_impossible_layouts_are_named():
    out = rc.layout_problems(nnodes=3, n_gpus_per_node=8, rollout_tp=3, **PAPER_LAYOUT)
    assert len(out) == 3, out
    assert "rollout_tp=3 must divide backend.n_gpus_per_node=8" in out[0]
    assert "2048 sequences per step do not split over 24 GPUs" in out[1]
    assert "mini-batch of 1024 sequences does not split over 24 GPUs" in out[2]


def test_layout_agrees_with_verls_validate_config():
    """verl's own validate_config on the composed config: refuses 3 x 8 GPUs for the paper batch, as we do."""
    from tests.cluster.conftest import make_cfg
    from core.verl import compose as vcomp, config as vconf
    from methods import ConfigError

    cfg = make_cfg()
    cfg.backend.nnodes = 3
    with pytest.raises(ConfigError, match="do not split over 24 GPUs"):
        vconf.check(cfg)
    settings = vconf.verl_settings(cfg, run_name="r", sweep_name="s", train_file=_p("t.parquet"),
                                   val_files=[], model_path="m", ckpt_dir=_p("c"), logger_path=_p("l/x.jsonl"))
    with pytest.raises(AssertionError, match="real_train_batch_size"):
        vcomp.validate_verl_config(vcomp.compose_verl_config(settings))
    cfg.backend.nnodes = 2
    vconf.check(cfg)
    settings = vconf.verl_settings(cfg, run_name="r", sweep_name="s", train_file=_p("t.parquet"),
                                   val_files=[], model_path="m", ckpt_dir=_p("c"), logger_path=_p("l/x.jsonl"))
    vcfg = vcomp.compose_verl_config(settings)
    vcomp.validate_verl_config(vcfg)
    assert vcfg.trainer.nnodes == 2 and vcfg.ray_kwargs.ray_init.num_cpus is None


def _p(name):
    from pathlib import Path

    return Path("/tmp/sent-harness-test") / name


def test_multinode_settings_leave_resources_to_ray_start(monkeypatch):
    """Connecting to a running cluster, Ray refuses num_cpus/num_gpus: CPU mode's one-node values go to
    each node's ``ray start`` instead."""
    from tests.cluster.conftest import make_cfg
    from core.verl import backend as verl_backend, config as vconf

    monkeypatch.setattr("core.verl.cpu.cuda_available", lambda: False)
    cfg = make_cfg()
    cfg.backend.device = "cpu"
    one = vconf.verl_settings(cfg, run_name="r", sweep_name="s", train_file=_p("t"), val_files=[],
                              model_path="m", ckpt_dir=_p("c"), logger_path=_p("l/x.jsonl"))
    assert one["+ray_kwargs.ray_init.num_gpus"] == 1 and one["ray_kwargs.ray_init.num_cpus"] == 16
    cfg.backend.nnodes = 2
    two = vconf.verl_settings(cfg, run_name="r", sweep_name="s", train_file=_p("t"), val_files=[],
                              model_path="m", ckpt_dir=_p("c"), logger_path=_p("l/x.jsonl"))
    assert one["+ray_kwargs.ray_init.address"] == "local"  # one node: always a fresh local cluster
    assert "+ray_kwargs.ray_init.num_gpus" not in two and two["ray_kwargs.ray_init.num_cpus"] is None
    assert "+ray_kwargs.ray_init.address" not in two  # ray.init() connects to RAY_ADDRESS (the job's cluster)
    assert two["trainer.nnodes"] == 2
    assert verl_backend.node_resources(cfg) == {"num_cpus": 16, "num_gpus": 1}
    cfg.backend.device = "cuda"
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "48")
    assert verl_backend.node_resources(cfg) == {"num_cpus": 48, "num_gpus": cfg.backend.n_gpus_per_node}


def test_worker_waits_for_its_own_attempts_head(tmp_path, monkeypatch):
    """A worker never joins a stale head (an earlier attempt of a requeued job) and gives up with a
    clear error when no head of its attempt appears."""
    rn._write_json(tmp_path / rn.HEAD_FILE, {"job_id": "5", "restart": 0, "address": "x:1", "state": "running"})
    r = rc.Role("worker", node_rank=1, hosts=("a", "b"))
    with pytest.raises(rc.ClusterError, match=r"no Ray head of job 5 \(restart 1\)"):
        rn.run_worker(r, state_dir=tmp_path, num_cpus=1, num_gpus=0, timeout=0.5, poll=0.1,
                      env={"SLURM_JOB_ID": "5", "SLURM_RESTART_COUNT": "1"})


def test_node_group_stop_ends_every_process_it_started(tmp_path):
    """RayNode.stop: SIGTERM then SIGKILL to its own process group, grandchildren included."""
    code = "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); " \
           "time.sleep(300)"
    node = rn.RayNode([sys.executable, "-c", code], log=tmp_path / "n.log")
    import psutil
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not psutil.Process(node.proc.pid).children():
        time.sleep(0.1)
    child = psutil.Process(node.proc.pid).children()[0]
    node.stop(grace=5)
    assert not node.alive()
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE


def test_describe_prints_each_nodes_ray_start(monkeypatch):
    """``python -m core.verl.ray_cluster`` inside an allocation: hosts, roles and commands from the node list."""
    monkeypatch.setattr(shutil, "which", lambda name: None)
    monkeypatch.setattr(rc, "node_ip", lambda host=None: {"gpu01": "10.0.0.1", "gpu02": "10.0.0.2"}[host])
    monkeypatch.setattr(rc, "port_free", lambda p, host="": True)
    out = rc.describe(env={"SLURM_JOB_ID": "31", "SLURM_JOB_NODELIST": "gpu[01-02]", "SLURM_JOB_NUM_NODES": "2"},
                      num_gpus=8).splitlines()
    head = rc.choose_ports("31", is_free=lambda p: True)
    assert out[1].startswith("node 0 gpu01 (head + verl driver): ") and f"--port={head.gcs}" in out[1]
    assert out[2].startswith("node 1 gpu02 (worker): ") and f"--address=10.0.0.1:{head.gcs}" in out[2]
    assert "--node-ip-address=10.0.0.2" in out[2] and "--num-gpus=8" in out[2]
    with pytest.raises(rc.ClusterError, match="backend.nnodes=3 but this allocation holds 2"):
        rc.describe(3, env={"SLURM_JOB_ID": "31", "SLURM_JOB_NODELIST": "gpu[01-02]"})


def test_training_sees_the_job_cluster_and_the_head_stops_after(monkeypatch, tmp_path):
    """core.verl.backend._ray_cluster: node 0 starts the head, main_ppo's environment gets RAY_ADDRESS and the
    job's token while training, the head is stopped and the environment restored afterwards (also on error)."""
    from tests.cluster.conftest import make_cfg
    from core.verl import backend as verl_backend

    calls = []

    class FakeHead:
        def __init__(self, r, *, state_dir, num_cpus, num_gpus):
            calls.append(("start", r.kind, state_dir, num_cpus, num_gpus))
            self.auth = rn.auth_env(state_dir / "tok")

        def __enter__(self):
            return "10.0.0.1:20000"

        def __exit__(self, *exc):
            calls.append(("stop",))

    monkeypatch.setattr(rn, "SlurmHead", FakeHead)
    monkeypatch.setattr(shutil, "which", lambda name: None)
    for k, v in _job(0).items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    cfg = make_cfg()
    cfg.backend.nnodes = 2
    with pytest.raises(RuntimeError, match="boom"):
        with verl_backend._ray_cluster(cfg, tmp_path) as address:
            import os

            assert address == os.environ["RAY_ADDRESS"] == "10.0.0.1:20000"
            assert os.environ["RAY_AUTH_MODE"] == "token"
            raise RuntimeError("boom")
    import os

    assert calls == [("start", "driver", tmp_path / "verl", None, 8), ("stop",)]
    assert "RAY_ADDRESS" not in os.environ and "RAY_AUTH_MODE" not in os.environ


def test_an_external_cluster_must_have_the_nodes(monkeypatch, tmp_path):
    from tests.cluster.conftest import make_cfg
    from core.verl import backend as verl_backend

    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.9:6379")
    monkeypatch.setattr(rn, "alive_nodes", lambda address, *a, **k: [{"NodeID": "a"}])
    cfg = make_cfg()
    cfg.backend.nnodes = 2
    with pytest.raises(rc.ClusterError, match="backend.nnodes=2 but the Ray cluster at RAY_ADDRESS=10.0.0.9:6379 has 1"):
        with verl_backend._ray_cluster(cfg, tmp_path):
            pass
