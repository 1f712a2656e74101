"""The six baselines beyond the paper (clip_higher, gspo, cispo, gtpo, archer, entropic).

GSPO and CISPO are checked against verl 0.9.1's own ``gspo`` / ``cispo`` policy losses on identical
float64 tensors (loss and gradient); Clip-Higher against verl's ``vanilla`` with DAPO's clip. The
others against values written out by hand from their papers' equations (plain Python, no code
shared with ``methods/``): Archer's two token classes with their own clip and KL weights, GTPO's
shaped rewards on a hand-built batch, EntroPIC's controller over a scripted entropy sequence and
its state through the loss entry point.
"""

from __future__ import annotations

import math
import statistics

import pytest
import torch

from core.loss import STATE_DELTA_PREFIX, LossConfig, MethodSpec, harness_loss, metric_values
from methods import ConfigError, build_method
from tests.methods.helpers import run_method
from tests.methods.test_verl_parity import big_batch


def f64(t: dict) -> dict:
    return {k: (v.double() if v.is_floating_point() else v) for k, v in t.items()}


def verl_run(fn, t, *, agg="token-mean", **cfg_kw):
    from verl.workers.config import ActorConfig

    cfg = ActorConfig(strategy="fsdp", ppo_mini_batch_size=4, ppo_micro_batch_size_per_gpu=4, rollout_n=1, **cfg_kw)
    lp = t["log_prob"].clone().requires_grad_(True)
    loss, metrics = fn(old_log_prob=t["old_log_prob"], log_prob=lp, advantages=t["advantages"],
                       response_mask=t["mask"], loss_agg_mode=agg, config=cfg)
    loss.backward()
    return loss.detach(), lp.grad.detach(), metrics


# ---- parity with verl 0.9.1 ----------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("agg", ["seq-mean-token-mean", "token-mean"])
@pytest.mark.parametrize("eps", [(3e-4, 4e-4), (0.05, 0.08)])
def test_gspo_matches_verl_gspo(seed, agg, eps):
    from verl.trainer.ppo.core_algos import compute_policy_loss_gspo

    t = f64(big_batch(seed))
    noise = 0.02 if eps[0] < 0.01 else 0.3  # sequence ratios on both sides of the clip range
    t["old_log_prob"] = t["log_prob"] + noise * torch.randn(t["log_prob"].shape, dtype=torch.float64,
                                                           generator=torch.Generator().manual_seed(seed))
    ours = run_method("gspo", t, {"clip_ratio_low": eps[0], "clip_ratio_high": eps[1], "loss_agg_mode": agg})
    ref = verl_run(compute_policy_loss_gspo, t, agg=agg, clip_ratio_low=eps[0], clip_ratio_high=eps[1])
    assert ours[0].dtype == torch.float64
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours[1], ref[1], rtol=1e-12, atol=1e-12)
    assert ours[3]["method/seq_clipfrac"] == pytest.approx(ref[2]["actor/pg_clipfrac"])
    assert 0 < ref[2]["actor/pg_clipfrac"] < 1  # the batch has sequences on both sides of the clip


def test_gspo_ratio_is_the_length_normalised_sequence_ratio():
    """Every token of a sequence carries s_i = exp(mean_t log r_it) (Eq. 7), computed by hand."""
    from methods.base import PolicyBatch
    from methods.gspo import sequence_ratio

    lp = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.1, 0.0]], dtype=torch.float64)
    old = torch.tensor([[-1.2, -1.7, -0.9], [-0.1, -0.4, -5.0]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]], dtype=torch.bool)
    s = sequence_ratio(PolicyBatch(log_prob=lp, old_log_prob=old, advantages=lp * 0, mask=mask))
    s0 = math.exp(((-1.0 + 1.2) + (-2.0 + 1.7) + (-0.5 + 0.9)) / 3)   # exp(0.3 / 3)
    s1 = math.exp(((-0.3 + 0.1) + (-0.1 + 0.4)) / 2)                  # exp(0.1 / 2), padding ignored
    torch.testing.assert_close(s[0], torch.full((3,), s0, dtype=torch.float64))
    torch.testing.assert_close(s[1, :2], torch.full((2,), s1, dtype=torch.float64))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("eps", [(1.0, 0.28), (0.2, 0.2)])
