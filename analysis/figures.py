"""The paper's figures (1, 3-9, 11, 12) redrawn from run logs (matplotlib Agg, seaborn's style).

Each builder returns a ``FigureResult`` holding a matplotlib Figure, or raises ``MissingInputs``
when none of the runs it needs exist; a figure some of whose methods or panels are missing is drawn
with what exists and marked ``partial`` with the reason. The numbers come from ``curves`` (means
over seeds with standard-error bands); nothing here computes statistics.

Benchmarks: the paper's Fig. 1 and 12 follow AIME24 (its twin ``synth_1`` for the embedded model);
Figs. 5, 6 and 9 do not say, and we plot the mean over the six benchmarks. Where a k exceeds the
samples per problem, the largest admissible k is used and the axis label says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from analysis import curves  # noqa: E402
from analysis.load import Runs  # noqa: E402
from analysis.paper import (BENCH_LABEL, BENCHMARKS, EMBEDDED_MODELS, METHOD_LABEL, STAGES_LABEL,  # noqa: E402
                            TWIN_OF, model_label)
from analysis.registry import MissingInputs, register  # noqa: E402
from analysis.scores import step_scores  # noqa: E402
from analysis.select import Arm, method_arm, stage_arms  # noqa: E402

ROLE_1P5B = ("tiny", "r1_distill_qwen_1p5b")
M7B, M14B = "qwen2p5_math_7b", "qwen3_14b"
COLORS = {"grpo": "#4d4d4d", "en": "#ff7f0e", "adv": "#8c564b", "mask": "#2ca02c", "clip": "#9467bd",
          "cov": "#17becf", "high_en": "#bcbd22", "sent": "#d62728", "cur": "#e377c2", "low": "#1f77b4",
          "low_cov": "#7f7f7f", "sent_released": "#aa3333", "base": "#999999"}
STAGE_COLORS = {1: "#1f77b4", 2: "#d62728", 3: "#2ca02c"}
_STYLED = False


def _style():
    """seaborn's whitegrid/paper look through the copy matplotlib ships (importing seaborn itself
    costs about a second and draws nothing we need)."""
    global _STYLED
    if not _STYLED:
        plt.style.use(["seaborn-v0_8-whitegrid", "seaborn-v0_8-paper"])
        # a fixed title position: matplotlib's automatic one re-measures every tick label of every axes
        plt.rcParams.update({"axes.titlesize": 9, "axes.labelsize": 8, "legend.fontsize": 7, "axes.titley": 1.0,
                             "axes.titlepad": 4.0})
        _STYLED = True


@dataclass
class FigureResult:
    name: str
    fig: object  # matplotlib Figure
    status: str  # "built" or "partial"
    reasons: list[str] = field(default_factory=list)
    caption: str = ""


def _model_tag(model: str) -> str:
    return f"{model} (embedded twin of 1.5B)" if model in EMBEDDED_MODELS else model_label(model)


def _bench_for(runs: Runs, arms: list[Arm], paper_bench: str) -> str | None:
    """Our key for a paper benchmark among these arms' runs: itself or its embedded twin."""
    s = step_scores(runs)
    ids = [r for a in arms for r in a.run_ids]
    present = set(pd.unique(s.loc[s["run_id"].isin(ids), "benchmark"]))
    if paper_bench in present:
        return paper_bench
    twin = TWIN_OF.get(paper_bench)
    return twin if twin in present else None


def _runs_by_model(runs: Runs) -> list[tuple[str, list[str]]]:
    """``(model, run ids)`` of the usable runs, models in order of first appearance."""
    meta = runs.usable_meta()
    if meta.empty:
        return []
    return [(m, list(meta.loc[meta["model"] == m, "run_id"])) for m in dict.fromkeys(meta["model"])]


def _arms(runs: Runs, model: str, methods) -> dict[str, Arm]:
    meta = runs.usable_meta()
    out = {}
    for m in methods:
        a = method_arm(meta, model, m)
        if a is not None:
            out[m] = a
    return out


def _band(ax, x, mean, se, label, color, **kw):
    x, mean, se = np.asarray(x, float), np.asarray(mean, float), np.asarray(se, float)
    ax.plot(x, mean, label=label, color=color, lw=1.4, **kw)
    ok = ~np.isnan(se)
    if ok.any():
        ax.fill_between(x[ok], (mean - se)[ok], (mean + se)[ok], color=color, alpha=0.2, lw=0)


def _seeds_label(label: str, arm: Arm) -> str:
    return f"{label} (n={len(arm.seeds)})"


