"""The embedded RL trainer: GRPO-style RLVR on CPU through the shared loss entry point.

One training step (verl's "global step"):

1. draw ``batch_prompts`` training problems and sample ``group_size`` responses each (KV cache,
   temperature 1.0; log-probs and entropies gathered while sampling = ``old_log_probs`` /
   ``old_entropy``);
2. reward 1/0 from the ``synth`` grader; group advantages from verl's
   ``compute_grpo_outcome_advantage``; reference log-probs (frozen base model) when the method needs
   them; batch-scope selections from ``core.loss.precompute_selection``;
3. ``batch / mini_batch`` optimizer updates (the paper: 256 / 128 = 2), each one forward + backward
   through ``core.loss.harness_loss`` (the function verl's workers call), grad-norm clip, AdamW;
4. log ``train.jsonl`` (and ``token_stats.jsonl`` every ``log_every`` steps); evaluate every
   ``eval.every`` steps through ``core.eval.evaluation.evaluate``; checkpoint.

Randomness is derived from ``(seed, step)`` at every step (prompts, sampling, the global torch RNG
that e.g. Clip-Cov's random pick uses), so a resumed run continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import io
import json
import os
import random
import signal
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch

from core.embedded import task
from core.embedded.forward import QwenWeights
from core.embedded.generator import EmbeddedGenerator, prompt_fn
from core.embedded.model import (ModelSpec, base_model, base_model_info, cache_root, encode_batch,
                                 is_int)
from core.embedded.policy import policy_outputs
from core.embedded.sampler import sample
from core.embedded.spec import TrainSpec
from core.runlog import ResumeError, RunLog, atomic_write
from core.token_stats import token_stats_record

__all__ = ["TrainSpec", "run"]

KILL_ENV = "SENT_HARNESS_KILL_AT_STEP"  # tests: SIGKILL this process right after logging that step


def _seed_of(*parts) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little") & ((1 << 63) - 1)


def _n_final(ev: Mapping[str, Any]) -> int:
    """``eval.n_final`` (samples per problem at step 0 and the last step); null means ``eval.n``."""
    return int(ev["n"]) if ev.get("n_final") is None else int(ev["n_final"])


def _task_overrides() -> list[str]:
    """The command-line overrides of the Hydra job (empty outside one)."""
    try:
        from hydra.core.hydra_config import HydraConfig

        return list(HydraConfig.get().overrides.task)
    except Exception:  # noqa: BLE001 - not inside a Hydra job
        return []


def _plain(cfg) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(cfg, resolve=True) if OmegaConf.is_config(cfg) else copy.deepcopy(dict(cfg))


# ---------------------------------------------------------------------------------------------
# One step's pieces
# ---------------------------------------------------------------------------------------------

#: a weight beyond this magnitude is diverged (the tiny model's weights are O(1); bf16/fp16 overflow at 6.5e4)
MAX_WEIGHT = 1e4


def _check_weights(model: torch.nn.Module, step: int) -> None:
    """Raise FloatingPointError when a weight is non-finite or beyond :data:`MAX_WEIGHT`, before the
    step's record, token stats, evaluation or checkpoint is written."""
    worst = max(float(p.detach().abs().max()) for p in model.parameters())
    if not worst <= MAX_WEIGHT:  # also catches NaN
        raise FloatingPointError(f"step {step}: the policy diverged (max |weight| = {worst:.3g}, limit {MAX_WEIGHT:g}); "
                                 "nothing of this step was written. Lower train.lr or the method's coefficients")


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

