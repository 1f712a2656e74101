"""Golden values: every method on a tiny batch against an independent scalar re-derivation.

The references below are written from the papers' equations (and the released code where a method
mirrors it) as plain Python loops over tokens, with sorting instead of torch.topk, so they share no
code with ``methods/``. A few numbers are also worked out by hand in the comments.
"""

from __future__ import annotations

import math

import pytest
import torch

from tests.methods.helpers import run_method

# B = 2 responses, T = 3 positions; response 1 has 2 tokens (position 2 is padding)
LP = [[-0.5, -1.0, -0.2], [-2.0, -0.1, -9.9]]
OLD = [[-0.7, -1.0, -0.1], [-1.5, -0.3, -9.9]]
REF = [[-0.6, -0.8, -0.3], [-1.8, -0.2, -9.9]]
ENT = [[0.9, 0.1, 0.4], [1.5, 0.05, 9.9]]
ADV = [1.0, -1.0]
MASK = [[1, 1, 1], [1, 1, 0]]
TOK = [(i, j) for i in range(2) for j in range(3) if MASK[i][j]]  # 5 valid tokens, row-major
N = len(TOK)


def tensors():
    f = lambda x: torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return {"log_prob": f(LP), "old_log_prob": f(OLD), "ref_log_prob": f(REF), "entropy": f(ENT),
            "old_entropy": f(ENT), "advantages": f([[a] * 3 for a in ADV]), "mask": torch.tensor(MASK, dtype=torch.bool)}


def k3(i, j):
    d = REF[i][j] - LP[i][j]
    return math.exp(d) - d - 1


def ppo(i, j, a, lo=0.2, hi=0.2, c=3.0):
    r = math.exp(LP[i][j] - OLD[i][j])
    l = max(-a * r, -a * min(max(r, 1 - lo), 1 + hi))
    return min(l, -a * c) if a < 0 else l


def mean(xs):
    return sum(xs) / len(xs)


def cov_all():
    mlp = mean([LP[i][j] for i, j in TOK])
    ma = mean([ADV[i] for i, j in TOK])
    return {(i, j): (LP[i][j] - mlp) * (ADV[i] - ma) for i, j in TOK}


def ref_grpo(kl=0.001):
    return mean([ppo(i, j, ADV[i]) + kl * k3(i, j) for i, j in TOK])


def ref_en(coef=0.001, kl=0.001):
    return ref_grpo(kl) - coef * mean([ENT[i][j] for i, j in TOK])


def ref_adv(alpha=0.4, kappa=2.0):
    return mean([ppo(i, j, ADV[i] + min(alpha * ENT[i][j], abs(ADV[i]) / kappa)) for i, j in TOK])


def ref_mask(rho=0.2):
    k = math.ceil(rho * N)
    keep = sorted(TOK, key=lambda t: -ENT[t[0]][t[1]])[:k]
    return mean([ppo(i, j, ADV[i]) for i, j in keep])


def ref_high_en(frac=0.2, coef=0.001):
    k = math.ceil(frac * N)
    high = set(sorted(TOK, key=lambda t: -ENT[t[0]][t[1]])[:k])
    return ref_grpo() - coef * sum(ENT[i][j] for i, j in high) / N


def ref_cov(frac=2e-4, beta=1.0):
    c = cov_all()
    k = max(1, int(frac * N))
    top = set(sorted(TOK, key=lambda t: -c[t])[:k])
    return mean([-ADV[i] * math.exp(LP[i][j] - OLD[i][j]) + (beta * abs(LP[i][j] - OLD[i][j]) if (i, j) in top else 0)
                 for i, j in TOK])


def ref_clip_all_candidates(lb, ub):
    """Clip-Cov when clip_frac selects every candidate: candidates get loss 0; eps = 1 (recipe)."""
    c = cov_all()
    out = []
    for i, j in TOK:
        r = math.exp(LP[i][j] - OLD[i][j])
        pg1, pg2 = -ADV[i] * r, -ADV[i] * min(max(r, 0.0), 2.0)
        cand = lb < c[(i, j)] < ub and not pg2 > pg1
        out.append(0.0 if cand else max(pg1, pg2))
    return mean(out)