def _stage_lines(ax, runs, arm):
    for i, s in enumerate(curves.stage_starts(runs, arm)):
        ax.axvline(s, color="#d62728", ls=":", lw=0.9, alpha=0.7,
                   label="SENT: next curriculum stage" if i == 0 else None)


def _entropy_panel(ax, runs, arms: dict[str, Arm], labels: dict[str, str] | None = None, colors=None) -> list[str]:
    drawn = []
    for key, arm in arms.items():
        c = curves.train_curve(runs, arm, "train/entropy")
        if c.empty:
            continue
        lab = (labels or {}).get(key, METHOD_LABEL.get(key, key))
        _band(ax, c["step"], c["mean"], c["se"], _seeds_label(lab, arm), (colors or COLORS).get(key, None))
        if key == "sent":
            _stage_lines(ax, runs, arm)
        drawn.append(key)
    ax.set_xlabel("training step")
    ax.set_ylabel("token entropy")
    return drawn


def _eval_panel(ax, runs, arms: dict[str, Arm], metric: str, k: int, paper_bench: str | None) -> tuple[list, str]:
    """metric@k over training; returns (drawn arm keys, y label)."""
    alist = list(arms.values())
    kk = curves.admissible_k(runs, alist, k)
    bench = None if paper_bench is None else _bench_for(runs, alist, paper_bench)
    if paper_bench is not None and bench is None:
        return [], ""
    drawn = []
    for key, arm in arms.items():
        c = curves.eval_curve(runs, arm, metric, kk, bench)
        if c.empty:
            continue
        _band(ax, c["eval_step"], c["mean"], c["se"], _seeds_label(METHOD_LABEL.get(key, key), arm),
              COLORS.get(key), marker="o", ms=3)
        if key == "sent":
            _stage_lines(ax, runs, arm)
        drawn.append(key)
    name = {"pass": "Pass", "avg": "Avg"}[metric]
    where = (f"{bench}" + (f" ({BENCH_LABEL[paper_bench]} twin)" if bench != paper_bench else "")
             if paper_bench else "mean over benchmarks")
    ylab = f"{name}@{kk} (%) — {where}"
    if kk != k:
        ylab += f"\n[k={k} needs {k} samples/problem; largest admissible k={kk}]"
    ax.set_xlabel("training step (evaluation)")
    ax.set_ylabel(ylab, fontsize=7)
    return drawn, ylab


def _finish(name: str, fig, wanted: dict[str, tuple], drawn: dict[str, list], caption: str,
            extra_reasons: list[str] | None = None, legend_every_axes: bool = True) -> FigureResult:
    """Status from what each model was meant to show vs what it showed."""
    reasons = list(extra_reasons or [])
    for model, want in wanted.items():
        miss = [METHOD_LABEL.get(m, m) for m in want if m not in drawn.get(model, [])]
        if miss:
            reasons.append(f"{model}: no runs/logs for {', '.join(miss)}")
    for ax in fig.axes:
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7, frameon=False)
            if not legend_every_axes:
                break
    fig.tight_layout()
    return FigureResult(name, fig, "partial" if reasons else "built", reasons, caption)


def _models_with(runs, models, methods) -> list[tuple[str, dict[str, Arm]]]:
    out = []
    for m in models:
        arms = _arms(runs, m, methods)
        if arms:
            out.append((m, arms))
    return out


def _require(rows, what: str):
    if not rows:
        raise MissingInputs(what)


# ---------------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------------

@register("fig1_entropy_pass32", "figure",
          "Fig. 1: token entropy (train.jsonl) and Pass@32 on AIME24 (samples/) over training, GRPO vs "
          "w/ En vs SENT; mean over seeds, band = standard error")
def fig1(runs: Runs) -> FigureResult:
    methods = ("grpo", "en", "sent")
    rows = _models_with(runs, ROLE_1P5B, methods)
    _require(rows, f"no finished runs of {', '.join(methods)} on {' or '.join(ROLE_1P5B)}")
    _style()
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 3.2 * len(rows)), squeeze=False)
    drawn = {}
    for i, (model, arms) in enumerate(rows):
        d1 = _entropy_panel(axes[i, 0], runs, arms)
        d2, _ = _eval_panel(axes[i, 1], runs, arms, "pass", 32, "aime24")
        axes[i, 0].set_title(f"Entropy — {_model_tag(model)}")
        axes[i, 1].set_title(f"Pass@32 — {_model_tag(model)}")
        drawn[model] = sorted(set(d1) & set(d2))
    return _finish("fig1_entropy_pass32", fig, {m: methods for m, _ in rows}, drawn,
                   "Learning curves of entropy and Pass@32 (AIME24 or its twin) for GRPO, w/ En and SENT.")


