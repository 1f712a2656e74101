"""The verl backend (``backend=verl``): verl 0.9.1 ``main_ppo`` with vLLM rollouts, per run.

From the harness's Hydra config (``sweeps/``) this module builds verl's own ``ppo_trainer``
config -- composed from the YAML files packaged with verl through Hydra's compose API, then
overridden key by key (:func:`verl_settings`, the one place that maps our config to verl's) -- and
launches ``python -m verl.trainer.main_ppo`` on it. The harness loss owns every loss coefficient,
so verl's ``entropy_coeff`` and ``kl_loss_coef`` are 0 and the method's settings travel in
``actor.policy_loss`` (:class:`core.verl.plugin.HarnessPolicyLossConfig`); the registered v1
trainer ``harness`` installs :func:`core.loss.harness_loss` on the actor workers.

One run (``run``)::

    data      data/dapo_math_17k -> parquet with the paper's prompt (core/verl/data.py); the
              six benchmarks -> validation parquet
    scores    curriculum=semantic_entropy: the base model's semantic entropy per prompt
              (python -m core.curriculum on vLLM, once per model; or curriculum.scores_path),
              ordered and split into one parquet per stage
    stages    curriculum stage k = one main_ppo launch on stage k's data; stage k+1 starts from
              stage k's last HF checkpoint (verl loads the reference from model.path, so the
              reference moves with it, as in the SENT scripts)
    metrics   verl's file logger -> train.jsonl (core/verl/metrics.py)
    eval      python -m core.eval (vLLM, SENT Table XI settings) on the saved checkpoints
              -> samples/<benchmark>.jsonl
    DONE      written last

A relaunch (SLURM requeue) resumes: finished stages and evaluations are skipped, and the
unfinished stage restarts main_ppo with ``trainer.resume_mode=auto`` from its last checkpoint.

``backend.dry_run=true`` composes and validates everything (verl's own ``validate_config``, the
actor config dataclass with the method, the registered trainer, the reward function) and prints
the config and the launch commands, on a CPU machine, without writing anything.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from omegaconf import DictConfig, OmegaConf

from core.runlog import RunLog, atomic_write, claim_checkpoint_dir
from methods import ConfigError, build_method

__all__ = ["VERL_MODELS", "PAPER", "check", "method_of", "verl_settings", "compose_verl_config",
           "validate_verl_config", "plan", "run", "StagePlan", "launch_command", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_MODULE = "core.verl.plugin"
REWARD_FILE = REPO_ROOT / "core" / "verl" / "reward.py"

#: the paper's models on the verl backend (``sweeps/model/<name>.yaml``)
VERL_MODELS = ("r1_distill_qwen_1p5b", "qwen2p5_math_7b", "qwen3_14b")
#: test models: the embedded base model exported as a HF folder (core/verl/tiny.py), for CPU runs of
#: the real engine (tests/verl_e2e)
TEST_MODELS = ("tiny_hf",)
#: training data per data= choice on the verl backend (a core.eval.benchmarks key)
TRAIN_DATA = {"dapo_math_17k": "dapo_math_17k", "synth": "synth_train"}

#: SENT Table X shared training settings (per-model epochs live in sweeps/model/*.yaml)
PAPER = {
    "lr": 1e-6,                 # learning rate
    "train_batch_size": 256,    # global batch size (prompts)
    "ppo_mini_batch_size": 128,  # PPO mini-batch (prompts) -> 2 optimizer updates per rollout batch
    "rollout_n": 8,             # GRPO rollout size M
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": -1,
    "max_response_length": 2048,
}
#: SENT Table XI evaluation settings
PAPER_EVAL = {"temperature": 1.0, "top_p": 1.0, "max_new_tokens": 8000, "n": 32, "k": (1, 8, 16, 32)}

#: config keys of ``cfg.method`` that are not hyperparameters
_METHOD_META = ("name", "version")


# ---------------------------------------------------------------------------------------------
# validation without verl (fast; used by the SLURM launcher before submission)
# ---------------------------------------------------------------------------------------------

def _sel(cfg: Any, key: str, default: Any = None) -> Any:
    v = OmegaConf.select(cfg, key, default=default)
    return OmegaConf.to_container(v, resolve=True) if OmegaConf.is_config(v) else v


def method_of(cfg: DictConfig):
    """The method (built and validated from ``cfg.method``: name + flat hyperparameters)."""
    node = _sel(cfg, "method")
    if not isinstance(node, dict) or "name" not in node:
        raise ConfigError("cfg.method must be a mapping with a 'name' (the method= choice) and its hyperparameters")
    params = {k: v for k, v in node.items() if k not in _METHOD_META and not str(k).startswith("_")}
    return build_method(node["name"], params)


def check(cfg: DictConfig) -> None:
    """Everything that can be wrong with a verl-backend config, found without importing verl.

    Raises one :class:`ConfigError` naming the problem and the fix.
    """
    problems = []
    name = _sel(cfg, "model.name")
    if name not in VERL_MODELS + TEST_MODELS:
        problems.append(f"model={name!r} is not a verl-backend model; use one of {', '.join(VERL_MODELS)} "
                        f"(model=tiny is the embedded CPU model: backend=embedded)")
    if not _sel(cfg, "model.path"):
        problems.append("model.path is empty; set it to a HuggingFace id or a local model directory")
    if _sel(cfg, "data.name") not in TRAIN_DATA:
        problems.append(f"data={_sel(cfg, 'data.name')!r}: the verl backend trains on data=dapo_math_17k "
                        "(or data=synth with model=tiny_hf)")
    elif (_sel(cfg, "data.name") == "synth") != (name == "tiny_hf") and name in VERL_MODELS + TEST_MODELS:
        problems.append(f"data={_sel(cfg, 'data.name')} with model={name}: the synthetic task goes with "
                        "model=tiny_hf (its tokenizer reads only the task's characters), DAPO with the LLMs")
    try:
        device(cfg)
    except ConfigError as e:
        problems.append(str(e))
    for key in ("n_gpus_per_node", "nnodes"):
        v = _sel(cfg, f"backend.{key}")
        if not isinstance(v, int) or v < 1:
            problems.append(f"backend.{key}={v!r} must be a positive integer")
    if all(isinstance(_sel(cfg, f"backend.{k}"), int) and _sel(cfg, f"backend.{k}") > 0
           for k in ("n_gpus_per_node", "nnodes")):
        from core.verl.ray_cluster import layout_problems  # nodes x GPUs vs the model's layout (backend.nnodes > 1 too)

        cpu = str(_sel(cfg, "backend.device", "auto")) == "cpu"  # CPU mode: one fake GPU per node (CPU_SETTINGS)
        problems += layout_problems(
            nnodes=_sel(cfg, "backend.nnodes"), n_gpus_per_node=1 if cpu else _sel(cfg, "backend.n_gpus_per_node"),
            rollout_tp=_micro(cfg, "rollout_tp", 1), train_batch_size=int(paper_setting(cfg, "data.train_batch_size")),
            ppo_mini_batch_size=int(paper_setting(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size")),
            rollout_n=int((_sel(cfg, "backend.overrides", None) or {}).get("actor_rollout_ref.rollout.n",
                                                                           PAPER["rollout_n"])))
    stages = _sel(cfg, "curriculum.stages", 1)
    if not isinstance(stages, int) or stages < 1:
        problems.append(f"curriculum.stages={stages!r} must be an integer >= 1")
    if name in VERL_MODELS + TEST_MODELS:
        if _sel(cfg, "model.epochs") is None or int(_sel(cfg, "model.epochs")) < 1:
            problems.append("model.epochs must be >= 1 (SENT Table X: 5 for 1.5B, 3 for 7B/14B)")
        problems += _context_problems(cfg)
    for key in _sel(cfg, "backend.eval_benchmarks", None) or []:  # e.g. livecodebench: user-supplied data
        try:
            from core.eval.benchmarks import load_benchmark

            load_benchmark(str(key))
        except (KeyError, ValueError, OSError) as e:
            problems.append(f"backend.eval_benchmarks: {e.args[0] if e.args else e}")
    try:
        method = method_of(cfg)
        curriculum = _sel(cfg, "curriculum.name", "none") or "none"
        curriculum = method.default_curriculum if curriculum == "auto" else curriculum
        if method.stateful() and isinstance(stages, int) and stages > 1 and curriculum != "none":
            # each stage is its own main_ppo run and starts from init_state(); the embedded trainer carries
            # the state across stages, so the two backends would compute different things
            problems.append(f"method={method.name} keeps state across steps and would restart it at every "
                            f"curriculum stage on this backend; use curriculum.stages=1 or curriculum=none")
    except ConfigError as e:
        problems.append(str(e))
    if problems:
        raise ConfigError("backend=verl: " + "; ".join(problems))


def _context_problems(cfg: DictConfig) -> list[str]:
    """Training and evaluation lengths against the model's window (``model.context_length``): found
    now rather than when vLLM refuses the evaluation at the end of a multi-day run."""
    window = _sel(cfg, "model.context_length")
    if window is None:
        return []
    prompt = int(_sel(cfg, "backend.max_prompt_length", 1024))
    out = []
    response = int(paper_setting(cfg, "data.max_response_length"))
    if prompt + response > window:
        out.append(f"max_prompt_length {prompt} + response {response} exceeds "
                   f"model.context_length={window}")
    need = prompt + int(_sel(cfg, "backend.eval_max_new_tokens", PAPER_EVAL["max_new_tokens"]))
    allowed = (_sel(cfg, "model.verl.eval_gen_args", None) or {}).get("max_model_len") or window
    if need > allowed:
        out.append(f"evaluation needs {need} tokens (prompt + backend.eval_max_new_tokens) but the model's window is "
                   f"{window}; set model.verl.eval_gen_args.max_model_len (and VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 in "
                   "model.verl.eval_env) or lower backend.eval_max_new_tokens")
    return out


# ---------------------------------------------------------------------------------------------
# our config -> verl's
# ---------------------------------------------------------------------------------------------

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


def _micro(cfg: DictConfig, key: str, default: int) -> int:
    return int(_sel(cfg, f"model.verl.{key}", default))


def verl_settings(cfg: DictConfig, *, run_name: str, sweep_name: str, train_file: Path, val_files: list[Path],
                  model_path: str, ckpt_dir: Path, logger_path: Path) -> dict[str, Any]:
    """The verl overrides of one stage: ``{dotted key in ppo_trainer: value}``.

    Paper settings (Table X), the method's loss settings (through the plugin), our reward, data,
    logging and checkpoint layout, and the model's hardware layout (``model.verl``). ``backend.
    overrides`` (dotted key -> value) are applied last, for anything else.
    """
    from core.tracking import loggers_of, tracking_env

    method = method_of(cfg)
    p = method.params
    hp = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    n_gpus = int(_sel(cfg, "backend.n_gpus_per_node"))
    tp = _micro(cfg, "rollout_tp", 1)
    s: dict[str, Any] = {
        # --- algorithm: GRPO advantages (every method is GRPO + its loss; SENT §V-A) ---
        "algorithm.adv_estimator": "grpo",
        "algorithm.norm_adv_by_std_in_grpo": True,
        "algorithm.use_kl_in_reward": False,
        # --- data (Table X) ---
        "data.train_files": [str(train_file)],
        "data.val_files": [str(v) for v in val_files],
        "data.prompt_key": "prompt",
        "data.train_batch_size": paper_setting(cfg, "data.train_batch_size"),
        "data.max_prompt_length": int(_sel(cfg, "backend.max_prompt_length", 1024)),
        "data.max_response_length": paper_setting(cfg, "data.max_response_length"),
        "data.filter_overlong_prompts": True,
        "data.truncation": "error",
        "data.shuffle": True,
        "data.seed": int(_sel(cfg, "seed", 0)),
        # --- model ---
        "actor_rollout_ref.model.path": model_path,
        "actor_rollout_ref.model.use_remove_padding": True,
        "actor_rollout_ref.model.enable_gradient_checkpointing": True,
        # --- actor: optimiser and batching (Table X) ---
        "actor_rollout_ref.actor.optim.lr": PAPER["lr"],
        "actor_rollout_ref.actor.ppo_mini_batch_size": paper_setting(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size"),
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": _micro(cfg, "micro_batch_size_per_gpu", 4),
        "actor_rollout_ref.actor.use_dynamic_bsz": False,
        "actor_rollout_ref.actor.ppo_epochs": 1,
        "actor_rollout_ref.actor.fsdp_config.param_offload": bool(_sel(cfg, "model.verl.param_offload", False)),
        "actor_rollout_ref.actor.fsdp_config.optimizer_offload": bool(_sel(cfg, "model.verl.optimizer_offload", False)),
        "actor_rollout_ref.actor.checkpoint.save_contents": ["model", "optimizer", "extra", "hf_model"],
        # --- actor: the loss is the harness's; verl's own coefficients must stay 0 ---
        "actor_rollout_ref.actor.policy_loss._target_": f"{PLUGIN_MODULE}.HarnessPolicyLossConfig",
        "actor_rollout_ref.actor.policy_loss.loss_mode": "harness",
        "actor_rollout_ref.actor.policy_loss.method": method.name,
        "actor_rollout_ref.actor.policy_loss.params": hp,
        "actor_rollout_ref.actor.loss_agg_mode": p.loss_agg_mode,
        "actor_rollout_ref.actor.entropy_coeff": 0.0,
        "actor_rollout_ref.actor.kl_loss_coef": 0.0,
        "actor_rollout_ref.actor.use_kl_loss": bool(method.requires_ref()),
        "actor_rollout_ref.actor.calculate_entropy": True,
        # every method's update computes entropy with grad: chunk it (no second full [tokens, V] fp32
        # copy; benchmarks/bench_methods.py) and recompute it in the backward instead of storing it
        "actor_rollout_ref.actor.entropy_from_logits_with_chunking": True,
        "actor_rollout_ref.actor.entropy_from_logits_chunk_size": int(_sel(cfg, "backend.entropy_chunk_size", 512)),
        "actor_rollout_ref.actor.entropy_checkpointing": True,
        # --- reference (forward only) ---
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": _micro(cfg, "log_prob_micro_batch_size_per_gpu", 8),
        "actor_rollout_ref.ref.fsdp_config.param_offload": bool(_sel(cfg, "model.verl.ref_param_offload", True)),
        # --- rollout: vLLM, Table X sampling ---
        "actor_rollout_ref.rollout.name": str(_sel(cfg, "backend.rollout", "vllm")),
        "actor_rollout_ref.rollout.n": PAPER["rollout_n"],
        "actor_rollout_ref.rollout.temperature": PAPER["temperature"],
        "actor_rollout_ref.rollout.top_p": PAPER["top_p"],
        "actor_rollout_ref.rollout.top_k": PAPER["top_k"],
        "actor_rollout_ref.rollout.tensor_model_parallel_size": tp,
        "actor_rollout_ref.rollout.gpu_memory_utilization": float(_sel(cfg, "model.verl.gpu_memory_utilization", 0.6)),
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": _micro(cfg, "log_prob_micro_batch_size_per_gpu", 8),
        "actor_rollout_ref.rollout.seed": int(_sel(cfg, "seed", 0)),
        # --- reward: the harness grader (binary correctness) ---
        "reward.custom_reward_function.path": str(REWARD_FILE),
        "reward.custom_reward_function.name": "compute_score",
        # --- trainer ---
        "trainer.use_v1": True,
        "trainer.v1.trainer_mode": "harness",
        "trainer.total_epochs": int(_sel(cfg, "model.epochs")),
        "trainer.n_gpus_per_node": n_gpus,
        "trainer.nnodes": int(_sel(cfg, "backend.nnodes", 1)),
        "trainer.logger": list(dict.fromkeys(["console", "file", *loggers_of(cfg)])),
        "trainer.project_name": sweep_name,
        "trainer.experiment_name": run_name,
        "trainer.default_local_dir": str(ckpt_dir),
        "trainer.save_freq": int(_sel(cfg, "backend.save_freq", 50)),
        "trainer.resume_mode": "auto",
        "trainer.test_freq": int(_sel(cfg, "backend.test_freq", -1)),
        "trainer.val_before_train": bool(_sel(cfg, "backend.val_before_train", False)),
        "trainer.max_actor_ckpt_to_keep": _sel(cfg, "backend.max_ckpt_to_keep", None),
        # --- every Ray worker imports our plugin (policy-loss config, trainer) and sees the repo ---
        "ray_kwargs.ray_init.runtime_env.env_vars": {
            "VERL_USE_EXTERNAL_MODULES": PLUGIN_MODULE,
            "PYTHONPATH": _pythonpath(),
            "VERL_FILE_LOGGER_PATH": str(logger_path),
            # token_stats.jsonl of this attempt (core/verl/hooks.py; merged by _convert_all)
            "SENT_HARNESS_TOKEN_STATS_PATH": str(logger_path.with_name(
                logger_path.name.replace("verl_metrics.", "token_stats."))),
            "SENT_HARNESS_TOKEN_SETS_EVERY": str(int(_sel(cfg, "backend.save_freq", 50))),
            # tracking files inside the run folder (core/tracking.py)
            **tracking_env(ckpt_dir.parent.parent, loggers_of(cfg)),
            # test hooks set by the caller (e.g. SENT_HARNESS_SELECTION_DUMP) reach the trainer's process
            **{k: v for k, v in os.environ.items() if k.startswith("SENT_HARNESS_") and k not in (
                "SENT_HARNESS_TOKEN_STATS_PATH", "SENT_HARNESS_TOKEN_SETS_EVERY")},
        },
    }
    if device(cfg) == "cpu":  # one block (core.verl.cpu.CPU_SETTINGS); backend.overrides still win
        from core.verl.cpu import CPU_ENV, CPU_SETTINGS

        s.update(CPU_SETTINGS)
        s["ray_kwargs.ray_init.runtime_env.env_vars"].update(
            {**CPU_ENV, "VERL_USE_EXTERNAL_MODULES": f"core.verl.cpu,{PLUGIN_MODULE}"})
    # Ray must not claim the whole node inside a SLURM allocation (verl: "use a fixed number with SLURM")
    ray_cpus = _sel(cfg, "backend.ray_num_cpus") or os.environ.get("SLURM_CPUS_PER_TASK")
    if ray_cpus:
        s["ray_kwargs.ray_init.num_cpus"] = int(ray_cpus)
    if int(_sel(cfg, "backend.nnodes", 1) or 1) > 1:
        # the job's Ray cluster (core/verl/ray_cluster.py) already exists: main_ppo connects to it through
        # RAY_ADDRESS, and Ray refuses resource arguments when connecting; each node's resources go to
        # its own `ray start` (node_resources)
        s.pop("+ray_kwargs.ray_init.num_gpus", None)
        s.pop("+ray_kwargs.ray_init.address", None)  # CPU mode's "local" (a fresh one-node cluster) -> RAY_ADDRESS
        s["ray_kwargs.ray_init.num_cpus"] = None
    # verl's own clip settings mirror the method's (unused by the harness loss; kept equal so verl's
    # logs and any verl-side check see the same numbers)
    for ours, theirs in (("clip_ratio_low", "clip_ratio_low"), ("clip_ratio_high", "clip_ratio_high"),
                         ("clip_ratio_c", "clip_ratio_c"), ("kl_type", "kl_loss_type")):
        if ours in hp:
            s[f"actor_rollout_ref.actor.{theirs}"] = hp[ours]
    for k, v in (_sel(cfg, "backend.overrides", None) or {}).items():
        s[str(k)] = v
    return s


def paper_setting(cfg: DictConfig, verl_key: str) -> Any:
    """A SENT Table X value (:data:`PAPER`) unless ``backend.overrides`` sets its verl key (CPU/test runs)."""
    paper_key = {"data.train_batch_size": "train_batch_size", "data.max_response_length": "max_response_length",
                 "actor_rollout_ref.actor.ppo_mini_batch_size": "ppo_mini_batch_size"}[verl_key]
    overrides = _sel(cfg, "backend.overrides", None) or {}
    return overrides.get(verl_key, overrides.get("+" + verl_key, PAPER[paper_key]))


def device(cfg: DictConfig) -> str:
    """``backend.device``: ``cuda`` or ``cpu`` (core/verl/cpu.py). ``auto`` is resolved at launch
    (:func:`resolve_device`: cpu when no CUDA device is present); unresolved (a dry run, a plan) it
    means cuda, so a dry run shows the cluster config on any machine (``backend.device=cpu`` shows
    the CPU one)."""
    want = str(_sel(cfg, "backend.device", "auto") or "auto")
    if want not in ("auto", "cuda", "cpu"):
        raise ConfigError(f"backend.device={want!r}; use auto, cuda or cpu")
    if want == "cpu":
        from core.verl.cpu import cuda_available

        if cuda_available():
            raise ConfigError("backend.device=cpu on a machine with CUDA: the CPU patches never run next to a "
                              "GPU; use backend.device=auto or cuda")
    return "cuda" if want == "auto" else want


def resolve_device(cfg: DictConfig) -> str:
    """Resolve ``backend.device=auto`` for this machine (written into ``cfg``, so config.yaml records it)."""
    from omegaconf import open_dict

    from core.verl.cpu import cuda_available

    if str(_sel(cfg, "backend.device", "auto") or "auto") == "auto":
        with open_dict(cfg):
            cfg.backend.device = "cuda" if cuda_available() else "cpu"
    return device(cfg)


def _pythonpath() -> str:
    parts = [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(parts))


#: keys verl's packaged config does not have, which we add on purpose
_ADDED_KEYS = ("actor_rollout_ref.actor.policy_loss.method", "actor_rollout_ref.actor.policy_loss.params",
               "ray_kwargs.ray_init.runtime_env.env_vars")


def verl_config_dir() -> Path:
    spec = importlib.util.find_spec("verl")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("verl is not installed (pip install -e .)")
    return Path(spec.origin).parent / "trainer" / "config"


_BASE_CACHE: dict[str, DictConfig] = {}


def compose_base() -> DictConfig:
    """verl's packaged ``ppo_trainer`` config, composed with Hydra's compose API (cached; copies returned).

    Works inside a running Hydra app (sweep.py): the global Hydra state is saved and restored.
    """
    if "ppo_trainer" not in _BASE_CACHE:
        from hydra import compose, initialize_config_dir, version
        from hydra.core.global_hydra import GlobalHydra
        from hydra.initialize import get_gh_backup, restore_gh_from_backup

        backup, base = get_gh_backup(), version.VersionBase.instance().getbase()  # compose sets both globally
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(config_dir=str(verl_config_dir()), version_base=None):
                _BASE_CACHE["ppo_trainer"] = compose("ppo_trainer")
        finally:
            restore_gh_from_backup(backup)
            version.VersionBase.instance().version_base = base
    cfg = _BASE_CACHE["ppo_trainer"].copy()
    OmegaConf.set_struct(cfg, True)
    return cfg


def _has_key(cfg: DictConfig, dotted: str) -> bool:
    parent_key, _, leaf = dotted.rpartition(".")
    parent = OmegaConf.select(cfg, parent_key) if parent_key else cfg
    return isinstance(parent, DictConfig) and leaf in parent.keys()  # keys() includes '???' values


def compose_verl_config(settings: Mapping[str, Any]) -> DictConfig:
    """verl's ``ppo_trainer`` with ``settings`` applied; a key verl does not have raises (typo guard),
    unless it is written ``+key`` (Hydra's add semantics: a key verl's packaged YAML lacks on purpose)."""
    cfg = compose_base()
    for key, value in settings.items():
        if key.startswith("+"):
            key = key[1:]
            if _has_key(cfg, key):
                raise ConfigError(f"{'+' + key!r}: verl's ppo_trainer already has {key!r}; drop the '+'")
            OmegaConf.update(cfg, key, value, merge=False, force_add=True)
            continue
        if not _has_key(cfg, key) and key not in _ADDED_KEYS:
            raise ConfigError(f"verl 0.9.1's ppo_trainer has no key {key!r} (check backend.overrides)")
        if OmegaConf.is_config(OmegaConf.select(cfg, key, default=None)) and isinstance(value, Mapping) \
                and key not in _ADDED_KEYS:
            OmegaConf.update(cfg, key, dict(value), merge=True)
        else:
            OmegaConf.update(cfg, key, value, merge=False, force_add=key in _ADDED_KEYS)
    return cfg


def validate_verl_config(vcfg: DictConfig):
    """What main_ppo validates, plus the harness checks. Returns the actor config dataclass."""
    import warnings

    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import omega_conf_to_dataclass, validate_config

    import core.verl.plugin  # noqa: F401  (registers the loss mode and the 'harness' trainer)
    from core.loss import validate_actor_config
    from verl.trainer.ppo.v1 import get_trainer_cls
    from verl.utils.import_utils import load_extern_object

    actor = omega_conf_to_dataclass(vcfg.actor_rollout_ref.actor)
    validate_actor_config(actor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Disabled critic as adv_estimator != gae": intended
        validate_config(vcfg, use_reference_policy=need_reference_policy(vcfg), use_critic=need_critic(vcfg))
    get_trainer_cls(vcfg.trainer.v1.trainer_mode)
    rf = vcfg.reward.custom_reward_function
    load_extern_object(module_path=rf.path, object_name=rf.name)
    return actor


# ---------------------------------------------------------------------------------------------
# the plan of one run
# ---------------------------------------------------------------------------------------------

def _run_name() -> str:
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
        return hc.job.override_dirname or "default"
    except Exception:  # noqa: BLE001 - not inside a Hydra job
        return "default"


def resolve_run_dir(cfg: DictConfig, run_dir: str | os.PathLike | None = None) -> Path:
    """Absolute: verl runs in the stage directory, so every path in its config must be absolute."""
    if run_dir is None:
        run_dir = Path(str(_sel(cfg, "runs_root", "runs"))) / str(_sel(cfg, "sweep_name", "default")) / _run_name()
    return Path(run_dir).resolve()


def data_dir(cfg: DictConfig) -> Path:
    """Where converted parquet files are shared by all runs (content-hashed names)."""
    return Path(str(_sel(cfg, "backend.data_dir") or Path(str(_sel(cfg, "runs_root", "runs"))) / "_verl_data")).resolve()


def resolve_curriculum_node(cfg: DictConfig) -> None:
    """``curriculum=auto`` -> the method's default curriculum; validate (``core.curriculum``)."""
    from core.curriculum import resolve_curriculum

    resolve_curriculum(cfg, _task_overrides())