def test_cispo_matches_verl_cispo(seed, eps):
    from verl.trainer.ppo.core_algos import compute_policy_loss_cispo

    t = f64(big_batch(seed))
    ours = run_method("cispo", t, {"clip_ratio_low": eps[0], "clip_ratio_high": eps[1]})
    ref = verl_run(compute_policy_loss_cispo, t, clip_ratio_low=eps[0], clip_ratio_high=eps[1])
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours[1], ref[1], rtol=1e-12, atol=1e-12)
    assert ours[3]["method/is_clipfrac"] == pytest.approx(ref[2]["actor/pg_clipfrac"])
    assert ref[2]["actor/pg_clipfrac"] > 0


def test_cispo_keeps_a_gradient_on_clipped_tokens():
    """CISPO's point: a token whose ratio is clipped still gets -sg(1 + eps_high) A / N (PPO would give 0)."""
    t = f64(big_batch(0))
    t["old_log_prob"] = t["log_prob"] - 1.0                       # every ratio e > 1.28: all clipped
    _, g, _, _ = run_method("cispo", t)
    n = int(t["mask"].sum())
    expected = torch.where(t["mask"], -1.28 * t["advantages"] / n, torch.zeros_like(g))
    torch.testing.assert_close(g, expected)
    _, g_ppo, _, _ = run_method("clip_higher", t)
    assert g_ppo[t["mask"] & (t["advantages"] > 0)].abs().max() == 0  # PPO drops them