@register("fig3_passk_avgk_vs_k", "figure",
          "Fig. 3: Pass@K and Avg@K against K (1..n) per benchmark at the final eval step, GRPO vs SENT; "
          "mean over seeds, band = standard error (Avg@K = c/n for every K, so flat)")
def fig3(runs: Runs) -> FigureResult:
    methods = ("grpo", "sent")
    rows = _models_with(runs, ROLE_1P5B, methods)
    _require(rows, f"no finished runs of GRPO or SENT on {' or '.join(ROLE_1P5B)}")
    _style()
    fig, axes = plt.subplots(2 * len(rows), 6, figsize=(16, 5.2 * len(rows)), squeeze=False, sharex=True)
    drawn = {}
    for i, (model, arms) in enumerate(rows):
        got = set()
        kc = {key: curves.k_curves(runs, arm) for key, arm in arms.items()}
        for j, b in enumerate(BENCHMARKS):
            bench = _bench_for(runs, list(arms.values()), b)
            for r, metric in enumerate(("pass", "avg")):
                ax = axes[2 * i + r, j]
                ax.set_title(f"{bench or BENCH_LABEL[b]} — {_model_tag(model)}" if bench else
                             f"{BENCH_LABEL[b]}: no samples", fontsize=8)
                if bench is None:
                    ax.set_axis_off()
                    continue
                ks = set()
                for key, arm in arms.items():
                    c = kc[key]
                    c = c[(c["benchmark"] == bench) & (c["metric"] == metric)]
                    if c.empty:
                        continue
                    _band(ax, c["k"], c["mean"], c["se"], _seeds_label(METHOD_LABEL[key], arm), COLORS[key],
                          marker="o", ms=3)
                    got.add(key)
                    ks |= set(int(k) for k in c["k"])
                ax.set_xscale("log", base=2)
                ax.set_xticks(sorted(ks), [str(k) for k in sorted(ks)])
                ax.minorticks_off()
                ax.set_xlabel("K")
                ax.set_ylabel(f"{'Pass' if metric == 'pass' else 'Avg'}@K (%)")
        drawn[model] = sorted(got)
    return _finish("fig3_passk_avgk_vs_k", fig, {m: methods for m, _ in rows}, drawn,
                   "Pass@K and Avg@K against K for SENT and GRPO on the six benchmarks (final checkpoint). Avg@K "
                   "is flat by construction: its unbiased estimate from n samples is c/n for every K <= n.",
                   legend_every_axes=False)


@register("fig4_entropy_1p5b", "figure",
          "Fig. 4: token entropy over training for GRPO, w/ En, w/ Mask, SENT (1.5B role); mean over seeds, "
          "band = standard error; dotted lines = SENT curriculum stage starts")
def fig4(runs: Runs) -> FigureResult:
    methods = ("grpo", "en", "mask", "sent")
    rows = _models_with(runs, ROLE_1P5B, methods)
    _require(rows, f"no finished runs of {', '.join(methods)} on {' or '.join(ROLE_1P5B)}")
    _style()
    fig, axes = plt.subplots(1, len(rows), figsize=(5.5 * len(rows), 3.6), squeeze=False)
    drawn = {}
    for i, (model, arms) in enumerate(rows):
        drawn[model] = _entropy_panel(axes[0, i], runs, arms)
        axes[0, i].set_title(f"Entropy — {_model_tag(model)}")
    return _finish("fig4_entropy_1p5b", fig, {m: methods for m, _ in rows}, drawn,
                   "Entropy during training (1.5B role); shaded: standard error over seeds.")


def _avg_pass_fig(name: str, runs: Runs, models, methods, caption: str) -> FigureResult:
    rows = _models_with(runs, models, methods)
    _require(rows, f"no finished runs of {', '.join(methods)} on {' or '.join(models)}")
    _style()
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 3.3 * len(rows)), squeeze=False)
    drawn = {}
    for i, (model, arms) in enumerate(rows):
        d1, _ = _eval_panel(axes[i, 0], runs, arms, "avg", 32, None)
        d2, _ = _eval_panel(axes[i, 1], runs, arms, "pass", 32, None)
        axes[i, 0].set_title(f"Avg@32 — {_model_tag(model)}")
        axes[i, 1].set_title(f"Pass@32 — {_model_tag(model)}")
        drawn[model] = sorted(set(d1) & set(d2))
    return _finish(name, fig, {m: methods for m, _ in rows}, drawn, caption)


@register("fig5_avg32_pass32_mask_sent", "figure",
          "Fig. 5: Avg@32 and Pass@32 (mean over the six benchmarks) over training, w/ Mask vs SENT (1.5B role)")