def _task_overrides() -> list[str]:
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 - not inside a Hydra job
        return []


def scoring_dir(cfg: DictConfig) -> Path:
    """Where the semantic-entropy scores of the base model are written (shared by every run that uses
    the same model and scoring settings; ``core.curriculum`` also caches the samples themselves)."""
    from core.curriculum import DEFAULT_M, DEFAULT_UNPARSEABLE, DEFAULT_VARIANT

    c = cfg.curriculum
    key = json.dumps([str(_sel(cfg, "model.path")), _sel(c, "m", DEFAULT_M), _sel(c, "variant", DEFAULT_VARIANT),
                      _sel(c, "unparseable", DEFAULT_UNPARSEABLE), _sel(c, "seed", 0), _sel(c, "temperature", 1.0),
                      _sel(c, "top_p", 1.0), _sel(c, "max_new_tokens", None)], default=str)
    import hashlib

    return data_dir(cfg) / "semantic_entropy" / f"{_sel(cfg, 'model.name')}-{hashlib.sha256(key.encode()).hexdigest()[:10]}"


def scoring_command(cfg: DictConfig) -> list[str]:
    """``python -m core.curriculum`` with vLLM: M samples per DAPO prompt from the base model (SENT §IV-A)."""
    from core.curriculum import DEFAULT_M, DEFAULT_UNPARSEABLE, DEFAULT_VARIANT

    c = cfg.curriculum
    cmd = [sys.executable, "-m", "core.curriculum", "--model", str(_sel(cfg, "model.path")), "--backend", "vllm",
           "--data", train_key(cfg), "--m", str(_sel(c, "m", DEFAULT_M)),
           "--variant", str(_sel(c, "variant", DEFAULT_VARIANT)),
           "--unparseable", str(_sel(c, "unparseable", DEFAULT_UNPARSEABLE)), "--stages", str(_sel(c, "stages", 2)),
           "--max-new-tokens", str(_sel(c, "max_new_tokens", None) or paper_setting(cfg, "data.max_response_length")),
           "--temperature", str(_sel(c, "temperature", 1.0)), "--top-p", str(_sel(c, "top_p", 1.0)),
           "--seed", str(_sel(c, "seed", 0)), "--out", str(scoring_dir(cfg)),
           "--gen-arg", f"tensor_parallel_size={int(_sel(cfg, 'model.verl.eval_tp', 1))}"]
    if _sel(c, "stage_fractions"):
        cmd += ["--stage-fractions", ",".join(str(f) for f in _sel(c, "stage_fractions"))]
    if _sel(c, "cache_dir"):
        cmd += ["--cache-dir", str(_sel(c, "cache_dir"))]
    for key, value in _gen_args(cfg).items():
        cmd += ["--gen-arg", f"{key}={json.dumps(value)}"]
    return cmd


