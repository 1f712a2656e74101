"""Fig. 3: Pass@K against K at the final evaluation step, one panel per unsaturated benchmark.

The paper's Avg@K panels are not drawn: the unbiased Avg@K from n samples is c/n for every K <= n,
a flat line (Table II has the values).

May import: matplotlib and the analysis modules ``curves``, ``figures``, ``load``, ``paper`` and
``registry``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from analysis import curves
from analysis.figures import (ROLE_1P5B, SATURATED, TWINS_LABEL, FigureResult, _band, _bench_for, _caption, _finish,
                              _model_tag, _models_with, _note, _require, _saturated, _seeds_label, _style, color_of)
from analysis.load import Runs
from analysis.paper import BENCHMARKS, method_label
from analysis.registry import register


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
