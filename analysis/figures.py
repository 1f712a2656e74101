"""The paper's figures (1, 3-9, 11, 12) redrawn from run logs (matplotlib Agg, seaborn's style).

Each builder returns a ``FigureResult`` holding a matplotlib Figure, or raises ``MissingInputs``
when none of the runs it needs exist; a figure some of whose methods or panels are missing is drawn
with what exists and marked ``partial`` with the reason; a panel that cannot be built says so in
place. The numbers come from ``curves`` (means over seeds with the tables' 95% interval as the band,
``BAND_NOTE``); nothing here computes statistics.

Titles state the metric actually plotted. Benchmarks: the paper's Fig. 1 and 12 follow AIME24 (its
twin ``synth_1`` for the embedded model); when that benchmark is saturated at the plotted k (every
method's mean above 90% or below 10% at every evaluation step, so the curves carry no information)
the panel plots the unsaturated benchmark whose mean is closest to 50% instead, or the mean over
benchmarks, and its title and the caption say so. Figs. 5, 6 and 9 do not say which benchmark: we
plot the mean over the six. Where a k exceeds the samples per problem, the largest admissible k is
used and the title and axis label say so.
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
from analysis.paper import (BENCH_LABEL, BENCHMARKS, EMBEDDED_MODELS, STAGES_LABEL, TWIN_OF,  # noqa: E402
                            method_catalog, method_label, model_label)
from analysis.registry import MissingInputs, register  # noqa: E402
from analysis.scores import step_scores  # noqa: E402
from analysis.select import Arm, method_arm, stage_arms  # noqa: E402
from analysis.stats import MIN_SEEDS_BOOTSTRAP  # noqa: E402

BAND_NOTE = (f"Lines: mean over seeds; bands: 95% interval over seeds as in the tables (Student-t below "
             f"{MIN_SEEDS_BOOTSTRAP} seeds, seed bootstrap otherwise); n = seeds.")
SATURATED = (10.0, 90.0)  # a benchmark whose every curve stays outside this range (percent) is saturated

ROLE_1P5B = ("tiny", "r1_distill_qwen_1p5b")
M7B, M14B = "qwen2p5_math_7b", "qwen3_14b"
#: the colours of arms that are not methods (a method's own colour is its class's ``color``, in the catalog)
COLORS = {"cur": "#e377c2", "base": "#999999"}
#: colours of the distributions of Fig. 7 and 8 (SENT's red for the high-entropy side, as in the paper)
HIGH_COLOR, LOW_COLOR, NEUTRAL_COLOR = "#d62728", "#1f77b4", "#4d4d4d"
STAGE_COLORS = {1: "#1f77b4", 2: "#d62728", 3: "#2ca02c"}
_PALETTE = ("#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354", "#756bb1",
            "#636363", "#9c9ede", "#cedb9c")


def color_of(key) -> str | None:
    """A method's fixed colour (its class's ``color``) or a non-method arm's (:data:`COLORS`); any other
    registered method gets one by its place in the method catalog (so a new method is drawn without
    editing this file)."""
    if key in COLORS:
        return COLORS[key]
    cat = method_catalog()
    if key in cat and cat[key].color:
        return cat[key].color
    others = [m for m in sorted(cat) if not cat[m].color]
    if key in others:
        return _PALETTE[others.index(key) % len(_PALETTE)]
    return None
MIN_TOKEN_SHARE = 0.001  # Fig. 8 leaves out tokens under 0.1% of their set (they would read as "0.0%")
TWINS_LABEL = {twin: BENCH_LABEL[b] for b, twin in TWIN_OF.items()}
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


def _band(ax, c: pd.DataFrame, x: str, label, color, **kw):
    """Mean line and the 95% interval band of a ``curves`` frame."""
    xv, mean = c[x].to_numpy(float), c["mean"].to_numpy(float)
    lo, hi = c["lo"].to_numpy(float), c["hi"].to_numpy(float)
    ax.plot(xv, mean, label=label, color=color, lw=1.4, **kw)
    ok = ~(np.isnan(lo) | np.isnan(hi))
    if ok.any():
        ax.fill_between(xv[ok], lo[ok], hi[ok], color=color, alpha=0.2, lw=0)


def _missing_note(ax, want, drawn) -> None:
    """Name, in the panel, the methods it should show but has no runs for."""
    miss = [method_label(m) for m in want if m not in drawn]
    if miss:
        ax.text(0.01, 0.01, f"no runs: {', '.join(miss)}", transform=ax.transAxes, fontsize=7, color="#555555",
                va="bottom", ha="left")


def _note(ax, text: str):
    """A panel that cannot be built (or lacks curves) says so in place."""
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=8, wrap=True, transform=ax.transAxes,
            color="#555555")


def _seeds_label(label: str, arm: Arm) -> str:
    return f"{label} (n={len(arm.seeds)})"


def _staged(key) -> bool:
    """An arm of a method trained with a curriculum by default (its stage starts are drawn)."""
    info = method_catalog().get(key)
    return info is not None and info.default_curriculum != "none"


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
        lab = (labels or {}).get(key, method_label(key))
        _band(ax, c, "step", _seeds_label(lab, arm), (colors or {}).get(key) or color_of(key))
        if _staged(key):
            _stage_lines(ax, runs, arm)
        drawn.append(key)
    ax.set_xlabel("training step")
    ax.set_ylabel("token entropy")
    return drawn


def _bench_means(runs, arms: dict[str, Arm], metric: str, k: int, bench: str | None) -> list[np.ndarray]:
    return [curves.eval_curve(runs, arm, metric, k, bench)["mean"].to_numpy(float) for arm in arms.values()]


def _saturated(means: list[np.ndarray]) -> bool:
    vals = np.concatenate([m for m in means if m.size]) if any(m.size for m in means) else np.array([])
    return bool(vals.size) and bool(((vals >= SATURATED[1]) | (vals <= SATURATED[0])).all())


def pick_benchmark(runs, arms: dict[str, Arm], metric: str, k: int, paper_bench: str) -> tuple[str | None, str]:
    """(our benchmark key or None for the mean over benchmarks, why). The paper's benchmark (or its
    twin) unless it is saturated at this metric@k; then the unsaturated benchmark whose mean over the
    methods and steps is closest to 50%; if every benchmark is saturated, the mean over benchmarks."""
    alist = list(arms.values())
    bench = _bench_for(runs, alist, paper_bench)
    if bench is None:
        return None, f"no samples of {BENCH_LABEL[paper_bench]} or its twin: mean over benchmarks"
    if not _saturated(_bench_means(runs, arms, metric, k, bench)):
        return bench, ""
    s = step_scores(runs)
    present = sorted(set(s.loc[s["run_id"].isin([r for a in alist for r in a.run_ids]), "benchmark"]))
    best, dist = None, None
    for b in present:
        means = _bench_means(runs, arms, metric, k, b)
        if _saturated(means) or not any(m.size for m in means):
            continue
        d = abs(float(np.nanmean(np.concatenate(means))) - 50.0)
        if dist is None or d < dist:
            best, dist = b, d
    name = {"pass": "Pass", "avg": "Avg"}[metric]
    why = (f"{bench} is saturated at {name}@{k} (every mean outside {SATURATED[0]:g}-{SATURATED[1]:g}%)")
    if best is None:
        return None, why + " and so is every benchmark: mean over benchmarks"
    return best, why + f": showing {best}, the unsaturated benchmark closest to 50%"


def _eval_panel(ax, runs, arms: dict[str, Arm], metric: str, k: int, paper_bench: str | None,
                model: str = "") -> tuple[list, str, str]:
    """metric@k over training, titled with what is plotted; returns (drawn arm keys, title, note)."""
    alist = list(arms.values())
    kk = curves.admissible_k(runs, alist, k)
    name = {"pass": "Pass", "avg": "Avg"}[metric]
    note = ""
    if paper_bench is not None:
        bench, note = pick_benchmark(runs, arms, metric, kk, paper_bench)
    else:
        bench = None
    drawn = []
    for key, arm in arms.items():
        c = curves.eval_curve(runs, arm, metric, kk, bench)
        if c.empty:
            continue
        _band(ax, c, "eval_step", _seeds_label(method_label(key), arm), color_of(key), marker="o", ms=3)
        if _staged(key):
            _stage_lines(ax, runs, arm)
        drawn.append(key)
    if bench is None:
        where = "mean over benchmarks"
    elif paper_bench is not None and bench == TWIN_OF.get(paper_bench):
        where = f"{bench} ({BENCH_LABEL[paper_bench]} twin)"
    else:
        where = bench
    title = f"{name}@{kk}, {where}"
    paper_bench_shown = paper_bench is None or bench in (paper_bench, TWIN_OF.get(paper_bench))
    if kk != k or not paper_bench_shown:
        title += f" (paper: {name}@{k}" + ("" if paper_bench_shown else f", {BENCH_LABEL[paper_bench]}: saturated here") + ")"
        note = "; ".join(x for x in (note, f"{name}@{k} needs {k} samples per problem; the runs have {kk}: "
                                            f"largest admissible k={kk}") if x)
    ax.set_xlabel("training step (evaluation)")
    ax.set_ylabel(f"{_model_tag(model)}\n{name}@{kk} (%)" if model else f"{name}@{kk} (%)", fontsize=8)
    ax.set_title(title, fontsize=8)
    if not drawn:
        _note(ax, f"no {name}@{kk} evaluations for these runs")
    return drawn, title, note


def _finish(name: str, fig, wanted: dict[str, tuple], drawn: dict[str, list], caption: str,
            extra_reasons: list[str] | None = None, legend_every_axes: bool = True) -> FigureResult:
    """Status from what each model was meant to show vs what it showed."""
    reasons = list(extra_reasons or [])
    for model, want in wanted.items():
        miss = [method_label(m) for m in want if m not in drawn.get(model, [])]
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

def _caption(text: str, notes: list[str]) -> str:
    return " ".join([text, *(n.rstrip(".") + "." for n in dict.fromkeys(notes) if n), BAND_NOTE])


@register("fig1_entropy_pass32", "figure",
          "Fig. 1: token entropy (train.jsonl) and Pass@32 on AIME24 (samples/) over training, GRPO vs "
          "w/ En vs SENT; the largest admissible k and an informative benchmark when AIME24's twin is "
          "saturated (the title says which); mean over seeds, band = the tables' 95% interval")
def fig1(runs: Runs) -> FigureResult:
    methods = ("grpo", "en", "sent")
    rows = _models_with(runs, ROLE_1P5B, methods)
    _require(rows, f"no finished runs of {', '.join(methods)} on {' or '.join(ROLE_1P5B)}")
    _style()
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 3.3 * len(rows)), squeeze=False)
    drawn, notes = {}, []
    for i, (model, arms) in enumerate(rows):
        d1 = _entropy_panel(axes[i, 0], runs, arms)
        d2, _, note = _eval_panel(axes[i, 1], runs, arms, "pass", 32, "aime24")
        axes[i, 0].set_title(f"Token entropy — {_model_tag(model)}", fontsize=8)
        _missing_note(axes[i, 0], methods, d1)
        _missing_note(axes[i, 1], methods, d2)
        notes.append(f"{model}: {note}" if note else "")
        drawn[model] = sorted(set(d1) & set(d2))
    return _finish("fig1_entropy_pass32", fig, {m: methods for m, _ in rows}, drawn,
                   _caption("Learning curves of token entropy and Pass@K for GRPO, w/ En and SENT (paper: Pass@32 "
                            "on AIME24; panel titles give the k and benchmark plotted).", notes))


@register("fig3_passk_avgk_vs_k", "figure",
          "Fig. 3: Pass@K against K (1..n) per unsaturated benchmark at the final eval step, GRPO vs SENT; "
          "mean over seeds, band = the tables' 95% interval (the paper's Avg@K panels are dropped: Avg@K = "
          "c/n for every K, a flat line)")
def fig3(runs: Runs) -> FigureResult:
    methods = ("grpo", "sent")
    rows = _models_with(runs, ROLE_1P5B, methods)
    _require(rows, f"no finished runs of GRPO or SENT on {' or '.join(ROLE_1P5B)}")
    _style()
    plan, notes = [], []
    for model, arms in rows:
        kc = {key: curves.k_curves(runs, arm) for key, arm in arms.items()}
        keep, sat = [], []
        for b in BENCHMARKS:
            bench = _bench_for(runs, list(arms.values()), b)
            if bench is None:
                continue
            means = [c.loc[(c["benchmark"] == bench) & (c["metric"] == "pass"), "mean"].to_numpy(float)
                     for c in kc.values()]
            (sat if _saturated(means) else keep).append(bench)
        if sat:
            notes.append(f"{model}: left out as saturated at every K (all means outside "
                         f"{SATURATED[0]:g}-{SATURATED[1]:g}%): {', '.join(sat)}")
        plan.append((model, arms, kc, keep))
    ncol = max(1, max(len(p[3]) for p in plan))
    fig, axes = plt.subplots(len(plan), ncol, figsize=(2.9 * ncol + 0.6, 3.0 * len(plan) + 0.5), squeeze=False)
    drawn = {}
    for i, (model, arms, kc, keep) in enumerate(plan):
        got = set()
        if not keep:
            _note(axes[i, 0], f"{model}: every benchmark is saturated at every K\n(all means outside "
                              f"{SATURATED[0]:g}-{SATURATED[1]:g}%): no informative panel")
        for j in range(ncol):
            ax = axes[i, j]
            if j >= len(keep):
                ax.set_axis_off()
                continue
            bench = keep[j]
            ks = set()
            for key, arm in arms.items():
                c = kc[key]
                c = c[(c["benchmark"] == bench) & (c["metric"] == "pass")]
                if c.empty:
                    continue
                _band(ax, c, "k", _seeds_label(method_label(key), arm), color_of(key), marker="o", ms=3)
                got.add(key)
                ks |= set(int(k) for k in c["k"])
            twin = TWINS_LABEL.get(bench)
            ax.set_title(f"{bench}" + (f" ({twin})" if twin else ""), fontsize=8)
            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(ks), [str(k) for k in sorted(ks)])
            ax.minorticks_off()
            ax.set_xlabel("K")
            if j == 0:
                ax.set_ylabel(f"Pass@K (%) — {_model_tag(model)}", fontsize=7)
        drawn[model] = sorted(got) if keep else list(methods)  # nothing to draw is not a missing run
    fig.suptitle("Pass@K against K at the final checkpoint", fontsize=9)
    return _finish("fig3_passk_avgk_vs_k", fig, {m: methods for m, *_ in plan}, drawn,
                   _caption("Pass@K against K for SENT and GRPO at the final checkpoint, one panel per unsaturated "
                            "benchmark. The paper's Avg@K panels are not drawn: the unbiased Avg@K from n samples is "
                            "c/n for every K <= n, so they would be flat lines (Table II has the values).", notes),
                   [f"{m}: every benchmark saturated at every K" for m, _, _, keep in plan if not keep],
                   legend_every_axes=False)


@register("fig4_entropy_1p5b", "figure",
          "Fig. 4: token entropy over training for GRPO, w/ En, w/ Mask, SENT (1.5B role); mean over seeds, "
          "band = the tables' 95% interval; dotted lines = SENT curriculum stage starts")
def fig4(runs: Runs) -> FigureResult:
    methods = ("grpo", "en", "mask", "sent")
    rows = _models_with(runs, ROLE_1P5B, methods)
    _require(rows, f"no finished runs of {', '.join(methods)} on {' or '.join(ROLE_1P5B)}")
    _style()
    fig, axes = plt.subplots(1, len(rows), figsize=(5.5 * len(rows), 3.6), squeeze=False)
    drawn = {}
    for i, (model, arms) in enumerate(rows):
        drawn[model] = _entropy_panel(axes[0, i], runs, arms)
        axes[0, i].set_title(f"Token entropy — {_model_tag(model)}", fontsize=8)
        _missing_note(axes[0, i], methods, drawn[model])
    return _finish("fig4_entropy_1p5b", fig, {m: methods for m, _ in rows}, drawn,
                   _caption("Token entropy during training (1.5B role).", []))


def _avg_pass_fig(name: str, runs: Runs, models, methods, caption: str) -> FigureResult:
    rows = _models_with(runs, models, methods)
    _require(rows, f"no finished runs of {', '.join(methods)} on {' or '.join(models)}")
    _style()
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 3.3 * len(rows)), squeeze=False)
    drawn, notes = {}, []
    for i, (model, arms) in enumerate(rows):
        d1, _, n1 = _eval_panel(axes[i, 0], runs, arms, "avg", 32, None, model)
        d2, _, n2 = _eval_panel(axes[i, 1], runs, arms, "pass", 32, None)
        notes += [f"{model}: {n}" for n in (n1, n2) if n]
        _missing_note(axes[i, 0], methods, d1)
        _missing_note(axes[i, 1], methods, d2)
        drawn[model] = sorted(set(d1) & set(d2))
    return _finish(name, fig, {m: methods for m, _ in rows}, drawn, _caption(caption, notes))


@register("fig5_avg32_pass32_mask_sent", "figure",
          "Fig. 5: Avg@32 and Pass@32 (mean over the six benchmarks; the largest admissible k, titled) over "
          "training, w/ Mask vs SENT (1.5B role)")
def fig5(runs: Runs) -> FigureResult:
    return _avg_pass_fig("fig5_avg32_pass32_mask_sent", runs, ROLE_1P5B, ("mask", "sent"),
                         "Avg@K and Pass@K (mean over benchmarks; paper: K=32) during training, w/ Mask vs SENT "
                         "(1.5B role).")


@register("fig6_avg32_pass32_7b", "figure",
          "Fig. 6: Avg@32 and Pass@32 (mean over the six benchmarks) over training on Qwen2.5-Math-7B")
def fig6(runs: Runs) -> FigureResult:
    return _avg_pass_fig("fig6_avg32_pass32_7b", runs, (M7B,), ("grpo", "en", "mask", "sent"),
                         "Avg@K and Pass@K (mean over benchmarks; paper: K=32) during training with Qwen2.5-Math-7B.")


@register("fig9_avg32_pass32_low_lowcov", "figure",
          "Fig. 9: Avg@32 and Pass@32 (mean over the six benchmarks) over training, w/ Low vs w/ Low_Cov")
def fig9(runs: Runs) -> FigureResult:
    return _avg_pass_fig("fig9_avg32_pass32_low_lowcov", runs, ROLE_1P5B, ("low", "low_cov"),
                         "Avg@K and Pass@K (mean over benchmarks; paper: K=32) during training, w/ Low vs w/ Low_Cov "
                         "(1.5B role).")


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
            ax.hist(se, bins=30, color=HIGH_COLOR, alpha=0.8)
            ax.set_xlabel("semantic entropy (nats)")
            ax.set_ylabel("prompts")
            n_runs = runs.semantic_entropy.loc[runs.semantic_entropy["run_id"].isin(ids), "run_id"].nunique()
            ax.set_title(f"(a) semantic entropy: {se.size} prompts, {n_runs} run(s) — {model}", fontsize=8)
        else:
            ax.set_title(f"(a) semantic entropy — {model}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            _note(ax, "no semantic_entropy.jsonl in these runs\n(only curriculum runs write it)")
            reasons.append(f"{model}: no semantic_entropy.jsonl (no curriculum runs)")
        ax = axes[i, 1]
        if not th.empty:
            ax.bar(th["left"], th["freq"] * 100, width=(th["right"] - th["left"]), align="edge",
                   color=NEUTRAL_COLOR, alpha=0.8)
            ax.set_yscale("log")
            used = th[th["count"] > 0]
            if not used.empty:  # the observed range, not the histogram's fixed bin range
                ax.set_xlim(float(used["left"].min()), float(used["right"].max()))
            ax.set_xlabel("token entropy (nats)")
            ax.set_ylabel("share of response tokens (%)")
            ax.set_title(f"(b) token entropy, first logged step per run — {model}", fontsize=8)
        else:
            ax.set_title(f"(b) token entropy — {model}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
            _note(ax, "no token_stats.jsonl entropy histograms in these runs")
            reasons.append(f"{model}: no token-entropy histograms")
    fig.tight_layout()
    return FigureResult("fig7_entropy_distributions", fig, "partial" if reasons else "built", reasons,
                        "Semantic entropy of the training prompts and token-entropy frequency distribution (x axis: "
                        "the range of entropies observed).")


def token_display(token: str) -> str:
    """A decoded token as a tick label: whitespace made visible, backslashes and braces as they are,
    ``$`` escaped so matplotlib does not read math text."""
    if token == "":
        return "(empty)"
    out = token.replace(" ", "␣").replace("\n", "↵").replace("\t", "⇥").replace("$", r"\$")
    return out


@register("fig8_low_high_entropy_tokens", "figure",
          "Fig. 8 (word clouds in the paper): the 20 most frequent tokens of the low-entropy (80% lowest) and "
          "high-entropy (20% highest) sets in token_stats.jsonl, pooled over runs and steps, as ranked bars "
          "(tokens under 0.1% of their set left out)")
def fig8(runs: Runs) -> FigureResult:
    rows = []
    for model, ids in _runs_by_model(runs):
        lo, hi = curves.token_set_top(runs, ids, "low"), curves.token_set_top(runs, ids, "high")
        lo, hi = lo[lo["share"] >= MIN_TOKEN_SHARE], hi[hi["share"] >= MIN_TOKEN_SHARE]
        if not lo.empty or not hi.empty:
            rows.append((model, lo, hi))
    _require(rows, "no low_entropy_tokens / high_entropy_tokens in any token_stats.jsonl")
    _style()
    fig, axes = plt.subplots(len(rows), 2, figsize=(9, 4.2 * len(rows)), squeeze=False)
    reasons = []
    for i, (model, lo, hi) in enumerate(rows):
        for j, (df, title, color) in enumerate(((lo, "low-entropy tokens", LOW_COLOR),
                                                (hi, "high-entropy tokens", HIGH_COLOR))):
            ax = axes[i, j]
            if df.empty:
                ax.set_title(f"{title} — {model}", fontsize=8)
                ax.set_xticks([])
                ax.set_yticks([])
                _note(ax, f"no {title} logged")
                reasons.append(f"{model}: no {title} logged")
                continue
            y = np.arange(len(df))[::-1]
            ax.barh(y, df["share"] * 100, color=color, alpha=0.85)
            ax.set_yticks(y, [token_display(t) for t in df["token"]], fontsize=7)
            ax.set_xlabel("share of the set's tokens (%)")
            ax.set_title(f"Top {len(df)} {title} — {_model_tag(model)}", fontsize=8)
    fig.tight_layout()
    return FigureResult("fig8_low_high_entropy_tokens", fig, "partial" if reasons else "built", reasons,
                        "Most frequent low- and high-entropy tokens (the paper shows word clouds); ␣ is a space, "
                        "↵ a newline; tokens under 0.1% of their set are left out.")


@register("fig11_entropy_curriculum_7b", "figure",
          "Fig. 11: token entropy over training (a) SENT with 1/2/3 curriculum stages (1.5B role), (b) GRPO, "
          "w/ Mask, SENT on Qwen2.5-Math-7B; mean over seeds, band = the tables' 95% interval; a panel "
          "without runs says so in place")
def fig11(runs: Runs) -> FigureResult:
    meta = runs.usable_meta()
    stages_panel = None
    for model in ROLE_1P5B:
        if meta.empty:
            continue
        st = stage_arms(meta, model)
        if st:
            arms = {n: a for n, a in sorted(st.items())}
            labels = {n: STAGES_LABEL.get({1: "no_curriculum", 2: "two_stage", 3: "three_stage"}.get(n, ""),
                                          f"{n} stages") for n in arms}
            stages_panel = (model, arms, labels)
            break
    seven = _arms(runs, M7B, ("grpo", "mask", "sent"))
    _require(stages_panel or seven, "no SENT runs on the 1.5B role (tiny / r1_distill_qwen_1p5b) and no "
                                    "GRPO/Mask/SENT runs on qwen2p5_math_7b")
    _style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), squeeze=False)
    reasons = []
    ax = axes[0, 0]
    if stages_panel is not None:
        model, arms, labels = stages_panel
        drawn = _entropy_panel(ax, runs, arms, labels, STAGE_COLORS)
        ax.set_title(f"(a) curriculum stages — {_model_tag(model)}", fontsize=8)
        miss = [STAGES_LABEL[v] for n, v in ((1, "no_curriculum"), (2, "two_stage"), (3, "three_stage"))
                if n not in drawn]
        if miss:
            reasons.append(f"panel (a), {model}: no SENT runs for {', '.join(miss)}")
            ax.text(0.02, 0.02, f"no runs: {', '.join(miss)}", transform=ax.transAxes, fontsize=7,
                    color="#555555", va="bottom")
    else:
        ax.set_title("(a) curriculum stages (1.5B role)", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        _note(ax, "no SENT runs on the 1.5B role\n(tiny or r1_distill_qwen_1p5b)")
        reasons.append("panel (a): no SENT runs on the 1.5B role")
    ax = axes[0, 1]
    if seven:
        drawn = _entropy_panel(ax, runs, seven)
        ax.set_title(f"(b) {_model_tag(M7B)}", fontsize=8)
        miss = [method_label(m) for m in ("grpo", "mask", "sent") if m not in drawn]
        if miss:
            reasons.append(f"panel (b), {M7B}: no runs for {', '.join(miss)}")
    else:
        ax.set_title(f"(b) {model_label(M7B)}", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        _note(ax, f"no GRPO / w/ Mask / SENT runs on {M7B}:\nthis panel cannot be built")
        reasons.append(f"panel (b): no runs on {M7B}")
    return _finish("fig11_entropy_curriculum_7b", fig, {}, {},
                   _caption("Token entropy during training: (a) SENT with 1, 2 and 3 curriculum stages, (b) "
                            "Qwen2.5-Math-7B.", []), reasons)


@register("fig12_14b_entropy_pass16_avg16", "figure",
          "Fig. 12: entropy, Pass@16 and Avg@16 on AIME24 over training on Qwen3-14B, GRPO vs SENT; band = "
          "the tables' 95% interval")
def fig12(runs: Runs) -> FigureResult:
    methods = ("grpo", "sent")
    rows = _models_with(runs, (M14B,), methods)
    _require(rows, f"no finished GRPO or SENT runs on {M14B}")
    _style()
    model, arms = rows[0]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), squeeze=False)
    d1 = _entropy_panel(axes[0, 0], runs, arms)
    axes[0, 0].set_title(f"Token entropy — {_model_tag(model)}", fontsize=8)
    d2, _, n2 = _eval_panel(axes[0, 1], runs, arms, "pass", 16, "aime24")
    d3, _, n3 = _eval_panel(axes[0, 2], runs, arms, "avg", 16, "aime24")
    for ax, d in zip(axes[0], (d1, d2, d3)):
        _missing_note(ax, methods, d)
    return _finish("fig12_14b_entropy_pass16_avg16", fig, {model: methods},
                   {model: sorted(set(d1) & set(d2) & set(d3))},
                   _caption("Entropy, Pass@16 and Avg@16 (AIME24) during training with Qwen3-14B.", [n2, n3]))