def fig5(runs: Runs) -> FigureResult:
    return _avg_pass_fig("fig5_avg32_pass32_mask_sent", runs, ROLE_1P5B, ("mask", "sent"),
                         "Avg@32 and Pass@32 during training, w/ Mask vs SENT (1.5B role).")


@register("fig6_avg32_pass32_7b", "figure",
          "Fig. 6: Avg@32 and Pass@32 (mean over the six benchmarks) over training on Qwen2.5-Math-7B")
def fig6(runs: Runs) -> FigureResult:
    return _avg_pass_fig("fig6_avg32_pass32_7b", runs, (M7B,), ("grpo", "en", "mask", "sent"),
                         "Avg@32 and Pass@32 during training with Qwen2.5-Math-7B.")


@register("fig9_avg32_pass32_low_lowcov", "figure",
          "Fig. 9: Avg@32 and Pass@32 (mean over the six benchmarks) over training, w/ Low vs w/ Low_Cov")
def fig9(runs: Runs) -> FigureResult:
    return _avg_pass_fig("fig9_avg32_pass32_low_lowcov", runs, ROLE_1P5B, ("low", "low_cov"),
                         "Avg@32 and Pass@32 during training, w/ Low vs w/ Low_Cov (1.5B role).")


@register("fig7_entropy_distributions", "figure",
          "Fig. 7: (a) semantic entropy of the training prompts (semantic_entropy.jsonl, pooled over curriculum "
          "runs); (b) token-entropy histogram (token_stats.jsonl, first logged step of every run, pooled)")
def fig7(runs: Runs) -> FigureResult:
    rows = []
    for model, ids in _runs_by_model(runs):
        se = curves.semantic_entropy_values(runs, ids)
        th = curves.token_entropy_hist(runs, ids)
        if se.size or not th.empty:
            rows.append((model, ids, se, th))
    _require(rows, "no semantic_entropy.jsonl and no token_stats.jsonl entropy histograms in the runs")
    _style()
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 3.2 * len(rows)), squeeze=False)
    reasons = []
    for i, (model, ids, se, th) in enumerate(rows):
        ax = axes[i, 0]
        if se.size:
            ax.hist(se, bins=30, color=COLORS["sent"], alpha=0.8)
            ax.set_xlabel("semantic entropy")
            ax.set_ylabel("prompts")
            n_runs = runs.semantic_entropy.loc[runs.semantic_entropy["run_id"].isin(ids), "run_id"].nunique()
            ax.set_title(f"(a) semantic entropy: {se.size} prompts, {n_runs} run(s) — {model}", fontsize=8)
        else:
            ax.set_axis_off()
            ax.set_title(f"(a) {model}: no semantic_entropy.jsonl", fontsize=8)
            reasons.append(f"{model}: no semantic_entropy.jsonl (no curriculum runs)")
        ax = axes[i, 1]
        if not th.empty:
            ax.bar(th["left"], th["freq"] * 100, width=(th["right"] - th["left"]), align="edge",
                   color=COLORS["grpo"], alpha=0.8)
            ax.set_yscale("log")
            ax.set_xlabel("token entropy (nats)")
            ax.set_ylabel("share of response tokens (%)")
            ax.set_title(f"(b) token entropy, first logged step per run — {model}", fontsize=8)
        else:
            ax.set_axis_off()
            ax.set_title(f"(b) {model}: no token_stats.jsonl entropy histograms", fontsize=8)
            reasons.append(f"{model}: no token-entropy histograms")
    fig.tight_layout()
    return FigureResult("fig7_entropy_distributions", fig, "partial" if reasons else "built", reasons,
                        "Semantic entropy of the training prompts and token-entropy frequency distribution.")


@register("fig8_low_high_entropy_tokens", "figure",
          "Fig. 8 (word clouds in the paper): the 20 most frequent tokens of the low-entropy (80% lowest) and "
          "high-entropy (20% highest) sets in token_stats.jsonl, pooled over runs and steps, as ranked bars")
