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