def scores_file(cfg: DictConfig, *, dry_run: bool) -> Path:
    """``curriculum.scores_path`` if given, else the base model's scores (computed once, with vLLM)."""
    given = _sel(cfg, "curriculum.scores_path")
    if given:
        return Path(str(given))
    path = scoring_dir(cfg) / "semantic_entropy.jsonl"
    if dry_run or path.exists():
        return path
    scoring_dir(cfg).mkdir(parents=True, exist_ok=True)
    cmd = scoring_command(cfg)
    print(f"[verl] semantic-entropy scores of the base model: {_shell(cmd, eval_env(cfg), REPO_ROOT)}", flush=True)
    with open(scoring_dir(cfg) / "scoring.log", "ab") as log:
        rc = subprocess.call(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                             env={**os.environ, **eval_env(cfg), "PYTHONPATH": _pythonpath()})
    if rc != 0 or not path.exists():
        raise RuntimeError(f"semantic-entropy scoring failed (exit {rc}); see {scoring_dir(cfg) / 'scoring.log'}")
    return path


def train_key(cfg: DictConfig) -> str:
    """The training set's benchmark key (``TRAIN_DATA`` of ``data=``)."""
    return TRAIN_DATA.get(str(_sel(cfg, "data.name")), "dapo_math_17k")