def ref_sent(en=0.8, cov=2e-4, bl=0.5, bh=2.0, kl=1.0):
    k = max(1, int(en * N))
    low = sorted(TOK, key=lambda t: ENT[t[0]][t[1]])[:k]
    c = cov_all()  # Eq. 12: centred over the whole batch
    k2 = max(1, int(cov * k))
    high = set(sorted(low, key=lambda t: -c[t])[:k2])
    w = {t: (bh if t in high else bl) for t in low}
    return mean([ppo(i, j, ADV[i]) + kl * w.get((i, j), 0.0) * k3(i, j) for i, j in TOK])


def ref_low(en=0.8, beta=0.5, kl=1.0):
    k = max(1, int(en * N))
    low = set(sorted(TOK, key=lambda t: ENT[t[0]][t[1]])[:k])
    return mean([ppo(i, j, ADV[i]) + (kl * beta * k3(i, j) if (i, j) in low else 0.0) for i, j in TOK])


def ref_sent_released(coef=0.1, kl=0.001, bug=False):
    k = max(1, int(0.8 * N))
    low = sorted(range(N), key=lambda q: ENT[TOK[q][0]][TOK[q][1]])[:k]  # positions among valid tokens
    if bug:  # advantages[int_mask] -> [B, T, T] with out[b, t, s] = x[mask[b][t]][s], flattened
        adv_rows = [[ADV[0]] * 3, [ADV[1]] * 3]
        flat_a = [adv_rows[MASK[b][t]][s] for b in range(2) for t in range(3) for s in range(3)]
        flat_l = [LP[MASK[b][t]][s] for b in range(2) for t in range(3) for s in range(3)]
    else:
        flat_a = [ADV[i] for i, j in TOK]
        flat_l = [LP[i][j] for i, j in TOK]
    a = [flat_a[q] for q in low]
    lp = [flat_l[q] for q in low]
    c = [(x - mean(a)) * (y - mean(lp)) for x, y in zip(a, lp)]
    k2 = max(1, int(2e-4 * k))
    order = sorted(range(k), key=lambda q: -c[q])
    w = {}
    for q in order[:k2]:
        w[TOK[low[q]]] = coef * 2.0
    for q in sorted(range(k), key=lambda q: c[q])[:k2]:
        w[TOK[low[q]]] = coef * 0.5
    return mean([-ADV[i] * math.exp(LP[i][j] - OLD[i][j]) + w.get((i, j), 0.0) * abs(LP[i][j] - OLD[i][j])
                 + kl * k3(i, j) for i, j in TOK])


CASES = [
    ("grpo", {}, ref_grpo),
    ("grpo", {"kl_coef": 0.0}, lambda: ref_grpo(0.0)),
    ("en", {}, ref_en),
    ("en", {"entropy_coef": 0.25}, lambda: ref_en(0.25)),
    ("adv", {}, ref_adv),
    ("mask", {}, ref_mask),
    ("mask", {"keep_frac": 0.6}, lambda: ref_mask(0.6)),
    ("high_en", {}, ref_high_en),
    ("high_en", {"high_entropy_frac": 0.5, "entropy_coef": 0.5}, lambda: ref_high_en(0.5, 0.5)),
    ("cov", {}, ref_cov),
    ("cov", {"cov_frac": 0.4, "penalty_coef": 0.7}, lambda: ref_cov(0.4, 0.7)),
    ("clip", {"clip_frac": 1.0, "cov_lb": 0.0, "cov_ub": 5.0}, lambda: ref_clip_all_candidates(0.0, 5.0)),
    ("clip", {"clip_frac": 1.0, "cov_lb": -5.0, "cov_ub": 0.0}, lambda: ref_clip_all_candidates(-5.0, 0.0)),
    ("sent", {}, ref_sent),
    ("sent", {"low_entropy_frac": 0.6, "high_cov_frac": 0.5}, lambda: ref_sent(en=0.6, cov=0.5)),
    ("low_cov", {}, ref_sent),
    ("low", {}, ref_low),
    ("sent_released", {}, ref_sent_released),
]


