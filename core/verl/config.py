"""The harness config -> verl's settings, for the verl backend (``backend=verl``).

Owns the one mapping from our composed Hydra config (``sweeps/``) to verl's ``ppo_trainer`` keys
(:func:`verl_settings`), its validation without importing verl (:func:`check`, used by the SLURM
launcher before submission), the device choice (``backend.device``) and the verl evaluation's
settings (:func:`eval_settings`). Every value is read from the composed config with
:func:`core.config.select` (no inline defaults): the paper's training settings are
``backend.paper`` (sweeps/backend/verl.yaml, SENT Table X), the evaluation's ``backend.eval``
(sweeps/eval/paper.yaml, SENT Table XI), the hardware layout ``model.verl`` (sweeps/model/*.yaml).

May import ``core.config``, ``core.curriculum`` (the ``curriculum=auto`` resolver), ``core.eval``
(benchmark names), ``core.tracking``, ``core.verl.cpu`` / ``core.verl.ray_cluster`` and ``methods``;
never verl itself (that is core/verl/compose.py).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, open_dict

from core.config import select
from methods import ConfigError, build_method

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

#: config keys of ``cfg.method`` that are not hyperparameters
_METHOD_META = ("name", "version")
#: verl keys whose SENT Table X value is ``backend.paper.<name>`` unless ``backend.overrides`` sets the key
_PAPER_KEYS = {"data.train_batch_size": "train_batch_size", "data.max_response_length": "max_response_length",
               "actor_rollout_ref.actor.ppo_mini_batch_size": "ppo_mini_batch_size",
               "actor_rollout_ref.rollout.n": "rollout_n"}


def method_of(cfg: DictConfig):
    """The method (built and validated from ``cfg.method``: name + flat hyperparameters)."""
    node = select(cfg, "method")
    if not isinstance(node, dict) or "name" not in node:
        raise ConfigError("cfg.method must be a mapping with a 'name' (the method= choice) and its hyperparameters")
    params = {k: v for k, v in node.items() if k not in _METHOD_META and not str(k).startswith("_")}
    return build_method(node["name"], params)


def task_overrides() -> list[str]:
    """The command-line overrides of the running Hydra job (``[]`` outside one)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 - not inside a Hydra job
        return []


