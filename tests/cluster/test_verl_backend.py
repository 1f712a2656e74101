"""backend=verl: composing and validating verl 0.9.1's own ppo_trainer config, on CPU.

The every-pair test runs the dry-run plan (compose verl's packaged config through Hydra, apply
our overrides, instantiate the actor config dataclass with the method, run verl's validate_config
and core.loss.validate_actor_config) for every registered method x every paper model. Expected
values are written out from SENT Table X, not read from the code under test.
"""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from methods import REGISTRY, ConfigError, build_method
from tests.cluster.conftest import VERL_MODELS, make_cfg

vb = pytest.importorskip("core.verl.backend")
vc = pytest.importorskip("core.verl.config")
vs = pytest.importorskip("core.verl.stages")
vcmd = pytest.importorskip("core.verl.commands")
vcomp = pytest.importorskip("core.verl.compose")

#: SENT Table X, per model: epochs (5 for 1.5B, 3 for 7B and 14B)
TABLE_X_EPOCHS = {"r1_distill_qwen_1p5b": 5, "qwen2p5_math_7b": 3, "qwen3_14b": 3}
TABLE_X_HF = {"r1_distill_qwen_1p5b": "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B",
              "qwen2p5_math_7b": "Qwen/Qwen2.5-Math-7B", "qwen3_14b": "Qwen/Qwen3-14B"}


def test_model_group_matches_the_backend():
    assert set(VERL_MODELS) == set(vc.VERL_MODELS) == set(TABLE_X_EPOCHS)


@pytest.mark.parametrize("model", VERL_MODELS)
@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_dry_run_plan_every_method_and_model(method, model, tmp_path):
    cfg = make_cfg(model, method, runs_root=str(tmp_path))
    plans = vs.plan(cfg, tmp_path / "run", dry_run=True)
    assert len(plans) == 1
    v = plans[0].config
    a = v.actor_rollout_ref.actor
    m = build_method(method, {})
    # SENT Table X shared settings
    assert a.optim.lr == 1e-6
    assert v.data.train_batch_size == 256 and a.ppo_mini_batch_size == 128
    assert v.actor_rollout_ref.rollout.n == 8
    assert v.actor_rollout_ref.rollout.temperature == 1.0 and v.actor_rollout_ref.rollout.top_p == 1.0
    assert v.actor_rollout_ref.rollout.top_k == -1
    assert v.data.max_response_length == 2048
    assert v.trainer.total_epochs == TABLE_X_EPOCHS[model]
    assert v.actor_rollout_ref.model.path == TABLE_X_HF[model]
    assert v.algorithm.adv_estimator == "grpo"
    # the harness loss owns the coefficients
    assert a.entropy_coeff == 0 and a.kl_loss_coef == 0
    assert a.use_kl_loss is m.requires_ref()
    assert a.calculate_entropy is True
    # entropy with grad in every update: chunked and recomputed in the backward (no full [tokens, V] copy)
    assert a.entropy_from_logits_with_chunking is True and a.entropy_checkpointing is True
    assert a.entropy_from_logits_chunk_size == 512
    assert a.policy_loss._target_ == "core.verl.plugin.HarnessPolicyLossConfig"
    assert a.policy_loss.loss_mode == "harness"  # never verl's 'vanilla' by accident
    assert a.policy_loss.method == method
    assert OmegaConf.to_container(a.policy_loss.params) == {k: getattr(m.params, k) for k in a.policy_loss.params}
    assert a.loss_agg_mode == m.params.loss_agg_mode
    assert v.trainer.v1.trainer_mode == "harness" and v.trainer.use_v1 is True
    # plugin in every Ray worker, and our reward function
    env = v.ray_kwargs.ray_init.runtime_env.env_vars
    assert env.VERL_USE_EXTERNAL_MODULES == "core.verl.plugin"
    assert str(vc.REPO_ROOT) in env.PYTHONPATH.split(":")
    assert Path(v.reward.custom_reward_function.path).name == "reward.py"
    assert "file" in v.trainer.logger
    assert "hf_model" in a.checkpoint.save_contents  # evaluation and stage chaining load HF weights


