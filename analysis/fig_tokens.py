"""The token-level figures: entropy distributions (Fig. 7) and the most frequent low- and
high-entropy tokens (Fig. 8), from semantic_entropy.jsonl and token_stats.jsonl.

May import: matplotlib, numpy and the analysis modules ``curves``, ``figures``, ``load`` and
``registry``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from analysis import curves
from analysis.figures import (HIGH_COLOR, LOW_COLOR, NEUTRAL_COLOR, FigureResult, _empty_panel, _model_tag, _require,
                              _runs_by_model, _style)
from analysis.load import Runs
from analysis.registry import register

MIN_TOKEN_SHARE = 0.001  # Fig. 8 leaves out tokens under 0.1% of their set (they would read as "0.0%")


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
            _empty_panel(ax, f"(a) semantic entropy — {model}",
                         "no semantic_entropy.jsonl in these runs\n(only curriculum runs write it)")
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
            _empty_panel(ax, f"(b) token entropy — {model}", "no token_stats.jsonl entropy histograms in these runs")
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
                _empty_panel(ax, f"{title} — {model}", f"no {title} logged")
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