@pytest.mark.parametrize("seed", [0, 1])
def test_clip_higher_is_verl_vanilla_with_dapo_clip(seed):
    from verl.trainer.ppo.core_algos import compute_policy_loss_vanilla

    t = f64(big_batch(seed))
    ours = run_method("clip_higher", t)
    ref = verl_run(compute_policy_loss_vanilla, t, clip_ratio_low=0.2, clip_ratio_high=0.28, clip_ratio_c=10.0)
    torch.testing.assert_close(ours[0], ref[0], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(ours[1], ref[1], rtol=1e-12, atol=1e-12)


# ---- Archer: two token classes, each with its own clip and KL weight ------------------------------

def test_archer_classes_get_their_own_clip_and_kl():
    """One response of 5 tokens, entropies 0.1 .. 0.5 and one of 2.0. The 0.8 quantile (linear) of
    [0.1, 0.2, 0.3, 0.4, 2.0] is 0.4 + 0.2 * (2.0 - 0.4) = 0.72, so only token 4 is high-entropy.
    Tokens 0 and 4 both have ratio 1.4 and A = 1: the low-entropy one is clipped at 1 + 0.2, the
    high-entropy one not (1.4 < 1 + 0.5). KL: low tokens weight 0.5 over their own 4 tokens, the
    high token 0.25 over itself."""
    lp = [-1.0, -0.5, -2.0, -0.7, -1.5]
    old = [-1.0 - math.log(1.4), -0.5, -2.0 + 0.1, -0.7, -1.5 - math.log(1.4)]
    ref = [-1.1, -0.4, -2.0, -0.9, -1.0]
    ent = [0.1, 0.2, 0.3, 0.4, 2.0]
    t = {"log_prob": torch.tensor([lp], dtype=torch.float64), "old_log_prob": torch.tensor([old], dtype=torch.float64),
         "ref_log_prob": torch.tensor([ref], dtype=torch.float64), "entropy": torch.tensor([ent], dtype=torch.float64),
         "old_entropy": torch.tensor([ent], dtype=torch.float64), "advantages": torch.ones(1, 5, dtype=torch.float64),
         "mask": torch.ones(1, 5, dtype=torch.bool)}
    loss, g, _, metrics = run_method("archer", t, {"kl_coef": 0.5, "high_kl_coef": 0.25})

    def k3(j):
        d = ref[j] - lp[j]
        return math.exp(d) - d - 1

    def ppo(j, eps):
        r = math.exp(lp[j] - old[j])
        return max(-r, -min(max(r, 1 - eps), 1 + eps))  # A = 1

    pg = sum(ppo(j, 0.2) for j in range(4)) + ppo(4, 0.5)
    assert ppo(0, 0.2) == pytest.approx(-1.2) and ppo(4, 0.5) == pytest.approx(-1.4)
    expected = pg / 5 + 0.5 * sum(k3(j) for j in range(4)) / 4 + 0.25 * k3(4) / 1
    assert float(loss) == pytest.approx(expected, rel=1e-12)
    assert metrics["method/high_entropy_frac"] == pytest.approx(0.2)
    # gradient of token 0 (clipped: PPO gives 0) is only its KL part; token 4 keeps -r/5
    dk3 = lambda j: -(math.exp(ref[j] - lp[j]) - 1)  # noqa: E731  d k3 / d lp
    assert float(g[0, 0]) == pytest.approx(0.5 * dk3(0) / 4, rel=1e-9)
    assert float(g[0, 4]) == pytest.approx(-1.4 / 5 + 0.25 * dk3(4), rel=1e-9)


# ---- GTPO: shaped token rewards on a hand-built batch ----------------------------------------------

def test_gtpo_token_advantages_by_hand():
    """Two correct (A > 0) and two wrong (A < 0) responses of 2 tokens, alpha1 = 1, alpha2 = 0.1.
    O+ entropies [3, 1] and [1, 3]: at each position sum H = 4, d_t = 2, so the shaped rewards are
    1 + 0.1 * 3/4 * 2 = 1.15 and 1 + 0.1 * 1/4 * 2 = 1.05. O- entropies [2, 0.5] and [0.5, 2]:
    1/H = [0.5, 2] at t = 0, sum 2.5, h_t = 2: -1 - 0.1 * 0.5/2.5 * 2 = -1.04 and
    -1 - 0.1 * 2/2.5 * 2 = -1.16 (the confident token is penalised more). Eq. 6 standardises all eight."""
    from methods.gtpo import gtpo_advantages

    ent = torch.tensor([[3.0, 1.0], [1.0, 3.0], [2.0, 0.5], [0.5, 2.0]], dtype=torch.float64)
    adv = torch.tensor([[1.0], [1.0], [-1.0], [-1.0]], dtype=torch.float64).expand(4, 2)
    mask = torch.ones(4, 2, dtype=torch.bool)
    shaped, a = gtpo_advantages(ent, adv, mask, 1.0, 0.1)
    hand = [[1.15, 1.05], [1.05, 1.15], [-1.04, -1.16], [-1.16, -1.04]]
    torch.testing.assert_close(shaped, torch.tensor(hand, dtype=torch.float64), rtol=0, atol=1e-6)
    flat = [x for row in hand for x in row]
    mu, sd = statistics.mean(flat), statistics.stdev(flat)
    torch.testing.assert_close(a, torch.tensor([[(x - mu) / sd for x in row] for row in hand], dtype=torch.float64),
                               rtol=0, atol=1e-5)
    # Prop. 2.2: with alpha1 + alpha2 = 1 each position's O+ rewards sum to d_t and O- ones to -h_t
    shaped2, _ = gtpo_advantages(ent, adv, mask, 0.9, 0.1)
    torch.testing.assert_close(shaped2[:2].sum(0), torch.full((2,), 2.0, dtype=torch.float64), rtol=0, atol=1e-5)
    torch.testing.assert_close(shaped2[2:].sum(0), torch.full((2,), -2.0, dtype=torch.float64), rtol=0, atol=1e-5)


def test_gtpo_loss_is_the_clipped_surrogate_of_the_token_advantages():
    """Uniform-reward rows (A = 0) get advantage 0; the loss is PPO with the shaped advantages."""
    from methods.gtpo import gtpo_advantages

    t = f64(big_batch(1, B=6, T=9))
    t["advantages"][2] = 0.0
    loss, _, _, _ = run_method("gtpo", t)
    _, a = gtpo_advantages(t["entropy"], t["advantages"], t["mask"], 1.0, 0.1)
    assert a[2].abs().max() == 0
    m = t["mask"]
    r = torch.exp(t["log_prob"] - t["old_log_prob"])
    vals = []
    for i, j in m.nonzero().tolist():
        A, ri = float(a[i, j]), float(r[i, j])
        x = max(-A * ri, -A * min(max(ri, 0.8), 1.28))
        vals.append(min(x, -A * 10.0) if A < 0 else x)
    assert float(loss) == pytest.approx(sum(vals) / len(vals), rel=1e-9)


# ---- EntroPIC: the PI controller and its state -----------------------------------------------------

def test_entropic_controller_over_a_scripted_entropy_sequence():
    """target 0.1, K_p = 1, K_i = 0.01, weight 1 per step; by hand:
    H = 1.0: e = 0.9,   I = 0.9,  alpha = 0.9 + 0.009 = 0.909
    H = 0.5: e = 0.4,   I = 1.3,  alpha = 0.4 + 0.013 = 0.413
    H = 0.1: e = 0,     I = 1.3,  alpha = 0.013
    H = 0.05: e = -0.05, I = 1.25, alpha = -0.05 + 0.0125 = -0.0375
    H = 5.0: e = 4.9,   I = 6.15, alpha = clip(4.9615) = 1
    H = 0.0: e = -0.1,  I = 6.05, alpha = -0.1 + 0.0605 = -0.0395"""
    m = build_method("entropic")
    state = m.init_state()
    got = [m.controller(h, state)[0] for h in (1.0, 0.5, 0.1, 0.05, 5.0, 0.0)]
    assert got == pytest.approx([0.909, 0.413, 0.013, -0.0375, 1.0, -0.0395])
    assert state["integral"] == pytest.approx(6.05)
    # the same sequence split at any step and resumed from a copy of the state gives the same alphas
    s1 = m.init_state()
    first = [m.controller(h, s1)[0] for h in (1.0, 0.5, 0.1)]
    s2 = dict(s1)  # what a checkpoint holds
    assert first + [m.controller(h, s2)[0] for h in (0.05, 5.0, 0.0)] == pytest.approx(got)


def _entropic_batch(seed=0):
    t = f64(big_batch(seed, B=8, T=10))
    t["log_prob"] = -torch.rand(t["log_prob"].shape, dtype=torch.float64,
                                generator=torch.Generator().manual_seed(seed)) * 0.2   # many p > 0.95
    t["old_log_prob"] = t["log_prob"] + 0.05
    return t


def test_entropic_loss_is_ppo_plus_alpha_times_the_high_probability_term():
    t = _entropic_batch()
    m = t["mask"]
    h = float(t["entropy"][m].mean())
    alpha = min(1.0, 1.0 * (h - 0.1) + 0.01 * (h - 0.1))  # first call: I = e
    loss, _, _, metrics = run_method("entropic", t)
    base, _, _, _ = run_method("grpo", t, {"kl_coef": 0.0})
    r = torch.exp(t["log_prob"] - t["old_log_prob"])
    high = m & (t["log_prob"] > math.log(0.95))
    assert 0 < int(high.sum()) < int(m.sum())
    adjust = float((-r * t["advantages"].abs())[high].mean())
    assert metrics["method/alpha"] == pytest.approx(alpha)
    assert float(loss) == pytest.approx(float(base) + alpha * adjust, rel=1e-12)


def test_method_state_lives_in_the_trainers_store_and_reports_its_increments():
    t = _entropic_batch(1)
    store: dict = {}
    cfg = LossConfig(policy_loss=MethodSpec("entropic", {}), method_state=store)
    h = float(t["entropy"][t["mask"]].mean())
    vals = []
    for k in range(3):
        lp = t["log_prob"].clone().requires_grad_(True)
        data = {"response_mask": t["mask"], "old_log_probs": t["old_log_prob"], "advantages": t["advantages"],
                "global_batch_size": 16}          # this call is half of its mini-batch: w = 8 / 16
        _, metrics = harness_loss(cfg, {"log_probs": lp, "entropy": t["entropy"]}, data)
        vals.append(metric_values(metrics))
    assert store == {"integral": pytest.approx(3 * 0.5 * (h - 0.1))}
    assert [v[STATE_DELTA_PREFIX + "integral"] for v in vals] == pytest.approx([0.5 * (h - 0.1)] * 3)
    assert vals[2]["method/alpha"] == pytest.approx((h - 0.1) + 0.01 * store["integral"])
    # a store that belongs to another method is refused, not silently reused
    with pytest.raises(ConfigError, match="belongs to another method"):
        harness_loss(LossConfig(policy_loss=MethodSpec("entropic", {}), method_state={"beta": 1.0}),
                     {"log_probs": t["log_prob"].clone().requires_grad_(True), "entropy": t["entropy"]}, data)


def test_stateless_methods_report_no_state():
    t = f64(big_batch(0))
    _, _, _, metrics = run_method("grpo", t)
    assert not any(k.startswith(STATE_DELTA_PREFIX) for k in metrics)
    assert not build_method("archer").stateful() and build_method("entropic").stateful()


def test_experiment_beyond_runs_the_eight_and_the_six():
    """``+experiment=beyond``: the paper's eight methods and the six, three seeds, each composing to its
    own method node (with the paper's defaults) and curriculum (SENT keeps its own)."""
    from omegaconf import OmegaConf

    from tests.embedded.conftest import REPO, compose

    params = OmegaConf.load(REPO / "sweeps" / "experiment" / "beyond.yaml").hydra.sweeper.params
    methods = str(params.method).split(",")
    assert str(params.seed) == "0,1,2" and len(methods) == len(set(methods)) == 14
    assert set(methods) == {"grpo", "en", "adv", "mask", "clip", "cov", "high_en", "sent",
                            "clip_higher", "gspo", "cispo", "gtpo", "archer", "entropic"}
    for m in ("sent", "gspo", "entropic"):
        cfg = compose("+experiment=beyond", f"method={m}", "seed=1")
        assert cfg.method.name == m and cfg.seed == 1
        assert cfg.curriculum.name in ("auto", "semantic_entropy" if m == "sent" else "none")
    assert compose("+experiment=beyond", "method=gspo").method.loss_agg_mode == "seq-mean-token-mean"


# ---- reductions to GRPO (exact, on the shared conformance batch) ----------------------------------

def _same(a, b):
    for x, y in zip(a[:3], b[:3]):
        torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, params", [
    ("clip_higher", {"clip_ratio_high": 0.2, "clip_ratio_c": 3.0}),
    ("archer", {"low_clip_ratio_high": 0.2, "high_clip_ratio_low": 0.2, "high_clip_ratio_high": 0.2,
                "clip_ratio_c": 3.0, "kl_coef": 0.0}),
    ("entropic", {"kp": 0.0, "ki": 0.0, "high_prob_thresh": 0.5}),
])
def test_reduces_to_grpo_without_kl(name, params):
    from tests.methods.conftest import make_batch

    t = make_batch()
    _same(run_method(name, t, params), run_method("grpo", t, {"kl_coef": 0.0}))


def test_gtpo_without_the_entropy_term_is_token_weighted_outcome_standardisation():
    """alpha2 = 0: every O+ token's reward is +1 and every O- token's -1, standardised over all of them."""
    from methods.gtpo import gtpo_advantages
    from tests.methods.conftest import make_batch

    t = make_batch()
    _, a = gtpo_advantages(t["entropy"], t["advantages"], t["mask"], 1.0, 0.0)
    m = t["mask"]
    sign = torch.sign(t["advantages"])
    vals = sign[m]
    expected = torch.where(m, (sign - vals.mean()) / vals.std(), torch.zeros_like(sign))
    torch.testing.assert_close(a, expected, rtol=1e-5, atol=1e-6)
    assert (a[m & (sign > 0)] > 0).all() and (a[m & (sign < 0)] < 0).all()
