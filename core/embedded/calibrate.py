"""``python -m core.embedded.calibrate``: apply the calibration protocol of docs/calibration.md.

Measures, on the shipped base model and base-model rollouts of the default preset (no optimizer
step, no evaluation, no accuracy read), the quantities the protocol's rules need, derives each
per-scale coefficient and writes ``sweeps/method_scale/tiny_<method>.yaml`` with the derivation in
comments.

    python -m core.embedded.calibrate              # measure, derive, write the files
    python -m core.embedded.calibrate --dry-run    # print the derivation only
    python -m core.embedded.calibrate --panel-report runs/panel_en   # the dose-response panel's table

Rule F (token fractions): the paper's fraction with expected-count rounding (``count_rounding:
expected``). Rule E (entropy coefficients): lambda = RHO * median ||g_pg|| / median ||g_H|| over the
mini-batches of ``BATCHES`` rollout batches sampled with ``SEED``; every rule-E field takes this lambda.

Which method gets a file, and which field follows which rule, is declared by the methods
(``LossMethod.scale_rules``, ``scale_probe``, ``scale_note``; docs/methods.md): a new method with a
per-scale field needs no edit here. ``g_H`` is the gradient of the rule-E term of the method whose
``scale_probe`` is ``"g_h"`` (the token-mean entropy bonus) per unit coefficient, and ``g_pg`` that
method's loss with the coefficient at 0 (its policy-gradient and KL terms).
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[2]
from core.config import METHOD_SCALE_DIR as SCALE_DIR  # noqa: E402 - where the per-scale files live

#: Rule E's pre-set ratio ||lambda g_H|| / ||g_pg|| (docs/calibration.md; fixed before measuring)
RHO = 0.1
#: rollout batches measured (2 mini-batches each) and their seed (not a training seed)
BATCHES = 16
SEED = 12345
#: the paper's token fraction of Clip-Cov, KL-Cov and SENT's T_high-cov (SENT Table VII, App. C-5/C-6)
PAPER_FRAC = 2e-4
PAPER_ENTROPY_COEF = 0.001


def _cfg(*overrides: str):
    from core.config import compose

    return compose(list(overrides))


def _scaled() -> dict:
    """``{name: class}`` of the registered methods with per-scale fields, in the paper's order."""
    import methods

    classes = {n: methods.get_method_cls(n) for n in methods.method_names()}
    order = lambda n: (classes[n].paper_order if classes[n].paper_order is not None else float("inf"), n)  # noqa: E731
    return {n: classes[n] for n in sorted(classes, key=order) if classes[n].scale_rules}


def _probes() -> dict[str, tuple[str, str]]:
    """``{measurement key: (method, rule-E field)}``: the rule-E terms whose gradients are measured."""
    out = {}
    for name, cls in _scaled().items():
        if cls.scale_probe:
            fields = [f for f, rule in cls.scale_rules.items() if rule == "E"]
            if len(fields) != 1:
                raise ValueError(f"method {name!r} sets scale_probe but has {len(fields)} rule-E fields (needs 1)")
            out[cls.scale_probe] = (name, fields[0])
    if "g_h" not in out:
        raise ValueError("no method sets scale_probe = 'g_h' (rule E's token-mean entropy bonus)")
    return out


def _loss_cfg(name: str, **params):
    from core.loss import LossConfig, MethodSpec, method_from_config

    lc = LossConfig(policy_loss=MethodSpec(name, params))
    m = method_from_config(lc.policy_loss)
    lc.use_kl_loss = m.requires_ref()
    lc.calculate_entropy = True
    lc.loss_agg_mode = m.params.loss_agg_mode
    return lc


def _flat_grad(loss, params) -> torch.Tensor:
    gs = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1) for g, p in zip(gs, params)])