def test_dry_run_prints_config_and_commands_and_writes_nothing(tmp_path):
    cfg = make_cfg("qwen3_14b", "sent", runs_root=str(tmp_path))
    cfg.backend.dry_run = True
    out = io.StringIO()
    with redirect_stdout(out):
        assert vb.run(cfg, run_dir=tmp_path / "run") is None
    text = out.getvalue()
    assert "python -m verl.trainer.main_ppo" in text.replace(vb.sys.executable, "python")
    assert "VERL_USE_EXTERNAL_MODULES=core.verl.plugin" in text
    assert "-m core.eval" in text and "--n 32" in text and "--max-new-tokens 8000" in text
    assert "--k 1,8,16,32" in text and "tensor_parallel_size=4" in text
    assert "trainer_mode: harness" in text
    assert list(tmp_path.iterdir()) == []  # a dry run writes nothing


def test_curriculum_stages_chain_checkpoints_in_dry_run(tmp_path):
    cfg = make_cfg("r1_distill_qwen_1p5b", "sent", runs_root=str(tmp_path), curriculum="semantic_entropy")
    cfg.curriculum.stages = 2
    plans = vs.plan(cfg, tmp_path / "run", dry_run=True)
    assert [p.stage for p in plans] == [1, 2]
    assert plans[0].config.actor_rollout_ref.model.path == TABLE_X_HF["r1_distill_qwen_1p5b"]
    # stage 2 starts from stage 1's final HF checkpoint; verl builds the reference from it too
    assert plans[1].config.actor_rollout_ref.model.path.startswith(str(plans[0].ckpt_dir))
    assert plans[1].config.actor_rollout_ref.model.path.endswith("actor/huggingface")
    assert plans[0].config.trainer.default_local_dir != plans[1].config.trainer.default_local_dir
    assert plans[0].train_file != plans[1].train_file


def test_semantic_entropy_scores_come_from_the_base_model(tmp_path):
    """Without curriculum.scores_path the plan scores DAPO with the base model on vLLM (SENT §IV-A)."""
    cfg = make_cfg("qwen3_14b", "sent", runs_root=str(tmp_path), curriculum="semantic_entropy")
    cfg.curriculum.stages, cfg.curriculum.m, cfg.curriculum.variant = 2, 8, "count"
    cmd = vs.scoring_command(cfg)
    assert cmd[1:3] == ["-m", "core.curriculum"] and "--backend" in cmd and cmd[cmd.index("--backend") + 1] == "vllm"
    assert cmd[cmd.index("--model") + 1] == "Qwen/Qwen3-14B" and cmd[cmd.index("--m") + 1] == "8"
    assert cmd[cmd.index("--max-new-tokens") + 1] == "2048" and "tensor_parallel_size=4" in cmd
    assert vs.scores_file(cfg, dry_run=True).name == "semantic_entropy.jsonl"
    out = io.StringIO()
    cfg.backend.dry_run = True
    with redirect_stdout(out):
        vb.run(cfg, run_dir=tmp_path / "run")
    assert "-m core.curriculum" in out.getvalue() and list(tmp_path.iterdir()) == []
    cfg.curriculum.scores_path = str(tmp_path / "given.jsonl")
    assert vs.scores_file(cfg, dry_run=False) == tmp_path / "given.jsonl"  # precomputed scores win


def test_keeping_the_original_reference_across_stages_is_refused(tmp_path):
    cfg = make_cfg("r1_distill_qwen_1p5b", "sent", runs_root=str(tmp_path), curriculum="semantic_entropy")
    cfg.curriculum.stages, cfg.curriculum.reset_reference = 2, False
    with pytest.raises(NotImplementedError, match="reset_reference"):
        vs.plan(cfg, tmp_path / "run", dry_run=True)


@pytest.mark.parametrize("model", ["tiny", "llama_70b"])
def test_unknown_model_is_a_clear_error(model, tmp_path):
    cfg = make_cfg(runs_root=str(tmp_path))
    cfg.model = {"name": model, "path": "x", "epochs": 1}  # a model node without the verl layout
    with pytest.raises(ConfigError, match=r"model='?" + model + r"'? is not a verl-backend model.*r1_distill_qwen_1p5b"):
        vc.check(cfg)


def test_evaluation_longer_than_the_model_window_is_caught_early(tmp_path):
    cfg = make_cfg("qwen2p5_math_7b", runs_root=str(tmp_path))  # 4096-token window, 8000-token evaluation
    vc.check(cfg)  # the shipped config raises vLLM's limit for the evaluation
    cfg.model.verl.eval_gen_args = {}
    with pytest.raises(ConfigError, match="evaluation needs 9024 tokens .* window is 4096"):
        vc.check(cfg)
    cfg.backend.eval.max_new_tokens = 3000
    vc.check(cfg)


def test_bad_method_hyperparameter_is_a_clear_error(tmp_path):
    cfg = make_cfg(runs_root=str(tmp_path))
    cfg.method.kl_coef = -1.0
    with pytest.raises(ConfigError, match="kl_coef"):
        vc.check(cfg)