@pytest.mark.parametrize("name,params,ref", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_independent_reference(name, params, ref):
    loss, *_ = run_method(name, tensors(), params)
    assert float(loss) == pytest.approx(ref(), rel=1e-9, abs=1e-12)


def test_grpo_by_hand():
    """One token, A = 1, ratio e^{0.3} = 1.3499 -> clipped at 1.2: loss = -1.2; k3 with d = ref - lp = -0.1:
    e^{-0.1} + 0.1 - 1 = 0.0048374; total -1.2 + 0.001 * 0.0048374 = -1.1999951626."""
    f = lambda x: torch.tensor([[x]], dtype=torch.float64)  # noqa: E731
    t = {"log_prob": f(-0.2), "old_log_prob": f(-0.5), "ref_log_prob": f(-0.3), "entropy": f(0.5),
         "old_entropy": f(0.5), "advantages": f(1.0), "mask": torch.tensor([[True]])}
    loss, *_ = run_method("grpo", t)
    assert float(loss) == pytest.approx(-1.2 + 0.001 * (math.exp(-0.1) + 0.1 - 1), abs=1e-12)


def test_sent_released_index_bug_matches_literal_released_indexing():
    """The bug case on a random ragged batch: our loss equals a reference that performs the
    released code's integer indexing literally on the [B, T, T] tensor, and differs from the intended one."""
    g = torch.Generator().manual_seed(5)
    B, T = 4, 6
    # lengths 2, 6, 4, 6: row 0 is short, so the mis-indexed gather mixes rows 0 and 1 (distinct advantages)
    mask = torch.arange(T)[None, :] < torch.tensor([2, 6, 4, 6])[:, None]
    t = {"log_prob": -torch.rand(B, T, generator=g, dtype=torch.float64) * 2,
         "advantages": torch.randn(B, 1, generator=g, dtype=torch.float64).expand(B, T).clone(),
         "entropy": torch.rand(B, T, generator=g, dtype=torch.float64), "mask": mask}
    t["old_log_prob"] = t["log_prob"] + 0.3 * torch.randn(B, T, generator=g, dtype=torch.float64)
    t["ref_log_prob"] = t["log_prob"] + 0.2 * torch.randn(B, T, generator=g, dtype=torch.float64)
    t["old_entropy"] = t["entropy"]

    def reference(bug: bool) -> float:
        valid = mask.reshape(-1).nonzero().squeeze(-1)
        n = valid.numel()
        k = max(1, int(0.8 * n))
        # as released: topk over the valid tokens' entropies (its index order matters for covariance ties)
        low = torch.topk(t["entropy"].reshape(-1)[valid], k, largest=False).indices.tolist()
        if bug:
            A = t["advantages"][mask.long()].reshape(-1).tolist()     # literally as released: [B, T, T]
            L = t["log_prob"][mask.long()].reshape(-1).tolist()
        else:
            A = t["advantages"].reshape(-1)[valid].tolist()
            L = t["log_prob"].reshape(-1)[valid].tolist()
        a, lp = [A[q] for q in low], [L[q] for q in low]
        c = torch.tensor([(x - mean(a)) * (y - mean(lp)) for x, y in zip(a, lp)])
        k2 = max(1, int(2e-4 * k))
        w = [0.0] * (B * T)
        # the bug duplicates (row, s) pairs, so covariances tie: break ties as the released code does (topk)
        for q in torch.topk(c, k2, largest=True).indices.tolist():
            w[int(valid[low[q]])] = 0.1 * 2.0
        for q in torch.topk(c, k2, largest=False).indices.tolist():
            w[int(valid[low[q]])] = 0.1 * 0.5
        lpf, oldf, reff = (t[x].reshape(-1).tolist() for x in ("log_prob", "old_log_prob", "ref_log_prob"))
        advf = t["advantages"].reshape(-1).tolist()
        tot = 0.0
        for p in valid.tolist():
            d = reff[p] - lpf[p]
            tot += -advf[p] * math.exp(lpf[p] - oldf[p]) + w[p] * abs(lpf[p] - oldf[p]) + 0.001 * (math.exp(d) - d - 1)
        return tot / n

    bugged, *_ = run_method("sent_released", t, {"reproduce_index_bug": True})
    intended, *_ = run_method("sent_released", t)
    assert float(bugged) == pytest.approx(reference(True), rel=1e-9)
    assert float(intended) == pytest.approx(reference(False), rel=1e-9)
    assert float(bugged) != pytest.approx(float(intended), rel=1e-9)


def test_bugged_gather_equals_literal_integer_indexing():
    from methods.sent_released import _bugged_flat_gather

    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 5, generator=g)
    m = (torch.rand(4, 5, generator=g) > 0.3).long()
    literal = x[m].reshape(-1)                          # the released code's integer indexing: [4, 5, 5]
    idx = torch.arange(int(m.sum()))
    torch.testing.assert_close(_bugged_flat_gather(x, m, idx), literal[idx])