def curriculum_stages(cfg: DictConfig, *, dry_run: bool):
    """``(train parquet per stage, SE scores or None, stage of each id or None)``.

    ``curriculum=semantic_entropy``: every DAPO-Math-17k problem is scored with the base model
    (``python -m core.curriculum`` on vLLM, :func:`scores_file`; or precomputed scores from
    ``curriculum.scores_path``), ordered by ascending semantic entropy and split into stages with the
    embedded backend's rule (``core.curriculum.order_and_split``); each stage becomes one parquet file.
    """
    from core.verl.data import dataset_file, write_stage_files

    name = _sel(cfg, "curriculum.name", "none") or "none"
    stages = int(_sel(cfg, "curriculum.stages", 1) or 1)
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
    parts = order_and_split(scores, stages, _sel(cfg, "curriculum.stage_fractions"))
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
    if _sel(cfg, "curriculum.name") == "auto":
        resolve_curriculum_node(cfg)
    if not bool(_sel(cfg, "curriculum.reset_reference", True)):
        raise NotImplementedError(
            "curriculum.reset_reference=false (keep the original reference model in later stages) is not "
            "supported: verl 0.9.1 builds the reference from actor_rollout_ref.model.path, which stage k+1 sets "
            "to stage k's checkpoint (what the SENT scripts did). Use reset_reference=true.")
    from core.eval.benchmarks import PAPER_BENCHMARKS
    from core.verl.data import dataset_file

    train_files = curriculum_stages(cfg, dry_run=dry_run)[0]
    val_keys = list(_sel(cfg, "backend.val_benchmarks", None) or PAPER_BENCHMARKS)
    val_files = [dataset_file(k, data_dir(cfg), split="test", dry_run=dry_run) for k in val_keys]
    run_name, sweep = run_dir.name, str(_sel(cfg, "sweep_name", "default"))
    plans = []
    for k, train_file in enumerate(train_files[:upto], 1):
        stage_dir = run_dir / "verl" / f"stage{k}"
        ckpt_dir = run_dir / "checkpoints" / f"stage{k}"
        model_path = str(_sel(cfg, "model.path")) if k == 1 else str(_stage_output(plans[-1], dry_run))
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