def test_batch_scope_plans_on_verl(tmp_path):
    """scope=batch runs in the harness trainer (core/verl/hooks.py; tested on the real engine in tests/verl_e2e)."""
    cfg = make_cfg(method="mask", runs_root=str(tmp_path))
    cfg.method.scope = "batch"
    v = vs.plan(cfg, tmp_path / "run", dry_run=True)[0].config
    assert v.actor_rollout_ref.actor.policy_loss.params.scope == "batch"


def test_unknown_verl_override_key_is_rejected():
    with pytest.raises(ConfigError, match="no key 'trainer.save_frequency'"):
        vcomp.compose_verl_config({"trainer.save_frequency": 3})


def test_backend_overrides_apply_last(tmp_path):
    cfg = make_cfg(runs_root=str(tmp_path))
    cfg.backend.overrides = {"trainer.save_freq": 7, "actor_rollout_ref.rollout.gpu_memory_utilization": 0.4}
    v = vs.plan(cfg, tmp_path / "run", dry_run=True)[0].config
    assert v.trainer.save_freq == 7 and v.actor_rollout_ref.rollout.gpu_memory_utilization == 0.4


def test_verl_rejects_a_batch_layout_it_cannot_split(tmp_path):
    """verl's own validate_config runs: 256 prompts x 8 rollouts cannot be split over 3 GPUs' micro-batches."""
    cfg = make_cfg(runs_root=str(tmp_path))
    cfg.backend.n_gpus_per_node = 3
    with pytest.raises((AssertionError, ValueError)):
        vs.plan(cfg, tmp_path / "run", dry_run=True)


def test_compose_inside_a_running_hydra_app_restores_its_state(tmp_path):
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    d = tmp_path / "conf"
    d.mkdir()
    (d / "app.yaml").write_text("x: 1\n")
    with initialize_config_dir(config_dir=str(d), version_base="1.3"):
        vcomp._BASE_CACHE.clear()
        vcomp.compose_base()
        assert GlobalHydra.instance().is_initialized()
        assert compose("app").x == 1  # the outer app still composes its own config


# ---------------------------------------------------------------- through sweep.py's config tree ------

def _compose_sweep(overrides: list[str]):
    """The job config sweep.py would get (sweeps/config.yaml + the registry's method nodes)."""
    sweep = pytest.importorskip("sweep")
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(vc.REPO_ROOT / "sweeps"), version_base="1.3"):
        cfg = compose("config", overrides=overrides, return_hydra_config=True)
    return sweep, cfg


@pytest.mark.parametrize("model", VERL_MODELS)
def test_sweep_config_tree_composes_for_verl(model, tmp_path):
    sweep, cfg = _compose_sweep(["backend=verl", f"model={model}", "data=dapo_math_17k", "method=cov",
                                 f"runs_root={tmp_path}"])
    plans = vs.plan(cfg, tmp_path / "run", dry_run=True)
    a = plans[0].config.actor_rollout_ref.actor
    assert a.policy_loss.method == "cov" and a.policy_loss.params.penalty_coef == 1.0  # Table X: w/ Cov KL 1.0
    assert a.policy_loss.params.cov_frac == 2e-4 and a.use_kl_loss is False
    assert plans[0].config.trainer.total_epochs == TABLE_X_EPOCHS[model]
    ev = vc.eval_settings(cfg)  # config.yaml records it as `eval`: the evaluation analysis will read
    assert ev["benchmarks"] == ["aime24", "aime25", "amc23", "math500", "olympiadbench", "minerva"]
    assert ev["n"] == 32 and ev["k"] == [1, 8, 16, 32] and ev["max_new_tokens"] == 8000
    assert ev["temperature"] == 1.0 and ev["top_p"] == 1.0  # Table XI
    assert cfg.eval.n == 4  # the composed top-level eval block (the embedded backend's) is left as composed


def test_sweep_method_override_reaches_verl(tmp_path):
    """A method hyperparameter set on the command line arrives in verl's policy-loss config."""
    _, cfg = _compose_sweep(["backend=verl", "model=qwen2p5_math_7b", "data=dapo_math_17k", "method=sent",
                             "method.beta_high=3.0", f"runs_root={tmp_path}"])
    a = vs.plan(cfg, tmp_path / "run", dry_run=True)[0].config.actor_rollout_ref.actor
    assert a.policy_loss.params.beta_high == 3.0 and a.use_kl_loss is True