def fig8(runs: Runs) -> FigureResult:
    rows = []
    for model, ids in _runs_by_model(runs):
        lo, hi = curves.token_set_top(runs, ids, "low"), curves.token_set_top(runs, ids, "high")
        if not lo.empty or not hi.empty:
            rows.append((model, lo, hi))
    _require(rows, "no low_entropy_tokens / high_entropy_tokens in any token_stats.jsonl")
    _style()
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 4.2 * len(rows)), squeeze=False)
    reasons = []
    for i, (model, lo, hi) in enumerate(rows):
        for j, (df, title, color) in enumerate(((lo, "low-entropy tokens", COLORS["low"]),
                                                (hi, "high-entropy tokens", COLORS["sent"]))):
            ax = axes[i, j]
            if df.empty:
                ax.set_axis_off()
                ax.set_title(f"{model}: no {title}", fontsize=8)
                reasons.append(f"{model}: no {title} logged")
                continue
            y = np.arange(len(df))[::-1]
            ax.barh(y, df["share"] * 100, color=color, alpha=0.85)
            ax.set_yticks(y, [repr(t)[1:-1] or "␣" for t in df["token"]], fontsize=7)
            ax.set_xlabel("share of the set's tokens (%)")
            ax.set_title(f"Top {len(df)} {title} — {_model_tag(model)}", fontsize=8)
    fig.tight_layout()
    return FigureResult("fig8_low_high_entropy_tokens", fig, "partial" if reasons else "built", reasons,
                        "Most frequent low- and high-entropy tokens (the paper shows word clouds).")


@register("fig11_entropy_curriculum_7b", "figure",
          "Fig. 11: token entropy over training (a) SENT with 1/2/3 curriculum stages (1.5B role), (b) GRPO, "
          "w/ Mask, SENT on Qwen2.5-Math-7B; mean over seeds, band = standard error")
def fig11(runs: Runs) -> FigureResult:
    meta = runs.usable_meta()
    panels = []
    for model in ROLE_1P5B:
        if meta.empty:
            continue
        st = stage_arms(meta, model)
        if st:
            arms = {n: a for n, a in sorted(st.items())}
            labels = {n: STAGES_LABEL.get({1: "no_curriculum", 2: "two_stage", 3: "three_stage"}.get(n, ""),
                                          f"{n} stages") for n in arms}
            panels.append(("stages", model, arms, labels))
    seven = _arms(runs, M7B, ("grpo", "mask", "sent"))
    if seven:
        panels.append(("methods", M7B, seven, None))
    _require(panels, "no SENT runs on the 1.5B role (tiny / r1_distill_qwen_1p5b) and no GRPO/Mask/SENT runs "
                     "on qwen2p5_math_7b")
    _style()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
    reasons = []
    for i, (kind, model, arms, labels) in enumerate(panels):
        ax = axes[0, i]
        if kind == "stages":
            drawn = _entropy_panel(ax, runs, arms, labels, STAGE_COLORS)
            ax.set_title(f"(a) curriculum stages — {_model_tag(model)}", fontsize=9)
            miss = [STAGES_LABEL[v] for n, v in ((1, "no_curriculum"), (2, "two_stage"), (3, "three_stage"))
                    if n not in drawn]
            if miss:
                reasons.append(f"{model}: no SENT runs for {', '.join(miss)}")
        else:
            drawn = _entropy_panel(ax, runs, arms)
            ax.set_title(f"(b) {_model_tag(model)}", fontsize=9)
            miss = [METHOD_LABEL[m] for m in ("grpo", "mask", "sent") if m not in drawn]
            if miss:
                reasons.append(f"{model}: no runs for {', '.join(miss)}")
    if not any(p[0] == "methods" for p in panels):
        reasons.append(f"panel (b): no runs on {M7B}")
    if not any(p[0] == "stages" for p in panels):
        reasons.append("panel (a): no SENT runs on the 1.5B role")
    return _finish("fig11_entropy_curriculum_7b", fig, {}, {}, "Entropy during training: curriculum designs "
                   "and the 7B model.", reasons)


@register("fig12_14b_entropy_pass16_avg16", "figure",
          "Fig. 12: entropy, Pass@16 and Avg@16 on AIME24 over training on Qwen3-14B, GRPO vs SENT; band = "
          "standard error")
def fig12(runs: Runs) -> FigureResult:
    methods = ("grpo", "sent")
    rows = _models_with(runs, (M14B,), methods)
    _require(rows, f"no finished GRPO or SENT runs on {M14B}")
    _style()
    model, arms = rows[0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), squeeze=False)
    d1 = _entropy_panel(axes[0, 0], runs, arms)
    d2, _ = _eval_panel(axes[0, 1], runs, arms, "pass", 16, "aime24")
    d3, _ = _eval_panel(axes[0, 2], runs, arms, "avg", 16, "aime24")
    for ax, t in zip(axes[0], ("Entropy", "Pass@16", "Avg@16")):
        ax.set_title(f"{t} — {_model_tag(model)}")
    return _finish("fig12_14b_entropy_pass16_avg16", fig, {model: methods},
                   {model: sorted(set(d1) & set(d2) & set(d3))},
                   "Entropy, Pass@16 and Avg@16 (AIME24) during training with Qwen3-14B.")