class _Run:
    def __init__(self, cfg, run_dir: Path, log=print):
        from core.loss import LossConfig, MethodSpec, method_from_config

        self.cfg = _plain(cfg)
        self.log = log
        c = self.cfg
        self.seed = int(c["seed"])
        self.train = TrainSpec.from_cfg(c["train"])
        self.model_spec = ModelSpec.from_cfg(c["model"])
        self._rebuild = bool(c["model"].get("rebuild", False))  # true: the recipe's build, not the shipped weights
        mcfg = dict(c["method"])
        self.method_name = mcfg.pop("name")
        self.loss_cfg = LossConfig(policy_loss=MethodSpec(self.method_name, mcfg))
        self.method = method_from_config(self.loss_cfg.policy_loss)       # validates the hyperparameters
        self.loss_cfg.use_kl_loss = self.method.requires_ref()
        self.loss_cfg.calculate_entropy = True
        self.loss_cfg.loss_agg_mode = self.method.params.loss_agg_mode
        # a stateful method's state (e.g. EntroPIC's integral): owned here, saved in every checkpoint
        self.loss_cfg.method_state = self.method.init_state() if self.method.stateful() else None
        from core.curriculum import resolve_curriculum

        resolve_curriculum(c, _task_overrides())  # curriculum=auto -> the method's default; validated
        if c["curriculum"]["name"] == "none" and self.method.default_curriculum != "none":
            warnings.warn(f"method {self.method_name!r} is defined with curriculum={self.method.default_curriculum!r} "
                          f"but this run uses curriculum=none: only its token-level loss is trained (as 'low_cov' "
                          f"for SENT).", stacklevel=2)
        ev = c["eval"]
        bad = [f"eval.{f}={ev.get(f)!r}" for f in ("n", "every", "max_new_tokens") if not is_int(ev.get(f))]
        bad += [f"eval.n_final={ev['n_final']!r}"] if ev.get("n_final") is not None and not is_int(ev["n_final"]) else []
        bad += [f"eval.k item {k!r}" for k in ev["k"] if not is_int(k)]
        if bad:
            raise ValueError(f"{', '.join(bad)}: must be integers (eval.n_final may be null)")
        if int(ev["n"]) < 1 or int(ev["every"]) < 1 or int(ev["max_new_tokens"]) < 1:
            raise ValueError("eval.n, eval.every and eval.max_new_tokens must be >= 1")
        n_final = _n_final(ev)
        if n_final < 1:
            raise ValueError(f"eval.n_final={ev.get('n_final')} must be >= 1 (or null: the same as eval.n)")
        too_big = [k for k in ev["k"] if int(k) > max(int(ev["n"]), n_final)]
        if too_big:
            raise ValueError(f"eval.k={list(ev['k'])}: k={too_big} exceed the samples per problem (eval.n={ev['n']}, "
                             f"eval.n_final={n_final}); pass@k needs k <= n. Raise eval.n_final or drop those ks.")
        self.rl = RunLog(run_dir)
        self.ckpt_path = self.rl.dir / "checkpoints" / "last.pt"

    # ---- checkpoints -------------------------------------------------------------------------
    def _save(self, step: int) -> None:
        buf = io.BytesIO()  # serialised in memory, written by the one atomic helper (a full disk: clear error)
        torch.save({"step": step, "model": self.policy.state_dict(), "optimizer": self.opt.state_dict(),
                    "model_spec": dataclasses.asdict(self.model_spec), "method": self.method_name,
                    "seed": self.seed, "method_state": dict(self.loss_cfg.method_state or {}),
                    "method_version": self.method.version, "method_params": self._params_record()}, buf)
        atomic_write(self.ckpt_path, buf.getvalue())

    def _params_record(self) -> dict:
        """The method's hyperparameters as plain values (what a checkpoint must agree with to resume)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self.method.params).items()}

    def _load(self) -> int:
        if not self.ckpt_path.exists():
            return 0
        try:
            ck = torch.load(self.ckpt_path, map_location="cpu", weights_only=True)
            if ck["method"] != self.method_name or ck["seed"] != self.seed or \
                    ck["model_spec"] != dataclasses.asdict(self.model_spec):
                raise ValueError(f"it belongs to another configuration (method {ck['method']!r}, seed {ck['seed']})")
            if "method_version" in ck and (ck["method_version"], ck["method_params"]) != \
                    (self.method.version, self._params_record()):  # e.g. a recalibrated per-scale file
                changed = sorted(k for k, v in self._params_record().items() if ck["method_params"].get(k) != v)
                raise ValueError(f"it was trained with other method settings (version {ck['method_version']} vs "
                                 f"{self.method.version}; changed: {changed or 'none'})")
            self.policy.load_state_dict(ck["model"], strict=True)
            self.opt.load_state_dict(ck["optimizer"])
            if self.loss_cfg.method_state is not None:  # the method's state at that step (LossMethod.init_state)
                saved = ck.get("method_state", {})
                if set(saved) != set(self.loss_cfg.method_state):
                    raise ValueError(f"it holds method state {sorted(saved)}, method {self.method_name!r} keeps "
                                     f"{sorted(self.loss_cfg.method_state)}")
                self.loss_cfg.method_state.update(saved)
            return int(ck["step"])
        except Exception as exc:  # noqa: BLE001
            reason = (str(exc).strip().splitlines() or [""])[0][:200]
            raise ResumeError(
                f"cannot resume from {self.ckpt_path}: {type(exc).__name__}: {reason}. Delete the run directory "
                f"{self.rl.dir} to start this run over.") from exc

    # ---- curriculum (core/curriculum.py, docs/curriculum.md) ----------------------------------
    def _prepare_curriculum(self, base, start: int) -> None:
        """The stage plan (scored once with the base model, cached) and, when resuming inside stage k > 1
        with ``curriculum.reset_reference``, that stage's reference (the policy at the end of stage k-1)."""
        from core.embedded.curriculum import build_plan

        tr = self.train
        self.plan, self.train_problems = build_plan(
            self.cfg["curriculum"], base=base, total_steps=tr.steps, run_dir=self.rl.dir,
            max_new_tokens=tr.max_response_len, progress=bool(self.cfg["backend"].get("progress", True)),
            log=self.log)
        if start < tr.steps and self.ref_w is not None and self.plan.reset_reference:
            stage = self.plan.stage_at(start + 1)
            if stage > 1 and not self.plan.is_stage_start(start + 1):
                path = self.ckpt_path.parent / f"reference_stage{stage}.pt"
                if not path.exists():
                    raise ResumeError(f"cannot resume inside curriculum stage {stage}: its reference policy {path} "
                                       f"is missing. Delete the run directory {self.rl.dir} to start over.")
                self._set_reference(torch.load(path, map_location="cpu", weights_only=True))

    def _stage_reference(self, step: int) -> None:
        """At the first step of stage k > 1 the reference becomes the current policy (saved for a resume)."""
        if self.ref_w is None or not self.plan.reset_reference or step == 1 or not self.plan.is_stage_start(step):
            return
        state = copy.deepcopy(self.policy.state_dict())
        path = self.ckpt_path.parent / f"reference_stage{self.plan.stage_at(step)}.pt"
        buf = io.BytesIO()
        torch.save(state, buf)
        atomic_write(path, buf.getvalue())
        self._set_reference(state)

    def _set_reference(self, state) -> None:
        self.ref_model.load_state_dict(state, strict=True)
        self.ref_w = QwenWeights.of(self.ref_model)

    # ---- evaluation --------------------------------------------------------------------------
    def _eval_n(self, step: int) -> tuple[int, tuple[int, ...]]:
        """Samples per problem at ``step`` (``eval.n_final`` at step 0 and the last step, the two that
        the tables read; ``eval.n`` in between) and the ks of ``eval.k`` that this n admits (pass@1 when
        none does: the DONE summary needs one; analysis recomputes every k from the samples)."""
        ev = self.cfg["eval"]
        n = _n_final(ev) if step in (0, self.train.steps) else int(ev["n"])
        return n, tuple(int(k) for k in ev["k"] if int(k) <= n) or (1,)

    def _base_memo_dir(self) -> Path:
        """Where the base model's step-0 generations are memoised: beside the cached model, under the
        sha256 of its weights (a rebuilt model, e.g. on another CPU or torch, gets its own directory),
        the torch version and this run's thread count (both change float rounding, hence samples)."""
        sha = base_model_info(self.model_spec, rebuild=self._rebuild)["sha256"][:16]  # shipped or cached weights
        d = cache_root() / "base" / self.model_spec.key()
        return d / "eval_step0" / f"{sha}-torch{torch.__version__}-threads{torch.get_num_threads()}"

    def _evaluate(self, step: int) -> dict:
        from core.eval.evaluation import evaluate

        ev = self.cfg["eval"]
        n, ks = self._eval_n(step)
        t0 = time.time()
        # At step 0 the policy is the cached base model itself: its generations are shared by every run
        # of the same seed and evaluation settings (8 methods evaluate the same model), so they are
        # memoised next to the base model. Later steps always sample.
        memo = self._base_memo_dir() if step == 0 else None
        out = evaluate(EmbeddedGenerator(model=self.policy, memo_dir=memo), list(ev["benchmarks"]), run_dir=self.rl.dir,
                       eval_step=step, n=n, max_new_tokens=int(ev["max_new_tokens"]), temperature=1.0,
                       top_p=1.0, seed=_seed_of("eval", self.seed, step), k=ks,
                       limit=ev.get("limit"), prompt_fn=prompt_fn, progress=False, grade_workers=1)
        self.log(f"[{self.rl.dir.name}] eval step {step}: " +
                 " ".join(f"{b}={v['pass@1']:.2f}" for b, v in out.items()) + f" ({time.time() - t0:.1f} s)")
        return out

    # ---- one step ----------------------------------------------------------------------------
    def _step(self, step: int) -> dict:
        from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

        from core.loss import STATE_DELTA_PREFIX, harness_loss, metric_values, precompute_selection

        tr = self.train
        rng = random.Random(_seed_of("prompts", self.seed, step))
        gen = torch.Generator().manual_seed(_seed_of("sample", self.seed, step))
        torch.manual_seed(_seed_of("torch", self.seed, step))
        t0 = time.time()
        stage = self.plan.stage_at(step)
        if self.train_problems is not None:  # curriculum: the stage's prompts (core.curriculum.CurriculumPlan)
            pids, epoch = self.plan.batch(step, tr.batch_prompts, self.seed)
            probs = [self.train_problems[i] for i in pids]
        else:
            probs, epoch = [task.train_problem(rng) for _ in range(tr.batch_prompts)], 0
        rows = [p for p in probs for _ in range(tr.group_size)]
        ids, valid, _ = encode_batch([task.prompt_text(p.question) for p in rows])
        roll = sample(self.w, ids, valid, max_new_tokens=tr.max_response_len, generator=gen)
        grader = task.SynthGrader()
        texts = roll.texts()
        reward = torch.tensor([float(grader.grade(t, str(p.answer)).correct) for t, p in zip(texts, rows)])  # [B]
        B, T = roll.response.shape
        lengths = roll.lengths()                                              # [B]
        tl_reward = torch.zeros(B, T)
        tl_reward[torch.arange(B), (lengths - 1).clamp(min=0)] = reward      # reward on the last token
        index = np.repeat(np.arange(tr.batch_prompts), tr.group_size)
        mask_f = roll.mask.float()
        adv, _ = compute_grpo_outcome_advantage(token_level_rewards=tl_reward, response_mask=mask_f, index=index)
        ref_lp = None
        if self.ref_w is not None:
            with torch.no_grad():
                ref_lp, _ = policy_outputs(self.ref_w.fused(), roll, want_entropy=False, buckets=2 * tr.length_buckets)
        sel = precompute_selection(self.method, old_log_prob=roll.log_prob, advantages=adv,
                                   response_mask=roll.mask, old_entropy=roll.entropy)
        t_roll = time.time() - t0

        # ---- update: batch / mini-batch optimizer steps -------------------------------------
        t1 = time.time()
        mb = tr.mini_batch_prompts * tr.group_size
        sums: dict[str, list[float]] = defaultdict(list)
        self.policy.train()
        for s in range(0, B, mb):
            r = slice(s, s + mb)
            lp, ent = policy_outputs(self.w, roll, r, buckets=tr.length_buckets)  # [mb, T] with grad
            m = roll.mask[r]
            data = {"response_mask": mask_f[r], "old_log_probs": roll.log_prob[r], "advantages": adv[r],
                    "old_entropy": roll.entropy[r], "dp_size": 1, "batch_num_tokens": int(m.sum()),
                    "global_batch_size": mb, **{k: v[r] for k, v in sel.items()}}
            if ref_lp is not None:
                data["ref_log_prob"] = ref_lp[r]
            try:
                loss, metrics = harness_loss(self.loss_cfg, {"log_probs": lp, "entropy": ent}, data)
            except FloatingPointError as exc:  # harness_loss refuses a non-finite loss
                raise FloatingPointError(f"step {step}: {exc}; nothing of this step was written. Lower train.lr or "
                                         "the method's coefficients") from exc
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            gn = torch.nn.utils.clip_grad_norm_(self.policy.parameters(), tr.grad_clip)
            if not torch.isfinite(gn):
                raise FloatingPointError(f"step {step}: non-finite gradient norm; nothing of this step was written. "
                                         "Lower train.lr or the method's coefficients")
            self.opt.step()
            _check_weights(self.policy, step)
            for k, v in metric_values(metrics).items():
                if not k.startswith(STATE_DELTA_PREFIX):  # verl's state transport; the state is logged as method/*
                    sums[k].append(v)
            sums["train/grad_norm"].append(float(gn))
        self.policy.eval()
        t_upd = time.time() - t1
        rec = {"step": step, "stage": stage, "epoch": epoch,
               "train/reward": float(reward.mean()), "train/acc": float(reward.mean()),
               "train/response_len": float(lengths.float().mean()),
               "train/rollout_entropy": float(roll.entropy[roll.mask].mean()),
               "train/finished_frac": float(roll.finished.float().mean()),
               "train/lr": tr.lr}
        rec.update({k: float(np.mean(v)) for k, v in sorted(sums.items())})
        rec.update({"time/rollout": t_roll, "time/update": t_upd, "time/step": time.time() - t0})
        self._stats = (roll, adv)
        return rec

    def _token_stats(self, step: int, eval_step: bool) -> dict:
        roll, adv = self._stats
        return token_stats_record(step, stage=self.plan.stage_at(step), entropy=roll.entropy, responses=roll.response,
                                  mask=roll.mask, advantages=adv, old_log_prob=roll.log_prob,
                                  uses_covariance=self.method.uses_covariance,
                                  decode=task.TOKENIZER.token_str if eval_step else None)

    def _logged_summary(self) -> tuple[dict, dict]:
        """The last ``train.jsonl`` record and the last evaluation's summary, read back from the logs."""
        from core.eval.evaluation import read_samples, resolve_ks, summarize

        lines = (self.rl.dir / "train.jsonl").read_text().splitlines()
        rec = json.loads(lines[-1]) if lines else {}
        ev, out = self.cfg["eval"], {}
        for b in ev["benchmarks"]:
            recs = read_samples(self.rl.dir / "samples" / f"{b}.jsonl")
            last = max(r["eval_step"] for r in recs)
            n, ks = self._eval_n(last)
            out[b] = summarize([r for r in recs if r["eval_step"] == last], resolve_ks(ks, n))
        return rec, out

    # ---- main --------------------------------------------------------------------------------
    def run(self) -> dict | None:
        c, tr = self.cfg, self.train
        if self.rl.done:
            self.rl.check_steps(tr.steps)  # a finished run whose log lost a step is an error, not a skip
            self.log(f"[{self.rl.dir.name}] DONE exists: skipping")
            return None
        from core.tracking import loggers_of, numeric, open_tracker  # logger=[...] through verl's Tracking

        loggers = loggers_of(c)  # an unknown name fails before anything is written
        torch.set_num_threads(int(c["backend"].get("threads", 1)))
        base = base_model(self.model_spec, progress=bool(c["backend"].get("progress", True)), log=self.log,
                          rebuild=self._rebuild)
        self.policy = copy.deepcopy(base)
        self.w = QwenWeights.of(self.policy)
        self.ref_w = QwenWeights.of(base) if self.method.requires_ref() else None
        self.ref_model = base  # the frozen reference (replaced at curriculum stage starts when reset_reference)
        for p in base.parameters():
            p.requires_grad_(False)
        self.opt = torch.optim.AdamW(self.policy.parameters(), lr=tr.lr, weight_decay=tr.weight_decay)
        start = self._load()
        dropped = self.rl.truncate_to_step(start)
        self.rl.check_steps(start)  # a damaged log (a gap before the checkpoint's step) is refused, not resumed
        self._prepare_curriculum(base, start)  # writes semantic_entropy.jsonl (after the truncation)
        if start:
            self.log(f"[{self.rl.dir.name}] resuming from step {start} (dropped log lines beyond it: "
                     f"{ {k: v for k, v in dropped.items() if v} })")
        self.rl.write_config(c)
        from core.config import method_scale_lines, method_scale_record

        scale = method_scale_record(c)  # which per-scale file changed which method default, and why
        for line in method_scale_lines(scale):
            self.log(f"[{self.rl.dir.name}] {line}")
        self.rl.write_meta(method=self.method_name, method_version=self.method.version, seed=self.seed,
                           backend="embedded", model=c["model"]["name"], curriculum=c["curriculum"]["name"],
                           curriculum_stages=int(c["curriculum"]["stages"]),
                           extra={"method_scale": scale} if scale else None)
        tracker = open_tracker(loggers, project=str(c.get("sweep_name", "default")), experiment=self.rl.dir.name,
                               run_dir=self.rl.dir, config=c)
        try:  # the tracker closes on failure too (a grid runs its next job in this process)
            ev = c["eval"]
            last_eval: dict = {}
            if start == 0:
                last_eval = self._evaluate(0)
            kill_at = int(os.environ.get(KILL_ENV, "0") or 0)
            rec: dict = {}
            for step in range(start + 1, tr.steps + 1):
                self._stage_reference(step)
                rec = self._step(step)
                is_eval = step % int(ev["every"]) == 0 or step == tr.steps
                if is_eval:
                    t0 = time.time()
                    last_eval = self._evaluate(step)
                    rec["time/eval"] = time.time() - t0
                self.rl.append("train.jsonl", rec)
                if tracker is not None:
                    tracker.log(numeric(rec), step)
                if step % tr.log_every == 0 or is_eval or step == 1:
                    self.rl.append("token_stats.jsonl", self._token_stats(step, is_eval))
                if step % tr.checkpoint_every == 0 or is_eval:
                    self._save(step)
                self.log(f"[{self.rl.dir.name}] step {step}/{tr.steps} acc={rec['train/acc']:.3f} "
                         f"H={rec.get('train/entropy', float('nan')):.4f} len={rec['train/response_len']:.1f} "
                         f"({rec['time/step']:.2f} s)")
                if kill_at and step == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)
            if not rec:  # resumed after the last step's checkpoint: take the summary from the logs
                rec, last_eval = self._logged_summary()
            summary = {"steps": tr.steps, "final": {k: v for k, v in rec.items() if k.startswith(("train/", "method/"))},
                       "eval": last_eval}
        finally:
            if tracker is not None:
                tracker.finish()
        self.rl.write_done(summary)
        return summary


def run(cfg, run_dir: str | Path, log=None) -> dict | None:
    """Train one embedded run into ``run_dir`` (skipped when its ``DONE`` exists; resumed when a
    checkpoint exists). Returns the ``DONE`` summary (None when skipped)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    return _Run(cfg, Path(run_dir), log=log).run()
