"""The learning-curve figures: token entropy and metric@k over training (Figs. 1, 4, 5, 6, 9, 11, 12).

Each is a registered builder ``make(runs) -> FigureResult`` drawn with the panels of
``analysis.figures`` (entropy curves from train.jsonl, metric@k curves from samples/, 95% bands
over seeds, SENT's curriculum stage starts as dotted lines).

May import: matplotlib and the analysis modules ``figures``, ``load``, ``paper``, ``registry`` and
``select``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt

from analysis.figures import (M7B, M14B, ROLE_1P5B, STAGE_COLORS, FigureResult, _arms, _caption, _empty_panel,
                              _entropy_panel, _eval_panel, _finish, _missing_note, _model_tag, _models_with, _require,
                              _style)
from analysis.load import Runs
from analysis.paper import STAGES_LABEL, method_label, model_label
from analysis.registry import register
from analysis.select import stage_arms


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
        _empty_panel(ax, "(a) curriculum stages (1.5B role)",
                     "no SENT runs on the 1.5B role\n(tiny or r1_distill_qwen_1p5b)")
        reasons.append("panel (a): no SENT runs on the 1.5B role")
    ax = axes[0, 1]
    if seven:
        drawn = _entropy_panel(ax, runs, seven)
        ax.set_title(f"(b) {_model_tag(M7B)}", fontsize=8)
        miss = [method_label(m) for m in ("grpo", "mask", "sent") if m not in drawn]
        if miss:
            reasons.append(f"panel (b), {M7B}: no runs for {', '.join(miss)}")
    else:
        _empty_panel(ax, f"(b) {model_label(M7B)}",
                     f"no GRPO / w/ Mask / SENT runs on {M7B}:\nthis panel cannot be built")
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
