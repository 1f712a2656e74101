"""Figures: drawn from what exists, labelled when k is capped, reported (not drawn) when inputs are missing."""

import matplotlib.pyplot as plt
import pytest

from analysis import curves, fig_curves, fig_tokens, figures
from analysis.load import load_runs
from analysis.registry import MissingInputs
from analysis.select import method_arm

from .conftest import one_problem_runs, train_lines


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("figs")
    for seed in (0, 1):
        one_problem_runs(root, "grpo", seed, {0: 1, 5: 1, 10: 2}, n=4, train=train_lines(10, 1.0 + seed, -0.05))
        one_problem_runs(root, "sent", seed, {0: 1, 5: 3, 10: 4}, n=4, train=train_lines(10, 1.0, 0.0, stage_at=6))
    return load_runs(root)


def test_entropy_curve_is_mean_and_the_tables_interval_over_seeds(runs):
    arm = method_arm(runs.meta, "tiny", "grpo")
    c = curves.train_curve(runs, arm).set_index("step")
    # seeds: 1 - 0.05 t and 2 - 0.05 t -> mean 1.5 - 0.05 t; 2 seeds (< 5): the t-interval,
    # half-width t_{1,0.975} * std([1, 2], ddof=1) / sqrt(2) = 12.706205 * 0.5
    assert c.loc[4, "mean"] == pytest.approx(1.3) and c.loc[4, "n"] == 2 and c.loc[4, "kind"] == "t"
    assert (c.loc[4, "lo"], c.loc[4, "hi"]) == (pytest.approx(1.3 - 6.3531, abs=1e-3),
                                                pytest.approx(1.3 + 6.3531, abs=1e-3))
    assert curves.stage_starts(runs, method_arm(runs.meta, "tiny", "sent")) == [6.0]


def test_eval_curve_mean_over_benchmarks(runs):
    arm = method_arm(runs.meta, "tiny", "sent")
    c = curves.eval_curve(runs, arm, "avg", 4, None).set_index("eval_step")
    assert list(c.index) == [0, 5, 10]
    assert c.loc[5, "mean"] == pytest.approx(75.0) and c.loc[5, "hi"] - c.loc[5, "lo"] == 0.0  # both: 3 of 4


def test_capped_k_is_labelled(runs):
    res = fig_curves.fig1(runs)
    try:
        title = res.fig.axes[1].get_title()
        # the title states the metric plotted (Pass@4, not the paper's Pass@32); every benchmark has
        # pass@4 = 100% at every step (one correct sample of 4), so it plots the mean and says why
        assert title.startswith("Pass@4, mean over benchmarks (paper: Pass@32, AIME24: saturated here)"), title
        assert res.fig.axes[1].get_ylabel() == "Pass@4 (%)"
        assert "largest admissible k=4" in res.caption and "synth_1 is saturated at Pass@4" in res.caption
        # En has no runs: drawn with what exists and reported
        assert res.status == "partial" and "w/ En" in res.reasons[0]
    finally:
        plt.close(res.fig)


def test_k_curve_values(runs):
    kc = curves.k_curves(runs, method_arm(runs.meta, "tiny", "grpo"))
    p = kc[(kc["benchmark"] == "synth_1") & (kc["metric"] == "pass")].set_index("k")["mean"]
    # final step: 2 correct of 4 -> pass@1 = 50, pass@2 = 1 - C(2,2)/C(4,2) = 5/6, pass@4 = 100
    assert p.to_dict() == pytest.approx({1: 50.0, 2: 500 / 6, 4: 100.0})


@pytest.mark.parametrize("builder", [fig_curves.fig6, fig_curves.fig9, fig_curves.fig12, fig_tokens.fig8])
def test_missing_inputs_raise_instead_of_drawing(runs, builder):
    n_before = len(plt.get_fignums())
    with pytest.raises(MissingInputs):
        builder(runs)
    assert len(plt.get_fignums()) == n_before


def test_saturated_paper_benchmark_is_replaced_by_an_informative_one(tmp_path):
    from tests.analysis.synthetic import SYNTH_BENCHMARKS, samples_from_counts, write_run

    # n = 8, so Pass@8 (the largest admissible k) is the share of problems with a correct sample:
    # synth_1 two solved problems of 2 (100%, saturated); synth_3 3 of 4 (75%); the rest 1 of 2 (50%:
    # closest to 50%, ties by name -> synth_2)
    counts = {b: [8, 0] for b in SYNTH_BENCHMARKS} | {"synth_1": [8, 8], "synth_3": [8, 8, 8, 0]}
    for m in ("grpo", "en", "sent"):
        for seed in (0, 1):
            samples = {b: samples_from_counts({0: c, 5: c}, 8) for b, c in counts.items()}
            write_run(tmp_path / "s" / f"method={m},seed={seed}", method=m, seed=seed, samples=samples, n=8,
                      train=train_lines(5))
    r = load_runs(tmp_path)
    res = fig_curves.fig1(r)
    try:
        title = res.fig.axes[1].get_title()
        assert title.startswith("Pass@8, synth_2 (paper: Pass@32, AIME24: saturated here)"), title
        assert "synth_1 is saturated at Pass@8" in res.caption and "showing synth_2" in res.caption
    finally:
        plt.close(res.fig)


def test_fig11_says_in_place_which_panel_cannot_be_built(runs):
    res = fig_curves.fig11(runs)
    try:
        assert len(res.fig.axes) == 2
        texts = [t.get_text() for t in res.fig.axes[1].texts]
        assert any("this panel cannot be built" in t for t in texts)
        assert res.status == "partial" and any("panel (b)" in r for r in res.reasons)
    finally:
        plt.close(res.fig)


def test_token_labels_are_not_escaped():
    assert fig_tokens.token_display("\\boxed{") == "\\boxed{"
    assert fig_tokens.token_display(" the") == "␣the" and fig_tokens.token_display("$x$") == "\\$x\\$"


def test_labels_and_colours_come_from_the_method_catalog(monkeypatch):
    from analysis import paper

    assert paper.method_label("low_cov") == "w/ Low_Cov" and paper.METHOD_LABEL["sent"] == "w/ SENT"
    assert paper.method_label("base") == "Base model" and paper.method_label("gone") == "gone"
    assert figures.color_of("grpo") == paper.method_catalog()["grpo"].color == "#4d4d4d"  # the class's color
    from types import SimpleNamespace

    fake = {"grpo": SimpleNamespace(color="#4d4d4d"), "zeta_new": SimpleNamespace(color=""),
            "alpha_new": SimpleNamespace(color="")}
    monkeypatch.setattr(figures, "method_catalog", lambda: fake)
    # methods without a fixed colour get distinct palette colours, by name order
    assert figures.color_of("alpha_new") == figures._PALETTE[0] and figures.color_of("zeta_new") == figures._PALETTE[1]
    assert figures.color_of("grpo") == "#4d4d4d" and figures.color_of("unknown") is None
    assert figures.color_of("cur") == figures.COLORS["cur"]  # an arm that is not a method