def updates_per_step(cfg: DictConfig | None = None) -> int:
    """Optimizer updates per verl step: rollout batch / mini-batch (x ppo_epochs = 1)."""
    if cfg is None:
        return PAPER["train_batch_size"] // PAPER["ppo_mini_batch_size"]
    return int(paper_setting(cfg, "data.train_batch_size")) // int(
        paper_setting(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size"))


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


def _gen_args(cfg: DictConfig) -> dict[str, Any]:
    """vLLM engine arguments of the evaluation and the scoring: CPU mode's, then ``model.verl.eval_gen_args``."""
    out: dict[str, Any] = {}
    if device(cfg) == "cpu":
        from core.verl.cpu import CPU_EVAL_GEN_ARGS

        out.update(CPU_EVAL_GEN_ARGS)
    out.update(_sel(cfg, "model.verl.eval_gen_args", None) or {})
    return out


def eval_command(cfg: DictConfig, model_path: str, out: Path, eval_step: int | str) -> list[str]:
    """``python -m core.eval`` on one checkpoint with ``cfg.eval`` (:func:`set_eval_config`)."""
    e = cfg.eval
    cmd = [sys.executable, "-m", "core.eval", "--model", model_path, "--backend", "vllm",
           "--benchmarks", ",".join(e.benchmarks), "--n", str(e.n), "--k", ",".join(map(str, e.k)),
           "--max-new-tokens", str(e.max_new_tokens), "--temperature", str(e.temperature),
           "--top-p", str(e.top_p), "--seed", str(int(_sel(cfg, "seed", 0))), "--eval-step", str(eval_step),
           "--out", str(out), "--no-progress",
           "--gen-arg", f"tensor_parallel_size={int(_sel(cfg, 'model.verl.eval_tp', 1))}"]
    for key, value in _gen_args(cfg).items():
        cmd += ["--gen-arg", f"{key}={json.dumps(value)}"]
    return cmd


def eval_env(cfg: DictConfig) -> dict[str, str]:
    return {**_cpu_env(cfg), **{str(k): str(v) for k, v in (_sel(cfg, "model.verl.eval_env", None) or {}).items()}}


def _shell(cmd: list[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str:
    prefix = f"cd {shlex.quote(str(cwd))} && " if cwd else ""
    envs = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
    return prefix + (envs + " " if envs else "") + " ".join(shlex.quote(c) for c in cmd)


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------

def print_dry_run(cfg: DictConfig, run_dir: Path, plans: list[StagePlan], file=None) -> None:
    file = file or sys.stdout
    method = method_of(cfg)
    print(f"# backend=verl dry run: {method.name} (v{method.version}) on {_sel(cfg, 'model.name')} "
          f"({_sel(cfg, 'model.path')}), {len(plans)} stage(s); run dir {run_dir}", file=file)
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
        print(_shell(launch_command(sp), launch_env(sp), sp.stage_dir), file=file)
    if _sel(cfg, "curriculum.name") == "semantic_entropy" and not _sel(cfg, "curriculum.scores_path"):
        print("\n# curriculum: semantic-entropy scores of the base model (run once, before stage 1; skipped when "
              f"{scoring_dir(cfg) / 'semantic_entropy.jsonl'} exists):", file=file)
        print(_shell(scoring_command(cfg), eval_env(cfg), REPO_ROOT), file=file)
    if int(_sel(cfg, "backend.nnodes", 1) or 1) > 1:
        print(f"\n# backend.nnodes={_sel(cfg, 'backend.nnodes')}: main_ppo runs on the first node of the job with "
              "RAY_ADDRESS=<head>:<port> (core/verl/ray_cluster.py starts the Ray head there and a Ray worker on every "
              "other node, resources per node: " + json.dumps(node_resources(cfg)) + ")", file=file)
    last = plans[-1]
    print("\n# evaluation (after training; each evaluated checkpoint, SENT Table XI):", file=file)
    placeholder = last.ckpt_dir / "global_step_<N>" / "actor" / "huggingface"
    print(_shell(eval_command(cfg, str(placeholder), run_dir, "<N>"), eval_env(cfg), REPO_ROOT), file=file)


def run(cfg: DictConfig, run_dir: str | os.PathLike | None = None) -> dict | None:
    """Train (all curriculum stages), evaluate and finalise one run; or print the plan (dry run)."""
    run_dir = resolve_run_dir(cfg, run_dir)
    dry_run = bool(_sel(cfg, "backend.dry_run", False))
    resolve_model_path(cfg, build=not dry_run and not (run_dir / "DONE").exists())
    if not dry_run and (run_dir / "DONE").exists():
        print(f"[verl] {run_dir} is complete (DONE present); skipping")
        return json.loads((run_dir / "DONE").read_text())
    set_eval_config(cfg)
    if dry_run:
        plans = plan(cfg, run_dir, dry_run=True)
        print_dry_run(cfg, run_dir, plans)
        return None
    asked = _sel(cfg, "backend.device", "auto")
    print(f"[verl] device: {resolve_device(cfg)} (backend.device={asked})", flush=True)
    _require_gpu_stack()
    nnodes = int(_sel(cfg, "backend.nnodes", 1) or 1)
    if nnodes > 1:  # one run over several nodes: this task's part in the job's Ray cluster (core/verl/ray_cluster.py)
        from core.verl import ray_cluster

        r = ray_cluster.role(nnodes)
        print(f"[verl] backend.nnodes={nnodes}: {r.kind} (node {r.node_rank})", flush=True)
        if r.kind == "worker":
            ray_cluster.run_worker(r, state_dir=run_dir / "verl", **node_resources(cfg))
            return None
    plan(cfg, run_dir, dry_run=False, upto=1)  # validate everything before writing anything
    _write_config_and_meta(cfg, run_dir)
    _, scores, stage_of = curriculum_stages(cfg, dry_run=False)
    if scores is not None:
        from core.curriculum import write_semantic_entropy_jsonl

        write_semantic_entropy_jsonl(run_dir, scores, stage_of)
    with _ray_cluster(cfg, run_dir):
        offset = 0
        for k in range(1, int(_sel(cfg, "curriculum.stages", 1) or 1) + 1):
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
    cpus = _sel(cfg, "backend.ray_num_cpus") or os.environ.get("SLURM_CPUS_PER_TASK")
    if device(cfg) == "cpu":
        from core.verl.cpu import CPU_SETTINGS

        return {"num_cpus": int(cpus or CPU_SETTINGS["ray_kwargs.ray_init.num_cpus"]),
                "num_gpus": int(CPU_SETTINGS["+ray_kwargs.ray_init.num_gpus"])}
    return {"num_cpus": int(cpus) if cpus else None, "num_gpus": int(_sel(cfg, "backend.n_gpus_per_node"))}


class _ray_cluster:
    """Training's Ray cluster for ``backend.nnodes > 1``: on node 0 of the SLURM job the head is started
    here (workers join from their own tasks) and stopped on exit; with ``RAY_ADDRESS`` the running cluster
    is used. ``RAY_ADDRESS`` is set for main_ppo (verl's ``ray.init()`` connects to it) while inside."""

    def __init__(self, cfg: DictConfig, run_dir: Path):
        self.cfg, self.run_dir, self.head, self.saved = cfg, run_dir, None, None

    def __enter__(self):
        nnodes = int(_sel(self.cfg, "backend.nnodes", 1) or 1)
        if nnodes < 2:
            return None
        from core.verl import ray_cluster

        r = ray_cluster.role(nnodes)
        env = {}
        if r.kind == "driver":
            self.head = ray_cluster.SlurmHead(r, state_dir=self.run_dir / "verl", **node_resources(self.cfg))
            address = self.head.__enter__()
            env = {**self.head.auth, "RAY_ADDRESS": address}  # main_ppo connects with the job's token
        else:
            address = r.address
            nodes = ray_cluster.alive_nodes(address)
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
    if _sel(cfg, "model.name") != "tiny_hf" or _sel(cfg, "model.path"):
        return
    from omegaconf import open_dict

    from core.verl import tiny as verl_tiny
    from core.embedded.model import ModelSpec

    spec = ModelSpec.from_cfg(_sel(cfg, "model"))
    path = verl_tiny.export_hf(spec) if build else verl_tiny.hf_model_path(spec)
    with open_dict(cfg):
        cfg.model.path = str(path)


def set_eval_config(cfg: DictConfig) -> None:
    """Make ``cfg.eval`` (what config.yaml records and analysis reads) the verl evaluation settings.

    The top-level ``eval`` defaults are the embedded backend's (synthetic benchmarks, n = 4); the verl
    backend evaluates with ``backend.eval_*`` (SENT Table XI by default), so an ``eval.*`` override
    on the command line would silently do nothing and is refused.
    """
    set_here = [o for o in _task_overrides() if o.lstrip("+~").startswith("eval.")]
    if set_here:
        raise ConfigError(f"{', '.join(set_here)}: with backend=verl the evaluation is set by backend.eval_benchmarks, "
                          "backend.eval_n, backend.eval_max_new_tokens and backend.eval_every")
    from core.eval.benchmarks import PAPER_BENCHMARKS

    n = int(_sel(cfg, "backend.eval_n", PAPER_EVAL["n"]))
    node = {"benchmarks": list(_sel(cfg, "backend.eval_benchmarks", None) or PAPER_BENCHMARKS), "n": n,
            "k": [k for k in PAPER_EVAL["k"] if k <= n], "every": int(_sel(cfg, "backend.eval_every", 0) or 0),
            "max_new_tokens": int(_sel(cfg, "backend.eval_max_new_tokens", PAPER_EVAL["max_new_tokens"])),
            "limit": None, "temperature": PAPER_EVAL["temperature"], "top_p": PAPER_EVAL["top_p"]}
    from omegaconf import open_dict

    with open_dict(cfg):
        cfg.eval = node


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
    print(f"[verl] stage {sp.stage}/{sp.stages}: {_shell(cmd, launch_env(sp), sp.stage_dir)}", flush=True)
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
    """Evaluate the chosen checkpoints (``backend.eval_every``: every N steps; 0 = the final one only;
    ``backend.eval_base``: also step 0 = the base model)."""
    ckpts = _checkpoints(run_dir)
    if not ckpts:
        raise RuntimeError(f"no HF checkpoint under {run_dir / 'checkpoints'} to evaluate")
    every = int(cfg.eval.every or 0)
    chosen = [c for c in ckpts if every and c[0] % every == 0]
    if ckpts[-1] not in chosen:
        chosen.append(ckpts[-1])
    if bool(_sel(cfg, "backend.eval_base", True)):
        chosen.insert(0, (0, Path(str(_sel(cfg, "model.path")))))
    marks = run_dir / "verl" / "eval_done"
    marks.mkdir(parents=True, exist_ok=True)
    for step, path in chosen:
        if (marks / str(step)).exists():
            continue
        cmd = eval_command(cfg, str(path), run_dir, step)
        print(f"[verl] evaluate step {step}: {_shell(cmd)}", flush=True)
        with open(run_dir / "verl" / "evaluate.log", "ab") as log:
            rc = subprocess.call(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT,
                                 env={**os.environ, **eval_env(cfg), "PYTHONPATH": _pythonpath()})
        if rc != 0:
            raise RuntimeError(f"evaluation of step {step} failed (exit {rc}); see {run_dir / 'verl' / 'evaluate.log'}")
        (marks / str(step)).write_text("")


def _write_config_and_meta(cfg: DictConfig, run_dir: Path) -> None:
    from core.runlog import RunLog

    method = method_of(cfg)
    log = RunLog(run_dir)
    log.write_config(OmegaConf.to_container(cfg, resolve=True))
    log.write_meta(method=method.name, method_version=method.version, seed=int(_sel(cfg, "seed", 0)),
                   backend="verl", model=str(_sel(cfg, "model.name")),
                   curriculum=str(_sel(cfg, "curriculum.name", "none") or "none"),
                   curriculum_stages=int(_sel(cfg, "curriculum.stages", 1) or 1),
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
