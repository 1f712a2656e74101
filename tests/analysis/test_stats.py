"""Bootstrap intervals on tiny inputs whose bootstrap distributions are known exactly, and the
run-level intervals' coverage on simulated studies with known truth (tests/analysis/test_coverage.py)."""

import numpy as np
import pytest

from analysis.stats import paired_comparison, run_bootstrap, stratified_bootstrap, verdict

REPS = 20000  # enough that percentiles of these discrete distributions land on their exact values


def test_mean_of_task_means():
    est = stratified_bootstrap([np.array([1.0, 3.0]), np.array([10.0, 10.0, 10.0])])
    assert est.mean == pytest.approx(6.0)  # (2 + 10) / 2, not the pooled 34/5
    assert est.n_runs == 2 and est.n_tasks == 2


def test_two_runs_interval_is_exact():
    # resampled mean of [0, 1]: 0 (p=1/4), 0.5 (1/2), 1 (1/4) -> 2.5% and 97.5% percentiles 0 and 1
    est = stratified_bootstrap([np.array([0.0, 1.0])], reps=REPS)
    assert (est.lo, est.hi) == (0.0, 1.0)


def test_resampling_is_within_each_task():
    # task A constant 0, task B = [0, 1]: aggregate = (0 + mean_B*) / 2 in {0, .25, .5} -> CI [0, 0.5];
    # a pooled (unstratified) bootstrap over [0, 0, 0, 1] would reach 0.75 at the 97.5th percentile
    est = stratified_bootstrap([np.array([0.0, 0.0]), np.array([0.0, 1.0])], reps=REPS)
    assert est.mean == pytest.approx(0.25)
    assert (est.lo, est.hi) == (0.0, 0.5)


def test_constant_scores_give_zero_width_and_one_run_gives_no_interval():
    est = stratified_bootstrap([np.array([5.0, 5.0, 5.0])])
    assert (est.lo, est.hi) == (5.0, 5.0)
    one = stratified_bootstrap([np.array([5.0]), np.array([7.0])])
    assert one.mean == 6.0 and np.isnan(one.lo) and np.isnan(one.hi)


def test_fixed_random_state_is_deterministic():
    x = [np.array([0.1, 0.5, 0.9, 0.3]), np.array([0.2, 0.4, 0.8])]
    a = stratified_bootstrap(x, random_state=3)
    assert a == stratified_bootstrap(x, random_state=3)
    assert a != stratified_bootstrap(x, random_state=4)


def test_accepts_runs_by_tasks_matrix_with_missing():
    m = np.array([[1.0, 2.0], [3.0, np.nan]])
    assert stratified_bootstrap(m).mean == pytest.approx((2.0 + 2.0) / 2)


def test_bad_input():
    with pytest.raises(ValueError, match="at least one run"):
        stratified_bootstrap([np.array([])])


def test_paired_shift_is_exact():
    y = [np.array([1.0, 5.0, 9.0]), np.array([0.0, 2.0, 4.0])]
    x = [a + 2.0 for a in y]
    c = paired_comparison(x, y, reps=REPS)
    assert (c.diff, c.diff_lo, c.diff_hi) == (2.0, 2.0, 2.0)  # pairing removes the between-seed spread
    assert (c.p_improve, c.p_lo, c.p_hi) == (1.0, 1.0, 1.0)
    assert c.n_pairs == 3 and c.n_tasks == 2


def test_paired_ties_count_half_and_mixed_signs():
    same = paired_comparison([np.array([1.0, 2.0])], [np.array([1.0, 2.0])])
    assert same.diff == 0.0 and same.p_improve == 0.5
    mixed = paired_comparison([np.array([1.0, 0.0])], [np.array([0.0, 1.0])], reps=REPS)
    # d = [+1, -1]: wins resample to 0 (1/4), .5 (1/2), 1 (1/4)
    assert mixed.p_improve == 0.5 and (mixed.p_lo, mixed.p_hi) == (0.0, 1.0)
    assert (mixed.diff_lo, mixed.diff_hi) == (-1.0, 1.0)


def test_paired_needs_the_same_seeds():
    with pytest.raises(ValueError, match="same seeds"):
        paired_comparison([np.array([1.0, 2.0])], [np.array([1.0])])
    with pytest.raises(ValueError, match="same seeds"):  # cells with different seed counts
        paired_comparison([np.array([1.0, 2.0]), np.array([1.0])], [np.array([1.0, 2.0]), np.array([1.0])])


def test_paired_resamples_seeds_jointly_across_cells():
    # three cells, differences perfectly correlated across cells: seed 0 wins by 1 on all, seed 1 by 3.
    # joint resampling: per-seed mean diff in {1, 3} -> resampled means {1 (1/4), 2 (1/2), 3 (1/4)}, so
    # the 2.5% percentile is 1; resampling each cell independently makes "all three cells at 1" a
    # 1/64 < 2.5% event and lifts the lower end to 4/3
    d = np.array([[1.0, 1.0, 1.0], [3.0, 3.0, 3.0]])
    c = paired_comparison(d, np.zeros_like(d), reps=REPS)
    assert c.diff == 2.0 and (c.diff_lo, c.diff_hi) == (1.0, 3.0)
    assert c.n_pairs == 2 and c.n_tasks == 3
    strat = stratified_bootstrap([d[:, 0], d[:, 1], d[:, 2]], reps=REPS)
    assert strat.lo == pytest.approx(4 / 3)  # the flaw the joint resampling fixes


def test_run_bootstrap_is_joint_and_t_interval_is_hand_computed():
    v = np.array([[0.0, 2.0], [2.0, 4.0], [4.0, 6.0]])  # per-run means 1, 3, 5
    e = run_bootstrap(v, reps=REPS)
    assert e.mean == 3.0 and e.n_runs == 3 and e.n_cells == 2
    assert (e.lo, e.hi) == (1.0, 5.0)  # resamples of {1,3,5}: min 1 and max 5 each have p = 1/27 > 2.5%
    # t: 3 +- t_{2,0.975} * 2 / sqrt(3), t_{2,0.975} = 4.302653
    assert e.t_lo == pytest.approx(3 - 4.302653 * 2 / np.sqrt(3), abs=1e-5)
    assert e.t_hi == pytest.approx(3 + 4.302653 * 2 / np.sqrt(3), abs=1e-5)
    assert e.primary()[2] == "t"  # 3 < MIN_SEEDS_BOOTSTRAP
    assert run_bootstrap(np.arange(6.0)).primary()[2] == "bootstrap"


def test_run_bootstrap_rejects_missing_cells_and_one_run_has_no_interval():
    with pytest.raises(ValueError, match="NaN"):
        run_bootstrap(np.array([[1.0, np.nan], [2.0, 3.0]]))
    one = run_bootstrap(np.array([[1.0, 3.0]]))
    assert one.mean == 2.0 and np.isnan(one.lo) and np.isnan(one.t_hi)


def test_verdict():
    assert verdict(0.1, 2.0, +1) == "holds"
    assert verdict(-2.0, -0.1, +1) == "contradicted"
    assert verdict(-2.0, -0.1, -1) == "holds"
    assert verdict(-0.1, 0.1, +1) == "inconclusive"
    assert verdict(float("nan"), 1.0, +1) == "inconclusive"