def graded_rollout(w, tr, rng, gen, grader):
    """One rollout batch of the default preset's shape from weights ``w``: ``tr.batch_prompts`` training
    problems drawn with ``rng``, ``tr.group_size`` samples each (``gen``), graded, and their GRPO
    advantages (verl's). Returns ``(rollout, advantages [B, T])``."""
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    from core.embedded import task
    from core.embedded.model import encode_batch
    from core.embedded.sampler import sample

    probs = [task.train_problem(rng) for _ in range(tr.batch_prompts)]
    rows = [p for p in probs for _ in range(tr.group_size)]
    ids, valid, _ = encode_batch([task.prompt_text(p.question) for p in rows])
    with torch.no_grad():
        roll = sample(w, ids, valid, max_new_tokens=tr.max_response_len, generator=gen)
    reward = torch.tensor([float(grader.grade(t, str(p.answer)).correct) for t, p in zip(roll.texts(), rows)])
    B, T = roll.response.shape
    tl = torch.zeros(B, T)
    tl[torch.arange(B), (roll.lengths() - 1).clamp(min=0)] = reward
    adv, _ = compute_grpo_outcome_advantage(token_level_rewards=tl, response_mask=roll.mask.float(),
                                            index=np.repeat(np.arange(tr.batch_prompts), tr.group_size))
    return roll, adv


def measure(batches: int = BATCHES, seed: int = SEED, threads: int = 1, log=print, overrides: tuple = ()) -> dict:
    """Gradient norms (GRPO, entropy, high-entropy) and token counts per optimizer mini-batch of
    base-model rollouts of the default preset. Reads no reward curve or benchmark: the rewards only
    enter through GRPO's advantages, as in training."""
    from core.embedded import task
    from core.embedded.forward import QwenWeights
    from core.embedded.model import ModelSpec, base_model, base_model_info
    from core.embedded.policy import policy_outputs
    from core.embedded.spec import TrainSpec
    from core.embedded.trainer import _seed_of
    from core.loss import harness_loss
    from methods.common import covariance

    torch.set_num_threads(threads)
    cfg = _cfg(*overrides)
    spec, tr = ModelSpec.from_cfg(cfg.model), TrainSpec.from_cfg(cfg.train)
    model = base_model(spec, progress=True)
    info = base_model_info(spec)
    w = QwenWeights.of(model)
    params = [p for p in model.parameters() if p.requires_grad]
    probes = _probes()
    ref, ref_field = probes["g_h"]
    pg = _loss_cfg(ref, **{ref_field: 0.0})                  # the policy-gradient (and KL) terms alone
    unit = {key: _loss_cfg(m, **{f: 1.0}) for key, (m, f) in probes.items()}  # each rule-E term at coefficient 1
    grader = task.SynthGrader()
    rows_out = []
    t0 = time.time()
    for b in range(batches):
        rng = random.Random(_seed_of("calibrate-prompts", seed, b))
        gen = torch.Generator().manual_seed(_seed_of("calibrate-sample", seed, b))
        torch.manual_seed(_seed_of("calibrate-torch", seed, b))
        roll, adv = graded_rollout(w, tr, rng, gen, grader)
        B = roll.response.shape[0]
        mb = tr.mini_batch_prompts * tr.group_size
        for s in range(0, B, mb):
            r = slice(s, s + mb)
            lp, ent = policy_outputs(w, roll, r, buckets=tr.length_buckets)
            m = roll.mask[r]
            data = {"response_mask": m.float(), "old_log_probs": roll.log_prob[r], "advantages": adv[r],
                    "old_entropy": roll.entropy[r], "ref_log_prob": lp.detach(), "dp_size": 1,
                    "batch_num_tokens": int(m.sum()), "global_batch_size": mb}
            l_pg, _ = harness_loss(pg, {"log_probs": lp, "entropy": ent}, data)
            l_unit = {key: harness_loss(lc, {"log_probs": lp, "entropy": ent}, data)[0] for key, lc in unit.items()}
            g_pg = _flat_grad(l_pg, params)
            g = {key: -_flat_grad(loss - l_pg, params) for key, loss in l_unit.items()}  # each bonus term's gradient
            n = int(m.sum())
            cov = covariance(roll.log_prob[r], adv[r], m)[m]
            rows_out.append({"batch": b, "tokens": n, "g_pg": float(g_pg.norm()),
                             **{key: float(v.norm()) for key, v in g.items()}, "dot": float(g_pg @ g["g_h"]),
                             "zero_adv_share": float((adv[r][m] == 0).float().mean()),
                             "cov_band_share": float(((cov > 1.0) & (cov < 5.0)).float().mean())})
        log(f"[calibrate] rollout batch {b + 1}/{batches} ({time.time() - t0:.0f} s)")
    return {"rows": rows_out, "base_model": info, "seed": seed, "batches": batches,
            "torch": torch.__version__, "threads": threads}