def test_verl_entry_point_reads_the_composed_config(tmp_path):
    """The launch command: verl's own main_ppo (Hydra) loads the saved stage config unchanged
    (``--cfg job`` prints the job config and exits before Ray starts) and writes nothing else."""
    import os
    import subprocess

    cfg = make_cfg("r1_distill_qwen_1p5b", "sent", runs_root=str(tmp_path))
    sp = vs.plan(cfg, tmp_path / "run", dry_run=True)[0]
    sp.stage_dir.mkdir(parents=True)
    OmegaConf.save(sp.config, sp.stage_dir / "ppo_trainer.yaml")
    out = subprocess.run(vcmd.launch_command(sp) + ["--cfg", "job"], cwd=sp.stage_dir, capture_output=True, text=True,
                         env={**os.environ, **vcmd.launch_env(sp)}, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert OmegaConf.to_container(OmegaConf.create(out.stdout)) == OmegaConf.to_container(sp.config)
    assert [p.name for p in sp.stage_dir.iterdir()] == ["ppo_trainer.yaml"]


def test_eval_overrides_are_refused_with_backend_verl(tmp_path):
    """eval.* (the embedded backend's evaluation) would do nothing with backend=verl: refused."""
    cfg = make_cfg(runs_root=str(tmp_path))
    with pytest.raises(ConfigError, match=r"eval.n=4: with backend=verl the evaluation is set by backend\.eval\."):
        vc.check_eval_overrides(["method=grpo", "eval.n=4"])
    vc.check_eval_overrides(["backend.eval.n=16"])
    cfg.backend.eval.n = 16
    ev = vc.eval_settings(cfg)
    assert ev["n"] == 16 and ev["k"] == [1, 8, 16]  # k <= n


def test_a_stateful_method_with_curriculum_stages_is_refused(tmp_path):
    """Each curriculum stage is its own main_ppo run, which would restart EntroPIC's controller state
    (the embedded trainer carries it across stages): refused before submission, not silently different."""
    cfg = make_cfg("r1_distill_qwen_1p5b", "entropic", runs_root=str(tmp_path), curriculum="semantic_entropy")
    cfg.curriculum.stages = 2
    with pytest.raises(ConfigError, match="keeps state across steps .* curriculum.stages=1"):
        vc.check(cfg)
    cfg.curriculum.name = "auto"  # auto: entropic's own default, no curriculum
    vc.check(cfg)
    cfg.curriculum.name, cfg.curriculum.stages = "semantic_entropy", 1
    vc.check(cfg)


# ---------------------------------------------------------------- one source for every default ------

@pytest.mark.parametrize("model,offload", [("r1_distill_qwen_1p5b", False), ("qwen2p5_math_7b", True),
                                           ("qwen3_14b", True)])
def test_reference_offload_is_the_model_yamls(model, offload, tmp_path):
    """model.verl.ref_param_offload comes from sweeps/model/<model>.yaml (the code has no default of its own)."""
    v = vs.plan(make_cfg(model, runs_root=str(tmp_path)), tmp_path / "run", dry_run=True)[0].config
    assert v.actor_rollout_ref.ref.fsdp_config.param_offload is offload


def test_paper_settings_are_read_from_the_composed_config(tmp_path):
    """backend.paper (SENT Table X, sweeps/backend/verl.yaml) is what verl gets; nothing else holds the values."""
    from core.config import select

    cfg = make_cfg(runs_root=str(tmp_path))
    assert select(cfg, "backend.paper") == {"lr": 1e-6, "train_batch_size": 256, "ppo_mini_batch_size": 128,
                                               "rollout_n": 8, "temperature": 1.0, "top_p": 1.0, "top_k": -1,
                                               "max_response_length": 2048}
    cfg.backend.paper.lr, cfg.backend.paper.top_k = 2e-6, 20
    v = vs.plan(cfg, tmp_path / "run", dry_run=True)[0].config
    assert v.actor_rollout_ref.actor.optim.lr == 2e-6 and v.actor_rollout_ref.rollout.top_k == 20


def test_a_key_missing_from_the_config_names_it(tmp_path):
    """No inline fallback: a config without a key the backend reads raises, naming the key."""
    from core.config import MissingConfigKey

    from omegaconf import open_dict

    cfg = make_cfg(runs_root=str(tmp_path))
    with open_dict(cfg):
        del cfg.backend["save_freq"]
    with pytest.raises(MissingConfigKey, match="backend.save_freq"):
        vs.plan(cfg, tmp_path / "run", dry_run=True)
