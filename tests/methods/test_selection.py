"""Token selection by rank: exactly k tokens of the mask, boundary ties to the lowest flat index."""

from __future__ import annotations

import pytest
import torch

from methods.common import _select_by_rank, bottom_frac_mask, frac_count, top_frac_mask


def reference(values, mask, k, largest):
    items = [(float(values.reshape(-1)[i]), i) for i in range(values.numel()) if bool(mask.reshape(-1)[i])]
    items.sort(key=lambda t: ((-t[0] if largest else t[0]), t[1]))  # value order, then lowest index
    out = torch.zeros(values.numel(), dtype=torch.bool)
    for _, i in items[:k]:
        out[i] = True
    return out.view_as(mask)


@pytest.mark.parametrize("k", [0, 1, 3, 31, 33, 50, 119, 120, 500])
@pytest.mark.parametrize("largest", [True, False])
def test_matches_sorted_reference_with_ties(k, largest):
    g = torch.Generator().manual_seed(k)
    values = torch.randint(0, 6, (8, 20), generator=g).float()          # heavy ties
    mask = torch.rand(8, 20, generator=g) > 0.25
    got = _select_by_rank(values, mask, min(k, int(mask.sum())), largest)
    assert torch.equal(got, reference(values, mask, min(k, int(mask.sum())), largest))
    assert not (got & ~mask).any()


def test_fraction_counts_follow_the_reference_code():
    assert frac_count(0.8, 10) == 8 and frac_count(2e-4, 4000) == 1 and frac_count(2e-4, 10000) == 2
    assert frac_count(0.2, 11, "ceil") == 3 and frac_count(0.2, 10, "ceil") == 2   # ceil(rho n), as 80/20
    assert frac_count(0.5, 0) == 0
    mask = torch.ones(2, 5, dtype=torch.bool)
    v = torch.arange(10.0).view(2, 5)
    assert bottom_frac_mask(v, mask, 0.3).reshape(-1).tolist() == [True] * 3 + [False] * 7
    assert top_frac_mask(v, mask, 0.3, rounding="ceil").reshape(-1).tolist() == [False] * 7 + [True] * 3


def test_expected_count_rounding_keeps_the_share_of_tokens():
    """docs/calibration.md rule F: k = floor(f n) + Bernoulli(f n - floor(f n)), so E[k] = f n at any n
    (0.26 tokens for the paper's 2e-4 at 1300 tokens), never the reference code's minimum of 1."""
    torch.manual_seed(0)
    draws = [frac_count(2e-4, 1300, "expected") for _ in range(20000)]
    assert set(draws) == {0, 1}
    assert abs(sum(draws) / len(draws) - 0.26) < 0.015       # Bernoulli(0.26): sd of the mean 0.003
    draws = [frac_count(0.3, 25, "expected") for _ in range(4000)]  # f n = 7.5
    assert set(draws) == {7, 8} and abs(sum(draws) / len(draws) - 7.5) < 0.05
    assert frac_count(0.2, 50, "expected") == 10 and frac_count(0.5, 0, "expected") == 0
    torch.manual_seed(3)
    a = [frac_count(2e-4, 1300, "expected") for _ in range(50)]
    torch.manual_seed(3)
    assert a == [frac_count(2e-4, 1300, "expected") for _ in range(50)]  # seeded: reproducible
    with pytest.raises(ValueError, match="rounding='nearest' is not one of"):
        frac_count(0.5, 10, "nearest")


@pytest.mark.parametrize("method,field,key", [("cov", "cov_frac", "method/penalised_frac"),
                                              ("clip", "clip_frac", "method/clip_frac")])
def test_methods_with_expected_rounding_act_on_the_paper_share(method, field, key):
    """Cov and Clip with count_rounding=expected: the acted-on share averages the fraction (no minimum of 1),
    while the reference rounding acts on one token whatever the fraction."""
    from tests.methods.helpers import run_method

    B, T = 8, 50                                                    # 400 tokens: f n = 0.2 at f = 5e-4
    shares, floor_shares = [], []
    for seed in range(300):
        g = torch.Generator().manual_seed(seed)
        lp = -torch.rand(B, T, generator=g) * 3
        t = {"log_prob": lp, "old_log_prob": lp.clone(), "advantages": torch.randn(B, 1, generator=g).expand(B, T) * 3,
             "mask": torch.ones(B, T, dtype=torch.bool), "entropy": torch.rand(B, T, generator=g),
             "ref_log_prob": lp.clone()}
        t["old_entropy"] = t["entropy"]
        params = {field: 5e-4, "cov_lb": -100.0, "cov_ub": 100.0} if method == "clip" else {field: 5e-4}
        shares.append(run_method(method, t, {**params, "count_rounding": "expected"}, seed=seed)[3][key])
        floor_shares.append(run_method(method, t, params, seed=seed)[3][key])
    assert abs(sum(shares) / len(shares) - 5e-4) < 1.5e-4        # Bernoulli(0.2)/400 per call: sd 6e-5
    assert all(abs(s - 1 / (B * T)) < 1e-9 for s in floor_shares)