def check(cfg: DictConfig) -> None:
    """Everything that can be wrong with a verl-backend config, found without importing verl.

    Raises one :class:`ConfigError` naming the problem and the fix.
    """
    problems = []
    name = select(cfg, "model.name")
    known = name in VERL_MODELS + TEST_MODELS
    if not known:
        problems.append(f"model={name!r} is not a verl-backend model; use one of {', '.join(VERL_MODELS)} "
                        f"(model=tiny is the embedded CPU model: backend=embedded)")
    elif not select(cfg, "model.path"):
        problems.append("model.path is empty; set it to a HuggingFace id or a local model directory")
    data = select(cfg, "data.name")
    if data not in TRAIN_DATA:
        problems.append(f"data={data!r}: the verl backend trains on data=dapo_math_17k "
                        "(or data=synth with model=tiny_hf)")
    elif (data == "synth") != (name == "tiny_hf") and known:
        problems.append(f"data={data} with model={name}: the synthetic task goes with "
                        "model=tiny_hf (its tokenizer reads only the task's characters), DAPO with the LLMs")
    try:
        device(cfg)
    except ConfigError as e:
        problems.append(str(e))
    layout = {k: select(cfg, f"backend.{k}") for k in ("n_gpus_per_node", "nnodes")}
    for key, v in layout.items():
        if not isinstance(v, int) or v < 1:
            problems.append(f"backend.{key}={v!r} must be a positive integer")
    if known and all(isinstance(v, int) and v > 0 for v in layout.values()):
        from core.verl.ray_cluster import layout_problems  # nodes x GPUs vs the model's layout (backend.nnodes > 1 too)

        cpu = str(select(cfg, "backend.device")) == "cpu"  # CPU mode: one fake GPU per node (CPU_SETTINGS)
        problems += layout_problems(
            nnodes=layout["nnodes"], n_gpus_per_node=1 if cpu else layout["n_gpus_per_node"],
            rollout_tp=int(select(cfg, "model.verl.rollout_tp")),
            train_batch_size=int(paper_setting(cfg, "data.train_batch_size")),
            ppo_mini_batch_size=int(paper_setting(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size")),
            rollout_n=int(paper_setting(cfg, "actor_rollout_ref.rollout.n")))
    stages = select(cfg, "curriculum.stages")
    if not isinstance(stages, int) or stages < 1:
        problems.append(f"curriculum.stages={stages!r} must be an integer >= 1")
    if known:
        if select(cfg, "model.epochs") is None or int(select(cfg, "model.epochs")) < 1:
            problems.append("model.epochs must be >= 1 (SENT Table X: 5 for 1.5B, 3 for 7B/14B)")
        problems += _context_problems(cfg)
    for key in select(cfg, "backend.eval.benchmarks") or []:  # e.g. livecodebench: user-supplied data
        try:
            from core.eval.benchmarks import load_benchmark

            load_benchmark(str(key))
        except (KeyError, ValueError, OSError) as e:
            problems.append(f"backend.eval.benchmarks: {e.args[0] if e.args else e}")
    from core.curriculum import CurriculumError

    try:
        method = method_of(cfg)
        curriculum = _curriculum_name(cfg, method.name)
        if method.stateful() and isinstance(stages, int) and stages > 1 and curriculum != "none":
            # each stage is its own main_ppo run and starts from init_state(); the embedded trainer carries
            # the state across stages, so the two backends would compute different things
            problems.append(f"method={method.name} keeps state across steps and would restart it at every "
                            f"curriculum stage on this backend; use curriculum.stages=1 or curriculum=none")
    except (ConfigError, CurriculumError) as e:
        if str(e) not in problems:
            problems.append(str(e))
    if problems:
        raise ConfigError("backend=verl: " + "; ".join(problems))


def _curriculum_name(cfg: DictConfig, method: str) -> str:
    """The curriculum the run will use: ``curriculum=auto`` resolved by :func:`core.curriculum.resolve_curriculum`
    on a copy (the check changes nothing)."""
    from core.curriculum import resolve_curriculum

    node = {"method": {"name": method}, "curriculum": select(cfg, "curriculum")}
    return str(resolve_curriculum(node)["curriculum"]["name"])


def _context_problems(cfg: DictConfig) -> list[str]:
    """Training and evaluation lengths against the model's window (``model.context_length``): found
    now rather than when vLLM refuses the evaluation at the end of a multi-day run."""
    window = select(cfg, "model.context_length")
    if window is None:
        return []
    prompt = int(select(cfg, "backend.max_prompt_length"))
    out = []
    response = int(paper_setting(cfg, "data.max_response_length"))
    if prompt + response > window:
        out.append(f"max_prompt_length {prompt} + response {response} exceeds "
                   f"model.context_length={window}")
    need = prompt + int(select(cfg, "backend.eval.max_new_tokens"))
    allowed = (select(cfg, "model.verl.eval_gen_args") or {}).get("max_model_len") or window
    if need > allowed:
        out.append(f"evaluation needs {need} tokens (prompt + backend.eval.max_new_tokens) but the model's window is "
                   f"{window}; set model.verl.eval_gen_args.max_model_len (and VLLM_ALLOW_LONG_MAX_MODEL_LEN=1 in "
                   "model.verl.eval_env) or lower backend.eval.max_new_tokens")
    return out


def paper_setting(cfg: DictConfig, verl_key: str) -> Any:
    """A SENT Table X value (``backend.paper``) unless ``backend.overrides`` sets its verl key (CPU/test runs)."""
    overrides = select(cfg, "backend.overrides") or {}
    return overrides.get(verl_key, overrides.get("+" + verl_key, select(cfg, f"backend.paper.{_PAPER_KEYS[verl_key]}")))


def updates_per_step(cfg: DictConfig) -> int:
    """Optimizer updates per verl step: rollout batch / mini-batch (x ppo_epochs = 1)."""
    return int(paper_setting(cfg, "data.train_batch_size")) // int(
        paper_setting(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size"))


def device(cfg: DictConfig) -> str:
    """``backend.device``: ``cuda`` or ``cpu`` (core/verl/cpu.py). ``auto`` is resolved at launch
    (:func:`resolve_device`: cpu when no CUDA device is present); unresolved (a dry run, a plan) it
    means cuda, so a dry run shows the cluster config on any machine (``backend.device=cpu`` shows
    the CPU one)."""
    want = str(select(cfg, "backend.device"))
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
    from core.verl.cpu import cuda_available

    if str(select(cfg, "backend.device")) == "auto":
        with open_dict(cfg):
            cfg.backend.device = "cuda" if cuda_available() else "cpu"
    return device(cfg)


def eval_settings(cfg: DictConfig) -> dict[str, Any]:
    """The verl evaluation pass (``python -m core.eval`` on each chosen checkpoint): ``backend.eval`` as
    composed (sweeps/eval/paper.yaml, SENT Table XI), with ``benchmarks: null`` = the six paper benchmarks
    and only the ks <= n. The keys of the top-level ``eval`` block (the embedded backend's), so the run's
    config.yaml records it as ``eval`` (what analysis reads); every problem is evaluated (``limit`` None)."""
    from core.eval.benchmarks import PAPER_BENCHMARKS

    ev = select(cfg, "backend.eval")
    n = int(ev["n"])
    return {"benchmarks": list(ev["benchmarks"] or PAPER_BENCHMARKS), "n": n, "k": [k for k in ev["k"] if k <= n],
            "every": int(ev["every"]), "max_new_tokens": int(ev["max_new_tokens"]), "limit": None,
            "temperature": ev["temperature"], "top_p": ev["top_p"]}


def check_eval_overrides(overrides: list[str]) -> None:
    """``eval.*`` on the command line is the embedded backend's evaluation and would do nothing here: refused."""
    set_here = [o for o in overrides if o.lstrip("+~").startswith("eval.")]
    if set_here:
        raise ConfigError(f"{', '.join(set_here)}: with backend=verl the evaluation is set by backend.eval.* "
                          "(sweeps/eval/paper.yaml: benchmarks, n, k, max_new_tokens, every, temperature, top_p)")


def pythonpath() -> str:
    """The repository first, then the caller's ``PYTHONPATH`` (every verl and evaluation process imports us)."""
    parts = [str(REPO_ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    return os.pathsep.join(dict.fromkeys(parts))


def _micro(cfg: DictConfig, key: str) -> int:
    return int(select(cfg, f"model.verl.{key}"))


def verl_settings(cfg: DictConfig, *, run_name: str, sweep_name: str, train_file: Path, val_files: list[Path],
                  model_path: str, ckpt_dir: Path, logger_path: Path) -> dict[str, Any]:
    """The verl overrides of one stage: ``{dotted key in ppo_trainer: value}``.

    Paper settings (Table X, ``backend.paper``), the method's loss settings (through the plugin), our
    reward, data, logging and checkpoint layout, and the model's hardware layout (``model.verl``).
    ``backend.overrides`` (dotted key -> value) are applied last, for anything else.
    """
    from core.tracking import loggers_of, tracking_env

    method = method_of(cfg)
    p = method.params
    hp = {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}
    paper = select(cfg, "backend.paper")
    nnodes = int(select(cfg, "backend.nnodes"))
    save_freq = int(select(cfg, "backend.save_freq"))
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
        "data.max_prompt_length": int(select(cfg, "backend.max_prompt_length")),
        "data.max_response_length": paper_setting(cfg, "data.max_response_length"),
        "data.filter_overlong_prompts": True,
        "data.truncation": "error",
        "data.shuffle": True,
        "data.seed": int(select(cfg, "seed")),
        # --- model ---
        "actor_rollout_ref.model.path": model_path,
        "actor_rollout_ref.model.use_remove_padding": True,
        "actor_rollout_ref.model.enable_gradient_checkpointing": True,
        # --- actor: optimiser and batching (Table X) ---
        "actor_rollout_ref.actor.optim.lr": paper["lr"],
        "actor_rollout_ref.actor.ppo_mini_batch_size": paper_setting(cfg, "actor_rollout_ref.actor.ppo_mini_batch_size"),
        "actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu": _micro(cfg, "micro_batch_size_per_gpu"),
        "actor_rollout_ref.actor.use_dynamic_bsz": False,
        "actor_rollout_ref.actor.ppo_epochs": 1,
        "actor_rollout_ref.actor.fsdp_config.param_offload": bool(select(cfg, "model.verl.param_offload")),
        "actor_rollout_ref.actor.fsdp_config.optimizer_offload": bool(select(cfg, "model.verl.optimizer_offload")),
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
        "actor_rollout_ref.actor.entropy_from_logits_chunk_size": int(select(cfg, "backend.entropy_chunk_size")),
        "actor_rollout_ref.actor.entropy_checkpointing": True,
        # --- reference (forward only) ---
        "actor_rollout_ref.ref.log_prob_micro_batch_size_per_gpu": _micro(cfg, "log_prob_micro_batch_size_per_gpu"),
        "actor_rollout_ref.ref.fsdp_config.param_offload": bool(select(cfg, "model.verl.ref_param_offload")),
        # --- rollout: vLLM, Table X sampling ---
        "actor_rollout_ref.rollout.name": str(select(cfg, "backend.rollout")),
        "actor_rollout_ref.rollout.n": paper["rollout_n"],
        "actor_rollout_ref.rollout.temperature": paper["temperature"],
        "actor_rollout_ref.rollout.top_p": paper["top_p"],
        "actor_rollout_ref.rollout.top_k": paper["top_k"],
        "actor_rollout_ref.rollout.tensor_model_parallel_size": _micro(cfg, "rollout_tp"),
        "actor_rollout_ref.rollout.gpu_memory_utilization": float(select(cfg, "model.verl.gpu_memory_utilization")),
        "actor_rollout_ref.rollout.log_prob_micro_batch_size_per_gpu": _micro(cfg, "log_prob_micro_batch_size_per_gpu"),
        "actor_rollout_ref.rollout.seed": int(select(cfg, "seed")),
        # --- reward: the harness grader (binary correctness) ---
        "reward.custom_reward_function.path": str(REWARD_FILE),
        "reward.custom_reward_function.name": "compute_score",
        # --- trainer ---
        "trainer.use_v1": True,
        "trainer.v1.trainer_mode": "harness",
        "trainer.total_epochs": int(select(cfg, "model.epochs")),
        "trainer.n_gpus_per_node": int(select(cfg, "backend.n_gpus_per_node")),
        "trainer.nnodes": nnodes,
        "trainer.logger": list(dict.fromkeys(["console", "file", *loggers_of(cfg)])),
        "trainer.project_name": sweep_name,
        "trainer.experiment_name": run_name,
        "trainer.default_local_dir": str(ckpt_dir),
        "trainer.save_freq": save_freq,
        "trainer.resume_mode": "auto",
        "trainer.test_freq": int(select(cfg, "backend.test_freq")),
        "trainer.val_before_train": bool(select(cfg, "backend.val_before_train")),
        "trainer.max_actor_ckpt_to_keep": select(cfg, "backend.max_ckpt_to_keep"),
        # --- every Ray worker imports our plugin (policy-loss config, trainer) and sees the repo ---
        "ray_kwargs.ray_init.runtime_env.env_vars": {
            "VERL_USE_EXTERNAL_MODULES": PLUGIN_MODULE,
            "PYTHONPATH": pythonpath(),
            "VERL_FILE_LOGGER_PATH": str(logger_path),
            # token_stats.jsonl of this attempt (core/verl/hooks.py; merged by core.verl.backend)
            "SENT_HARNESS_TOKEN_STATS_PATH": str(logger_path.with_name(
                logger_path.name.replace("verl_metrics.", "token_stats."))),
            "SENT_HARNESS_TOKEN_SETS_EVERY": str(save_freq),
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
    ray_cpus = select(cfg, "backend.ray_num_cpus") or os.environ.get("SLURM_CPUS_PER_TASK")
    if ray_cpus:
        s["ray_kwargs.ray_init.num_cpus"] = int(ray_cpus)
    if nnodes > 1:
        # the job's Ray cluster (core/verl/ray_cluster.py) already exists: main_ppo connects to it through
        # RAY_ADDRESS, and Ray refuses resource arguments when connecting; each node's resources go to
        # its own `ray start` (core.verl.backend.node_resources)
        s.pop("+ray_kwargs.ray_init.num_gpus", None)
        s.pop("+ray_kwargs.ray_init.address", None)  # CPU mode's "local" (a fresh one-node cluster) -> RAY_ADDRESS
        s["ray_kwargs.ray_init.num_cpus"] = None
    # verl's own clip settings mirror the method's (unused by the harness loss; kept equal so verl's
    # logs and any verl-side check see the same numbers)
    for ours, theirs in (("clip_ratio_low", "clip_ratio_low"), ("clip_ratio_high", "clip_ratio_high"),
                         ("clip_ratio_c", "clip_ratio_c"), ("kl_type", "kl_loss_type")):
        if ours in hp:
            s[f"actor_rollout_ref.actor.{theirs}"] = hp[ours]
    for k, v in (select(cfg, "backend.overrides") or {}).items():
        s[str(k)] = v
    return s