def derive(meas: dict, rho: float = RHO) -> dict:
    """The per-scale values and the numbers behind them (docs/calibration.md, rules E and F)."""
    rows = meas["rows"]
    med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
    g_pg, g_h, g_high = med("g_pg"), med("g_h"), med("g_high")
    lam_raw = rho * g_pg / g_h
    lam = float(f"{lam_raw:.2g}")                            # two significant digits
    n = statistics.mean(r["tokens"] for r in rows)
    dots = [r["dot"] for r in rows]
    hh = statistics.mean(r["g_h"] ** 2 for r in rows)
    cos = statistics.mean(r["dot"] / (r["g_pg"] * r["g_h"]) for r in rows if r["g_pg"] > 0 and r["g_h"] > 0)
    return {
        "entropy_coef": lam, "entropy_coef_unrounded": lam_raw, "rho": rho,
        "median_g_pg": g_pg, "median_g_h": g_h, "median_g_high": g_high,
        "high_en_ratio_at_lambda": lam * g_high / g_pg,
        "cos_pg_h": cos, "lambda_entropy_neutral": -statistics.mean(dots) / hh,
        "mini_batches": len(rows), "zero_grad_share": sum(r["g_pg"] == 0 for r in rows) / len(rows),
        "tokens_per_loss_call": n, "expected_count": PAPER_FRAC * n, "expected_count_sent": PAPER_FRAC * 0.8 * n,
        "floor_share": 1.0 / n, "cov_band_share": statistics.mean(r["cov_band_share"] for r in rows),
        "base_sha256": meas["base_model"]["sha256"], "seed": meas["seed"], "batches": meas["batches"],
    }


def render(d: dict, commit: str) -> dict[str, str]:
    """``tiny_<method>.yaml`` texts, each with its derivation."""
    head = (f"# Embedded scale (model=tiny) settings for {{who}}, written by `python -m core.embedded.calibrate`\n"
            f"# (docs/calibration.md; commit {commit}; base model sha256 {d['base_sha256'][:16]}). Do not edit\n"
            f"# by hand: rerun the command. Every field not set here keeps the paper's value.\n")
    n = d["tokens_per_loss_call"]
    rule_f = (f"# Rule F: the paper's fraction r = {PAPER_FRAC:g} of the tokens of a loss call, with expected-count\n"
              f"# rounding (k = floor(r n) + Bernoulli(frac. part), no minimum of 1). Measured: n = {n:.0f} response\n"
              f"# tokens per loss call (mean over {d['mini_batches']} base-model mini-batches), so E[k] = {{ek:.3f}} tokens per\n"
              f"# call, a share of {PAPER_FRAC:g} as in the paper's regime (1 token per <= 8k-token micro-batch: a share of\n"
              f"# 1.2e-4 .. 5e-4). The reference rounding max(1, int(r n)) would act on 1 token = {d['floor_share']:.1e}.\n")
    rule_e = (f"# Rule E: lambda = rho* x median||g_pg|| / median||g_H|| on the shipped base model, rho* = {d['rho']:g} (fixed\n"
              f"# before measuring). Measured over {d['mini_batches']} mini-batches ({d['batches']} rollout batches, seed\n"
              f"# {d['seed']}): median ||g_pg|| = {d['median_g_pg']:.4g}, median ||g_H|| = {d['median_g_h']:.4g} ->\n"
              f"# lambda = {d['entropy_coef_unrounded']:.4g}, rounded to 2 significant digits. Not used, reported: cos(g_pg, g_H)\n"
              f"# = {d['cos_pg_h']:+.3f}; first-order entropy-neutral lambda_0 = {d['lambda_entropy_neutral']:.3g}.\n"
              f"# The paper's value (LLM scale): {PAPER_ENTROPY_COEF:g}.\n")
    values = {**d, "cov_band_pct": 100 * d["cov_band_share"]}  # what a method's scale_note may cite
    out = {}
    for name, cls in _scaled().items():
        text, lines = head.format(who=cls.label or name), []
        for field, rule in cls.scale_rules.items():
            kind, _, within = rule.partition("/")
            if kind == "E":
                text += rule_e
                lines.append(f"{field}: {d['entropy_coef']:g}\n")
            elif kind == "F":
                share = _default(cls, within) if within else 1.0
                text += rule_f.format(ek=PAPER_FRAC * share * n)
                text += f"# r counts within the {within} = {share:g} share of the tokens.\n" if within else ""
                lines += [f"{field}: {PAPER_FRAC:g}\n", "count_rounding: expected\n"]
            else:
                raise ValueError(f"{name}.scale_rules[{field!r}] = {rule!r}: the rules are 'E', 'F' and 'F/<field>'")
        if cls.scale_note:
            text += "".join(f"# {line}\n" for line in cls.scale_note.format(**values).splitlines())
        out[name] = text + "".join(dict.fromkeys(lines))
    return out


