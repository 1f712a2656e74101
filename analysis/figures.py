"""The drawing kit of the paper's figures (matplotlib Agg, seaborn's style); the figures themselves
are ``fig_curves`` (Figs. 1, 4, 5, 6, 9, 11, 12: learning curves over training), ``fig_passk``
(Fig. 3: Pass@K against K) and ``fig_tokens`` (Figs. 7, 8: entropy distributions and tokens).

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

This module owns the style, the colours, ``FigureResult`` and the shared panels (entropy and
metric@k curves, benchmark choice, status and caption); its underscore helpers are internal to the
``fig_*`` modules. May import: matplotlib, numpy, pandas and the analysis modules ``curves``,
``load``, ``paper``, ``registry``, ``scores``, ``select`` and ``stats``.
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
from analysis.paper import (BENCH_LABEL, EMBEDDED_MODELS, TWIN_OF, method_catalog, method_label,  # noqa: E402
                            model_label)
from analysis.registry import MissingInputs  # noqa: E402
from analysis.scores import step_scores  # noqa: E402
from analysis.select import Arm, method_arm  # noqa: E402
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


def _empty_panel(ax, title: str, text: str):
    """A panel with nothing to draw: its title, no ticks, and ``text`` saying why."""
    ax.set_title(title, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
    _note(ax, text)


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


def _caption(text: str, notes: list[str]) -> str:
    return " ".join([text, *(n.rstrip(".") + "." for n in dict.fromkeys(notes) if n), BAND_NOTE])
