"""The ``embedded_heldout`` table (benchmarks without a paper twin) against a hand computation."""

from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from analysis import heldout
from analysis.cli import _build_one
from analysis.load import load_runs
from analysis.registry import MissingInputs, NotApplicable, get
from analysis.report import index_md, summary_md

from .conftest import train_lines
from .synthetic import HELDOUT_BENCHMARKS, samples_from_counts, synthetic_sweep, write_run

T1 = 12.706204736174707  # Student-t 97.5% quantile, 1 degree of freedom (2 seeds)
N = 4  # samples per problem: the largest admissible k is 4

# final-step correct counts of the two problems of each benchmark, per (method, seed)
COUNTS = {("grpo", 0): {"synth_7": [1, 0], "synth_8": [0, 0]},
          ("grpo", 1): {"synth_7": [2, 0], "synth_8": [1, 0]},
          ("sent", 0): {"synth_7": [1, 1], "synth_8": [1, 0]},
          ("sent", 1): {"synth_7": [4, 0], "synth_8": [2, 1]}}
SLOPE = {"grpo": -0.05, "sent": -0.01}  # train/entropy = 1 + 0.1 seed + slope * step, 10 steps


def _crafted(root: Path) -> Path:
    for (method, seed), counts in COUNTS.items():
        samples = {b: samples_from_counts({0: [0, 0], 5: cs}, N) for b, cs in counts.items()}
        samples["synth_1"] = samples_from_counts({0: [1, 1], 5: [3, 3]}, N)  # a twin: not in this table
        write_run(root / "s" / f"method={method},seed={seed}", method=method, seed=seed, samples=samples, n=N,
                  ks=(1, 2, 4), train=train_lines(10, entropy0=1.0 + 0.1 * seed, slope=SLOPE[method]))
    return root


def _t(a: float, b: float, tol=1e-4):  # the CSVs carry 4 decimals
    """(mean, lo, hi) of two seeds' values with the Student-t interval."""
    m, half = (a + b) / 2, T1 * abs(a - b) / 2
    return pytest.approx([m, m - half, m + half], abs=tol)


@pytest.fixture(scope="module")
def crafted(tmp_path_factory):
    runs = load_runs(_crafted(tmp_path_factory.mktemp("heldout")))
    return runs, heldout.make(runs)


def test_cells_match_a_hand_computation(crafted):
    _, res = crafted
    df = pd.read_csv(StringIO(res.files["embedded_heldout.csv"]), keep_default_na=False)
    got = {(r.method, r.benchmark, str(r.k)): [r.mean, r.lo, r.hi] for r in df.itertuples()}
    assert set(df["interval"]) == {"t"} and set(df["n_seeds"]) == {2} and set(df["benchmark"]) == {
        "synth_7", "synth_8", "Avg.", "Final entropy"}  # synth_1 has a twin: left out
    # pass@4 of a problem is 1 when any of its 4 samples is correct; pass@1 = c / 4; two problems each
    assert got[("grpo", "synth_7", "4")] == _t(50.0, 50.0)
    assert got[("grpo", "synth_7", "1")] == _t(12.5, 25.0)
    assert got[("grpo", "synth_8", "4")] == _t(0.0, 50.0)
    assert got[("grpo", "synth_8", "1")] == _t(0.0, 12.5)
    assert got[("sent", "synth_7", "4")] == _t(100.0, 50.0)
    assert got[("sent", "synth_7", "1")] == _t(25.0, 50.0)
    assert got[("sent", "synth_8", "4")] == _t(50.0, 100.0)
    assert got[("sent", "synth_8", "1")] == _t(12.5, 37.5)
    # Avg.: each seed's mean of its four cells, then over seeds
    assert got[("grpo", "Avg.", "")] == _t(15.625, 34.375)
    assert got[("sent", "Avg.", "")] == _t(46.875, 59.375)
    # final entropy: the last 10% of 10 steps is step 10
    assert got[("grpo", "Final entropy", "")] == _t(0.5, 0.6)
    assert got[("sent", "Final entropy", "")] == _t(0.9, 1.0)


def test_paired_difference_with_grpo(crafted):
    _, res = crafted
    df = pd.read_csv(StringIO(res.files["embedded_heldout_vs_grpo.csv"]), keep_default_na=False)
    assert set(df["method"]) == {"sent"} and set(df["n_pairs"]) == {2}
    got = {(r.benchmark, str(r.k)): [r.diff, r.lo, r.hi] for r in df.itertuples()}
    assert got[("synth_7", "4")] == _t(50.0, 0.0)
    assert got[("synth_8", "1")] == _t(12.5, 25.0)
    assert got[("Avg.", "")] == _t(31.25, 25.0)
    assert got[("Final entropy", "")] == _t(0.4, 0.4)


def test_markdown_layout(crafted):
    _, res = crafted
    md = res.files["embedded_heldout.md"]
    assert "not in the paper" in md
    assert "| Method | synth_7 Pass@4 | synth_7 Pass@1 | synth_8 Pass@4 | synth_8 Pass@1 | Avg. | Final entropy |" in md
    # methods in catalog order; each cell: mean [95% interval] (n seeds)
    assert md.index("| GRPO | 50.00 [50.00, 50.00] (n=2) | 18.75 [") < md.index("| w/ SENT | 75.00 [")
    assert "| w/ SENT | +25.00 [" in md.split("Paired difference with GRPO")[1]
    assert "synth_1" not in md and "\\begin{tabular}" in res.files["embedded_heldout.tex"]
    assert res.status == "built" and "not in the paper" in res.main_md


def test_index_and_summary_list_it(crafted, tmp_path):
    runs, _ = crafted
    o = _build_one(get("embedded_heldout"), runs, tmp_path, [])
    assert o.status == "built" and (tmp_path / "tables" / "embedded_heldout.csv").exists()
    index = index_md(runs, [o], "cmd", "sha", "now")
    assert "### embedded_heldout — built" in index and "not in the paper" in index and "| GRPO |" in index
    assert "| embedded_heldout | table | built |" in summary_md(runs, [o], "cmd", [])


def test_absent_without_extra_benchmarks(tmp_path):
    synthetic_sweep(tmp_path, methods=("grpo", "sent"), seeds=(0,), problems=4, eval_steps=(0, 60))
    runs = load_runs(tmp_path)
    with pytest.raises(NotApplicable):
        heldout.make(runs)
    assert _build_one(get("embedded_heldout"), runs, tmp_path / "out", []).status == "absent"
    assert not (tmp_path / "out").exists()


def test_synthetic_sweep_writes_heldout_benchmarks(tmp_path):
    synthetic_sweep(tmp_path, methods=("grpo", "sent"), seeds=(0, 1), problems=4, eval_steps=(0, 60),
                    extra_benchmarks=HELDOUT_BENCHMARKS)
    res = heldout.make(load_runs(tmp_path))
    df = pd.read_csv(StringIO(res.files["embedded_heldout.csv"]), keep_default_na=False)
    assert set(df["method"]) == {"grpo", "sent"} and set(df.loc[df["metric"] == "pass", "k"]) == {"1", "32"}


def test_missing_when_no_run_has_them_at_the_eval_step(tmp_path):
    runs = load_runs(_crafted(tmp_path))
    runs.options.eval_step = 3  # the runs evaluated at steps 0 and 5
    with pytest.raises(MissingInputs) as e:
        heldout.make(runs)
    assert not isinstance(e.value, NotApplicable) and "synth_7, synth_8" in str(e.value)