def _default(cls, field: str) -> float:
    """The paper default of ``field`` in ``cls``'s hyperparameters."""
    import dataclasses

    return float(next(f.default for f in dataclasses.fields(cls.params_cls) if f.name == field))


def panel_table(runs_dir: Path, key: str = "method.entropy_coef") -> str:
    """The dose-response panel as Markdown: one row per finished run under ``runs_dir`` (value of ``key``
    from the run name, seed), with the policy's token entropy (``train/entropy``: step 1 and the mean of
    the last 5 steps) and the mean pass@1 over the benchmarks at step 0 and at the last evaluation."""
    rows = []
    for d in sorted(p for p in Path(runs_dir).iterdir() if (p / "DONE").exists()):
        parts = dict(x.partition("=")[::2] for x in d.name.split(","))
        train = [json.loads(x) for x in (d / "train.jsonl").read_text().splitlines()]
        acc: dict[int, list[float]] = {}
        for f in sorted((d / "samples").glob("*.jsonl")):
            by_step: dict[int, list[float]] = {}
            for line in f.read_text().splitlines():
                r = json.loads(line)
                by_step.setdefault(int(r["eval_step"]), []).append(float(r["correct"]))
            for step, v in by_step.items():
                acc.setdefault(step, []).append(sum(v) / len(v))
        first, last = min(acc), max(acc)
        rows.append((float(parts.get(key, "nan")), int(parts["seed"]), train[0]["train/entropy"],
                     statistics.mean(r["train/entropy"] for r in train[-5:]),
                     statistics.mean(acc[first]), statistics.mean(acc[last]), last))
    out = [f"| {key} | seed | entropy step 1 | entropy end | pass@1 step 0 | pass@1 end (step) |", "|---|---|---|---|---|---|"]
    out += [f"| {v:g} | {sd} | {h0:.3f} | {h1:.3f} | {a0:.3f} | {a1:.3f} ({st}) |" for v, sd, h0, h1, a0, a1, st in sorted(rows)]
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.embedded.calibrate", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dry-run", action="store_true", help="print the derivation; write nothing")
    ap.add_argument("--batches", type=int, default=BATCHES)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=SCALE_DIR, help="where tiny_<method>.yaml go")
    ap.add_argument("--measurements", type=Path, help="also write the raw measurements (JSON) here")
    ap.add_argument("--from-measurements", type=Path,
                    help="derive from a measurements JSON written by --measurements instead of measuring again")
    ap.add_argument("--panel-report", type=Path, metavar="RUNS_DIR",
                    help="print the dose-response panel of the finished runs in RUNS_DIR (Markdown) and exit")
    ap.add_argument("--panel-key", default="method.entropy_coef", help="the override the panel varies")
    args = ap.parse_args(argv)
    if args.panel_report:
        print(panel_table(args.panel_report, args.panel_key))
        return 0
    from core.runlog import git_state

    if args.from_measurements:
        meas = json.loads(args.from_measurements.read_text())
        meas.pop("derived", None)
    else:
        meas = measure(batches=args.batches, threads=args.threads, log=lambda m: print(m, file=sys.stderr))
    d = derive(meas)
    print(json.dumps({k: (round(v, 6) if isinstance(v, float) else v) for k, v in d.items()}, indent=2))
    if args.measurements and not args.dry_run:
        args.measurements.write_text(json.dumps({"derived": d, **meas}, indent=1) + "\n")
    sha, dirty = git_state()
    texts = render(d, sha[:12] + ("+dirty" if dirty else ""))
    for method, text in texts.items():
        if args.dry_run:
            print(f"--- tiny_{method}.yaml\n{text}")
        else:
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / f"tiny_{method}.yaml").write_text(text)
    if not args.dry_run:
        print(f"wrote {len(texts)} files to {args.out}")
    return 0 if all(math.isfinite(v) for v in (d["entropy_coef"], d["tokens_per_loss_call"])) else 1


if __name__ == "__main__":
    raise SystemExit(main())
