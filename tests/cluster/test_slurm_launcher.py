"""The SLURM launcher's pre-submission checks (no SLURM needed; tests/slurm/ci_slurm.sh runs a real one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from core import cluster
from tests.cluster.conftest import make_cfg

ROOT = Path(__file__).resolve().parents[2]


def _embedded_job(label="seed=0"):
    return OmegaConf.create({"backend": {"name": "embedded"}, "hydra": {"job": {"override_dirname": label}}})


@pytest.fixture
def fake_slurm(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: "/usr/bin/" + name)
    monkeypatch.setattr(cluster, "slurm_partitions", lambda: ["debug", "gpu"])
    # debug: one CPU node; gpu: four 8-GPU nodes and one 4-GPU node
    nodes = {"debug": {"localhost": 0}, "gpu": {"gpu01": 8, "gpu02": 8, "gpu03": 8, "gpu07": 8, "small": 4}}
    monkeypatch.setattr(cluster, "partition_nodes", lambda p: nodes[p])


def test_no_slurm_on_the_machine(monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(cluster.LaunchError, match="SLURM is not installed.*no `sbatch`.*submitit_local"):
        cluster.preflight({"partition": "debug"}, [_embedded_job()])


def test_missing_partition(fake_slurm):
    with pytest.raises(cluster.LaunchError, match="hydra.launcher.partition is not set"):
        cluster.preflight({"partition": None}, [_embedded_job()])


def test_unknown_partition_lists_the_real_ones(fake_slurm):
    with pytest.raises(cluster.LaunchError, match="partition 'gpus' does not exist here; available: debug, gpu"):
        cluster.preflight({"partition": "gpus"}, [_embedded_job()])


@pytest.mark.parametrize("params", [{"gpus_per_node": 1}, {"gres": "gpu:2"}, {"gpus_per_task": 1}])
def test_gpus_for_the_embedded_backend(fake_slurm, params):
    with pytest.raises(cluster.LaunchError, match=r"GPU\(s\) requested .* for backend=embedded") as e:
        cluster.preflight({"partition": "debug", **params}, [_embedded_job("seed=0"), _embedded_job("seed=1")])
    assert str(e.value).count("backend=embedded") == 1  # one message for the whole grid


def test_embedded_on_cpu_passes(fake_slurm):
    cluster.preflight({"partition": "debug", "gpus_per_node": 0}, [_embedded_job()])


def test_verl_job_with_an_unknown_model(fake_slurm):
    cfg = make_cfg()
    cfg.model = {"name": "tiny", "path": "x", "epochs": 1}
    with pytest.raises(cluster.LaunchError, match="model='tiny' is not a verl-backend model"):
        cluster.preflight({"partition": "gpu", "gpus_per_node": 8}, [cfg])


def test_verl_job_needs_its_gpus(fake_slurm):
    with pytest.raises(cluster.LaunchError, match="n_gpus_per_node=8 but the launcher requests 0"):
        cluster.preflight({"partition": "gpu", "gpus_per_node": 0}, [make_cfg()])
    cluster.preflight({"partition": "gpu", "gpus_per_node": 8}, [make_cfg()])


def test_launcher_config_composes_with_backend_resources(tmp_path):
    """slurm.yaml: the plugin schema + our target, resources taken from backend.slurm.*."""
    from hydra import compose, initialize_config_dir

    conf = tmp_path / "conf"
    (conf / "backend").mkdir(parents=True)
    (conf / "app.yaml").write_text("defaults:\n  - backend: verl\n  - _self_\nhydra:\n  searchpath:\n"
                                   f"    - file://{ROOT / 'sweeps'}\n")
    (conf / "backend" / "verl.yaml").write_text((ROOT / "sweeps" / "backend" / "verl.yaml").read_text())
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("app", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_ == "hydra_plugins.sent_harness_launcher.HarnessSlurmLauncher"
    assert launcher.partition == "gpu"
    assert launcher.gpus_per_node == 8 and launcher.cpus_per_task == 64 and launcher.mem_gb == 512
    assert launcher.max_num_timeout >= 1 and launcher.additional_parameters.requeue is True
    assert launcher.nodes == 1 and launcher.tasks_per_node == 1
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = compose("app", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu", "backend.nnodes=4"],
                      return_hydra_config=True)
    assert cfg.hydra.launcher.nodes == 4 and cfg.hydra.launcher.tasks_per_node == 1  # one job of N nodes per run


def _nodes(cfg, n):
    cfg.backend.nnodes = n
    return cfg


def test_multinode_run_fits_the_partition(fake_slurm):
    cluster.preflight({"partition": "gpu", "gpus_per_node": 8, "nodes": 4}, [_nodes(make_cfg(), 4)])


def test_more_nodes_than_the_partition_has(fake_slurm):
    with pytest.raises(cluster.LaunchError, match="8 nodes per run but partition 'gpu' has 5; lower backend.nnodes"):
        cluster.preflight({"partition": "gpu", "gpus_per_node": 8, "nodes": 8}, [_nodes(make_cfg(), 8)])


def test_not_enough_nodes_with_the_gpus_asked(fake_slurm):
    with pytest.raises(cluster.LaunchError, match=r"5 node\(s\) with 8 GPUs each per run but partition 'gpu' has 4 "):
        cluster.preflight({"partition": "gpu", "gpus_per_node": 8, "nodes": 5}, [_nodes(make_cfg(), 5)])


def test_launcher_nodes_must_match_the_run(fake_slurm):
    with pytest.raises(cluster.LaunchError, match=r"asks for 1 node\(s\) per run but the run needs 2"):
        cluster.preflight({"partition": "gpu", "gpus_per_node": 8, "nodes": 1}, [_nodes(make_cfg(), 2)])
    with pytest.raises(cluster.LaunchError, match=r"asks for 2 node\(s\) per run but the run needs 1"):
        cluster.preflight({"partition": "debug", "gpus_per_node": 0, "nodes": 2}, [_embedded_job()])


def test_gpus_per_node_against_the_model_layout(fake_slurm):
    cfg = _nodes(make_cfg(), 2)
    cfg.backend.n_gpus_per_node = 6  # 2048 rollouts per step over 12 GPUs
    cfg.backend.slurm.gpus_per_node = 6
    with pytest.raises(cluster.LaunchError) as e:
        cluster.preflight({"partition": "gpu", "gpus_per_node": 6, "nodes": 2}, [cfg])
    assert "2048 sequences per step do not split over 12 GPUs" in str(e.value)
    assert "mini-batch of 1024 sequences does not split over 12 GPUs" in str(e.value)


@pytest.mark.parametrize("gres, gpus", [("gpu:8", 8), ("gpu:a100:4(S:0-1)", 4), ("gpu:2,shard:8", 2),
                                        ("(null)", 0), ("", 0), ("gpu:h100:8,gpu:a100:2", 10)])
def test_gres_gpus(gres, gpus):
    assert cluster.gres_gpus(gres) == gpus


def test_launcher_plugin_is_discoverable():
    from hydra.core.plugins import Plugins
    from hydra.plugins.launcher import Launcher

    names = {f"{p.__module__}.{p.__name__}" for p in Plugins.instance().discover(Launcher)}
    assert "hydra_plugins.sent_harness_launcher.HarnessSlurmLauncher" in names
