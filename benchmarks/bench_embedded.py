"""Speed of the embedded default, printed side by side in one run.

    python benchmarks/bench_embedded.py                 # RL step: embedded vs plain HF loop vs TRL (2 rounds); smoke preset
    python benchmarks/bench_embedded.py --sweep         # also time the whole default sweep (about 10 min)
    python benchmarks/bench_embedded.py --overhead      # each method's full update vs GRPO's (interleaved)

Measured on the same model (the cached tiny base model), task, batch (8 prompts x 8 responses, 2
optimizer mini-batches, method grpo with its reference KL) and thread count:

- ``embedded``: the trainer's own step (``core.embedded.trainer``): KV-cache sampling through the
  lean forward with log-probs gathered while sampling, one reference pass, two updates.
- ``plain``: a straightforward hand-written loop on ``transformers``: token-by-token sampling with
  ``Qwen2ForCausalLM`` and its ``DynamicCache``, a separate no-grad pass for the old log-probs, a
  reference pass, two updates through the same ``core.loss.harness_loss``.
- ``trl``: TRL's ``GRPOTrainer`` (``steps_per_generation=2`` = two optimizer steps per rollout batch,
  ``beta=0.001``); skipped with a message when ``trl`` is not installed. Never install trl beside
  verl (trl >= 1.0 breaks verl 0.9.1's model build); give it its own virtualenv that sees this one::

      python -m venv --system-site-packages .venv-trl && .venv-trl/bin/pip install trl==1.16.0
      .venv-trl/bin/python benchmarks/bench_embedded.py

Targets (docs/embedded.md): embedded <= 0.5x TRL per RL step; smoke preset <= 60 s; default sweep
<= 10 min on 2 cores at load ~1 (issue 12; shipped model, so no build); every method's full update
<= 1.05x GRPO's (--overhead). Wall time is what counts; CPU time is printed too, because on a shared
machine wall time also measures the neighbours.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _cfg(*overrides: str):
    from hydra import compose, initialize_config_dir

    import sweep  # noqa: F401

    with initialize_config_dir(config_dir=str(REPO / "sweeps"), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides))


class _Clock:
    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def bench_embedded(steps: int, threads: int) -> tuple[float, float]:
    import torch

    from core.embedded import trainer

    run = trainer._Run(_cfg("method=grpo"), Path(tempfile.mkdtemp()) / "r", log=lambda m: None)
    torch.set_num_threads(threads)
    import copy

    from core.embedded.forward import QwenWeights
    from core.embedded.model import base_model

    base = base_model(run.model_spec, progress=False)
    run.policy = copy.deepcopy(base)
    run.w, run.ref_w, run.ref_model = QwenWeights.of(run.policy), QwenWeights.of(base), base
    run.opt = torch.optim.AdamW(run.policy.parameters(), lr=run.train.lr)
    run._prepare_curriculum(base, 0)  # curriculum=none: one stage
    run._step(1)  # warm-up
    with _Clock() as c:
        for s in range(2, steps + 2):
            run._step(s)
    return c.wall / steps, c.cpu / steps


def bench_plain(steps: int, threads: int) -> tuple[float, float]:
    """A plain loop on transformers (no lean forward, no log-probs from sampling)."""
    import copy
    import random

    import numpy as np
    import torch
    from transformers import DynamicCache
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    from core.embedded import task
    from core.embedded.model import ModelSpec, base_model, encode_batch
    from core.loss import LossConfig, MethodSpec, harness_loss

    torch.set_num_threads(threads)
    cfg = _cfg("method=grpo")
    base = base_model(ModelSpec.from_cfg(cfg.model), progress=False)
    policy = copy.deepcopy(base)
    opt = torch.optim.AdamW(policy.parameters(), lr=float(cfg.train.lr))
    lcfg = LossConfig(policy_loss=MethodSpec("grpo", {}), use_kl_loss=True)
    tok, G, Bp, T = task.TOKENIZER, int(cfg.train.group_size), int(cfg.train.batch_prompts), int(cfg.train.max_response_len)
    grader = task.SynthGrader()

    def logprobs(model, ids, valid, P):
        pos = (valid.long().cumsum(-1) - 1).clamp(min=0)
        logits = model(input_ids=ids, attention_mask=valid.long(), position_ids=pos).logits[:, P - 1:-1]
        logp = torch.log_softmax(logits.float(), -1)
        return logp.gather(-1, ids[:, P:].unsqueeze(-1)).squeeze(-1), -(logp.exp() * logp).sum(-1)

    def step(seed):
        rng = random.Random(seed)
        rows = [p for p in [task.train_problem(rng) for _ in range(Bp)] for _ in range(G)]
        ids, valid, _ = encode_batch([task.prompt_text(p.question) for p in rows])
        P, B = ids.shape[1], ids.shape[0]
        with torch.no_grad():
            cache, cur, alive, out = DynamicCache(), ids, torch.ones(B, dtype=torch.bool), []
            am = valid.long()
            pos = (am.cumsum(-1) - 1).clamp(min=0)
            for t in range(T):
                logits = policy(input_ids=cur, attention_mask=am, position_ids=pos, past_key_values=cache,
                                use_cache=True).logits[:, -1]
                nxt = torch.multinomial(torch.softmax(logits, -1), 1).squeeze(-1)
                nxt = torch.where(alive, nxt, torch.full_like(nxt, tok.pad_id))
                out.append(nxt)
                alive = alive & (nxt != tok.eos_id)
                if not alive.any():
                    break
                cur, am = nxt.unsqueeze(-1), torch.cat([am, torch.ones(B, 1, dtype=torch.long)], 1)
                pos = pos[:, -1:] + 1
            resp = torch.stack(out, 1)
            mask = torch.ones_like(resp, dtype=torch.bool)
            ended = (resp == tok.eos_id).long().cumsum(1)
            mask = (ended - (resp == tok.eos_id).long()) == 0
            full, fvalid = torch.cat([ids, resp], 1), torch.cat([valid, mask], 1)
            old_lp, old_ent = logprobs(policy, full, fvalid, P)              # the extra pass
            ref_lp, _ = logprobs(base, full, fvalid, P)
        texts = [tok.decode(r[m].tolist()) for r, m in zip(resp, mask)]
        rew = torch.tensor([float(grader.grade(x, str(p.answer)).correct) for x, p in zip(texts, rows)])
        tl = torch.zeros(resp.shape)
        tl[torch.arange(B), mask.sum(-1) - 1] = rew
        adv, _ = compute_grpo_outcome_advantage(tl, mask.float(), np.repeat(np.arange(Bp), G))
        mb = B // 2
        for s in range(0, B, mb):
            r = slice(s, s + mb)
            lp, ent = logprobs(policy, full[r], fvalid[r], P)
            data = {"response_mask": mask[r].float(), "old_log_probs": old_lp[r], "advantages": adv[r],
                    "ref_log_prob": ref_lp[r], "old_entropy": old_ent[r], "dp_size": 1,
                    "batch_num_tokens": int(mask[r].sum()), "global_batch_size": mb}
            loss, _ = harness_loss(lcfg, {"log_probs": lp, "entropy": ent}, data)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
            opt.step()

    step(0)
    with _Clock() as c:
        for s in range(1, steps + 1):
            step(s)
    return c.wall / steps, c.cpu / steps


def bench_trl(steps: int, threads: int) -> tuple[float, float] | str:
    try:
        import trl  # noqa: F401
    except ImportError:
        return "skipped: trl is not installed (give it its own virtualenv: see this script's docstring)"
    import copy
    import random

    import torch
    from datasets import Dataset
    from tokenizers import Regex, decoders, models, pre_tokenizers
    from tokenizers import Tokenizer as HFTok
    from transformers import PreTrainedTokenizerFast
    from trl import GRPOConfig, GRPOTrainer

    from core.embedded import task
    from core.embedded.model import ModelSpec, base_model

    torch.set_num_threads(threads)
    cfg = _cfg("method=grpo")
    model = copy.deepcopy(base_model(ModelSpec.from_cfg(cfg.model), progress=False))
    tk = HFTok(models.WordLevel({t: i for i, t in enumerate(task.TOKENIZER.tokens)}, unk_token="<pad>"))
    tk.pre_tokenizer = pre_tokenizers.Split(Regex(r"\\boxed\{|[\s\S]"), behavior="isolated")
    tk.decoder = decoders.Fuse()
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    rng = random.Random(0)
    probs = [task.train_problem(rng) for _ in range(8 * (steps + 2))]
    ds = Dataset.from_list([{"prompt": "<s>" + task.prompt_text(p.question), "answer": str(p.answer)} for p in probs])
    grader = task.SynthGrader()

    def reward(completions, answer, **kw):
        return [float(grader.grade(c, a).correct) for c, a in zip(completions, answer)]

    G, Bp = int(cfg.train.group_size), int(cfg.train.batch_prompts)
    out = tempfile.mkdtemp()
    args = GRPOConfig(output_dir=out, per_device_train_batch_size=Bp * G // 2, steps_per_generation=2,
                      num_generations=G, max_completion_length=int(cfg.train.max_response_len), temperature=1.0,
                      learning_rate=float(cfg.train.lr), beta=0.001, max_steps=2 * (steps + 1), use_cpu=True,
                      report_to="none", save_strategy="no", logging_steps=1000, disable_tqdm=True, seed=0,
                      dataloader_num_workers=0, bf16=False, shuffle_dataset=False)
    model_dir = Path(out) / "base"  # TRL builds its reference model from the model's path
    model.save_pretrained(model_dir)
    hf_tok.save_pretrained(model_dir)
    trainer = GRPOTrainer(model=str(model_dir), reward_funcs=reward, args=args, train_dataset=ds,
                          processing_class=hf_tok)

    from transformers import TrainerCallback

    times: list[tuple[float, float]] = []

    class Timer(TrainerCallback):
        def on_step_end(self, *a, **k):
            times.append((time.perf_counter(), time.process_time()))

    trainer.add_callback(Timer())
    trainer.train()
    shutil.rmtree(out, ignore_errors=True)
    # RL step = 2 optimizer steps; skip the first RL step (warm-up)
    (w0, c0), (w1, c1) = times[1], times[-1]
    n = (len(times) - 2) / 2
    return (w1 - w0) / n, (c1 - c0) / n


def bench_smoke() -> float:
    root = Path(tempfile.mkdtemp())
    env = {**os.environ}
    subprocess.run([sys.executable, "-m", "core.embedded", "preset=smoke"], cwd=REPO, env=env, check=True,
                   capture_output=True)  # the smoke base model is cached (as in CI after the first test)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "sweep.py", "preset=smoke", f"runs_root={root}", "backend.progress=false"],
                   cwd=REPO, env=env, check=True, capture_output=True)
    shutil.rmtree(root, ignore_errors=True)
    return time.perf_counter() - t0


OVERHEAD_METHODS = ("grpo", "en", "adv", "mask", "clip", "cov", "high_en", "sent")


def bench_overhead(rounds: int, reps: int, threads: int) -> dict[str, list[float]]:
    """Each method's full update (forward of both mini-batches with grad, ``harness_loss``, backward) on
    one fixed rollout batch of the base model, in seconds; methods interleaved within each round (the
    order rotates every round) so a slow spell of a shared machine hits them alike. Every method gets
    its per-scale settings (``method=<m>`` composes sweeps/method_scale/); no optimizer step, so every
    repetition does the same work. Returns seconds per update, one entry per round."""
    import random

    import torch

    from core.embedded import task
    from core.embedded.calibrate import graded_rollout
    from core.embedded.forward import QwenWeights
    from core.embedded.model import ModelSpec, base_model
    from core.embedded.policy import policy_outputs
    from core.embedded.spec import TrainSpec
    from core.loss import LossConfig, MethodSpec, harness_loss, method_from_config, precompute_selection

    torch.set_num_threads(threads)
    cfg = _cfg("method=grpo")
    tr = TrainSpec.from_cfg(cfg.train)
    model = base_model(ModelSpec.from_cfg(cfg.model), progress=False)
    w = QwenWeights.of(model)
    roll, adv = graded_rollout(w, tr, random.Random(7), torch.Generator().manual_seed(7), task.SynthGrader())
    with torch.no_grad():
        ref_lp, _ = policy_outputs(w, roll, want_entropy=False)
    B = roll.response.shape[0]
    setups = {}
    for name in OVERHEAD_METHODS:
        mcfg = dict(_cfg(f"method={name}").method)
        mcfg.pop("name")
        lc = LossConfig(policy_loss=MethodSpec(name, mcfg))
        method = method_from_config(lc.policy_loss)
        lc.use_kl_loss, lc.calculate_entropy, lc.loss_agg_mode = method.requires_ref(), True, method.params.loss_agg_mode
        sel = precompute_selection(method, old_log_prob=roll.log_prob, advantages=adv, response_mask=roll.mask,
                                   old_entropy=roll.entropy)
        setups[name] = (lc, sel)
    mb = tr.mini_batch_prompts * tr.group_size

    def update(name):
        lc, sel = setups[name]
        torch.manual_seed(0)
        for s in range(0, B, mb):
            r = slice(s, s + mb)
            lp, ent = policy_outputs(w, roll, r, buckets=tr.length_buckets)
            m = roll.mask[r]
            data = {"response_mask": m.float(), "old_log_probs": roll.log_prob[r], "advantages": adv[r],
                    "old_entropy": roll.entropy[r], "ref_log_prob": ref_lp[r], "dp_size": 1,
                    "batch_num_tokens": int(m.sum()), "global_batch_size": mb, **{k: v[r] for k, v in sel.items()}}
            loss, _ = harness_loss(lc, {"log_probs": lp, "entropy": ent}, data)
            model.zero_grad(set_to_none=True)
            loss.backward()

    for name in OVERHEAD_METHODS:  # warm-up
        update(name)
    wall: dict[str, list[float]] = {n: [] for n in OVERHEAD_METHODS}
    cpu: dict[str, list[float]] = {n: [] for n in OVERHEAD_METHODS}
    for k in range(rounds):
        acc = {n: [0.0, 0.0] for n in OVERHEAD_METHODS}
        for i in range(reps):  # finest interleaving: one update of every method in turn, the order rotating
            j = (k * reps + i) % len(OVERHEAD_METHODS)
            for name in OVERHEAD_METHODS[j:] + OVERHEAD_METHODS[:j]:
                w0, c0 = time.perf_counter(), time.process_time()
                update(name)
                acc[name][0] += time.perf_counter() - w0
                acc[name][1] += time.process_time() - c0
        for name, (a, b) in acc.items():
            wall[name].append(a / reps)
            cpu[name].append(b / reps)
    return {"wall": wall, "cpu": cpu}


def _median(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


def print_overhead(rounds: int, reps: int, threads: int) -> None:
    res = bench_overhead(rounds, reps, threads)
    print(f"\nfull update (forward + loss + backward, 2 mini-batches of 4 x 8, per-scale settings) per method vs "
          f"GRPO, {threads} thread(s), {rounds} rounds x {reps} updates, every method in turn within a round")
    print("CPU time is the primary measure on a shared machine (wall time also measures the neighbours); "
          "target <= 1.05x GRPO")
    print(f"{'method':<10}{'cpu s/update':>13}{'cpu vs grpo':>13}{'wall s/update':>15}{'wall vs grpo':>14}"
          f"  cpu ratio per round")
    for name in res["cpu"]:
        rc = [t / g for t, g in zip(res["cpu"][name], res["cpu"]["grpo"])]
        rw = [t / g for t, g in zip(res["wall"][name], res["wall"]["grpo"])]
        print(f"{name:<10}{_median(res['cpu'][name]):>13.4f}{_median(rc):>12.3f}x{_median(res['wall'][name]):>15.4f}"
              f"{_median(rw):>13.3f}x  {' '.join(f'{r:.3f}' for r in rc)}"
              f"{'' if _median(rc) <= 1.05 else '  (over the 1.05x target)'}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5, help="timed RL steps per contender and round")
    ap.add_argument("--rounds", type=int, default=2,
                    help="rounds of (embedded, plain, trl) in turn; the ratio of each round is printed and the "
                         "median taken, so a slow spell of a shared machine hits every contender alike")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--sweep", action="store_true", help="also run and time scripts/run_default.sh")
    ap.add_argument("--skip", default="", help="comma list of contenders to skip: plain,trl,smoke")
    ap.add_argument("--overhead", action="store_true",
                    help="only the step-level overhead per method: each method's full update vs GRPO's")
    ap.add_argument("--overhead-rounds", type=int, default=5)
    ap.add_argument("--overhead-reps", type=int, default=3)
    args = ap.parse_args()
    if args.overhead:
        print_overhead(args.overhead_rounds, args.overhead_reps, args.threads)
        print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        return 0
    skip = set(filter(None, args.skip.split(",")))
    contenders = {"embedded": bench_embedded}
    if "plain" not in skip:
        contenders["plain (transformers loop)"] = bench_plain
    if "trl" not in skip:
        contenders["trl GRPOTrainer"] = bench_trl
    rounds: list[dict] = []
    for _ in range(max(1, args.rounds)):
        rounds.append({name: fn(args.steps, args.threads) for name, fn in contenders.items()})
    print(f"\nRL step, 8 prompts x 8 responses, 2 mini-batches, grpo, {args.threads} thread(s), "
          f"{args.steps} timed steps per contender, {len(rounds)} round(s)")
    print(f"{'round':<7}{'contender':<28}{'wall s/step':>12}{'cpu s/step':>12}{'vs TRL (wall)':>15}")
    trl_name = "trl GRPOTrainer"
    ratios: dict[str, list[float]] = {}
    for i, row in enumerate(rounds, 1):
        ref = row.get(trl_name)
        for name, v in row.items():
            if isinstance(v, str):
                print(f"{i:<7}{name:<28}{v}")
                continue
            ratio = ""
            if isinstance(ref, tuple):
                ratios.setdefault(name, []).append(v[0] / ref[0])
                ratio = f"{v[0] / ref[0]:.2f}x"
            print(f"{i:<7}{name:<28}{v[0]:>12.3f}{v[1]:>12.3f}{ratio or 'n/a':>15}")
    if "embedded" in ratios:
        r = ratios["embedded"]
        med = sorted(r)[len(r) // 2] if len(r) % 2 else sum(sorted(r)[len(r) // 2 - 1:len(r) // 2 + 1]) / 2
        print(f"target embedded <= 0.5x TRL: median {med:.2f}x over {len(r)} round(s) "
              f"({', '.join(f'{x:.2f}' for x in r)}) -> {'OK' if med <= 0.5 else 'MISSED'}")
    if "smoke" not in skip:
        s = bench_smoke()
        print(f"smoke preset end to end (python sweep.py preset=smoke, base model cached): {s:.1f} s "
              f"(target <= 60 s: {'OK' if s <= 60 else 'MISSED'})")
    if args.sweep:
        root = Path(tempfile.mkdtemp())
        t0 = time.perf_counter()
        env = {**os.environ, "RUNS_ROOT": str(root), "OUT": str(root / "figs")}
        subprocess.run(["bash", "scripts/run_default.sh"], cwd=REPO, env=env, check=True)
        m = (time.perf_counter() - t0) / 60
        print(f"default sweep (24 runs, 2 jobs x 1 thread): {m:.1f} min (target <= 10 min at load ~1: "
              f"{'OK' if m <= 10 else 'MISSED'}); runs in {root}")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(wall times include any other load on the machine)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
