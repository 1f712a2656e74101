"""The lean forward and the sampler against transformers' Qwen2ForCausalLM (an independent reference)."""

from __future__ import annotations

import copy

import pytest
import torch

from core.embedded import task
from core.embedded.forward import KVCache, QwenWeights, forward, positions_from_valid
from core.embedded.model import ModelSpec, build_model, encode_batch
from core.embedded.sampler import sample
from core.embedded.policy import policy_outputs

SPEC = ModelSpec(hidden_size=32, num_layers=2, intermediate_size=64, num_heads=4, num_kv_heads=2)


@pytest.fixture(scope="module")
def model():
    m = build_model(SPEC, seed=1)
    with torch.no_grad():  # non-trivial biases and norms, so every parameter matters
        for p in m.parameters():
            p.add_(0.2 * torch.randn_like(p))
    return m


def _batch():
    return encode_batch(["12+3\n", "45+67+8\n", "9+9\n"], ["12+3=15,\\boxed{15}", "45+8=53", "9+9=18,\\boxed{18}"])


def test_matches_transformers_on_a_left_padded_batch(model):
    ids, valid, _ = _batch()
    pos = positions_from_valid(valid)
    ours = forward(QwenWeights.of(model), ids, pos, valid)                    # [B, L, V]
    ref = model(input_ids=ids, attention_mask=valid.long(), position_ids=pos).logits
    torch.testing.assert_close(ours[valid], ref[valid], rtol=1e-5, atol=1e-5)


def test_gradients_match_transformers(model):
    ids, valid, target = _batch()
    pos = positions_from_valid(valid)

    def grads(fn):
        model.zero_grad()
        logits = fn()
        (logits[target].logsumexp(-1).sum()).backward()
        return [p.grad.clone() for p in model.parameters()]

    ours = grads(lambda: forward(QwenWeights.of(model), ids, pos, valid))
    ref = grads(lambda: model(input_ids=ids, attention_mask=valid.long(), position_ids=pos).logits)
    for a, b in zip(ours, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_fused_projections_give_the_same_logits_and_gradients(model):
    ids, valid, target = _batch()
    pos = positions_from_valid(valid)

    def grads(w):
        model.zero_grad()
        logits = forward(w, ids, pos, valid)
        logits[target].logsumexp(-1).sum().backward()
        return logits.detach(), [p.grad.clone() for p in model.parameters()]

    (a, ga), (b, gb) = grads(QwenWeights.of(model)), grads(QwenWeights.of(model).fused(grad=True))
    torch.testing.assert_close(a[valid], b[valid], rtol=1e-5, atol=1e-5)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-6)


def test_kv_cache_equals_the_full_forward(model):
    ids, valid, _ = _batch()
    pos = positions_from_valid(valid)
    w = QwenWeights.of(model)
    full = forward(w, ids, pos, valid)
    cache = KVCache.empty(w, ids.shape[0], ids.shape[1])
    P = 9
    steps = [forward(w, ids[:, :P], pos[:, :P], valid[:, :P], cache)]
    for t in range(P, ids.shape[1]):
        steps.append(forward(w, ids[:, t:t + 1], pos[:, t:t + 1], valid[:, t:t + 1], cache))
    torch.testing.assert_close(torch.cat(steps, 1)[valid], full[valid], rtol=1e-5, atol=1e-5)


def test_sampled_log_probs_and_entropies_equal_a_recomputation(model):
    """old_log_probs/old_entropy gathered while sampling are the policy's own values (no extra pass)."""
    ids, valid, _ = encode_batch(["12+3\n", "45+67+8\n"] * 4)
    roll = sample(QwenWeights.of(model), ids, valid, max_new_tokens=12, generator=torch.Generator().manual_seed(0))
    lp, ent = policy_outputs(QwenWeights.of(model), roll)
    torch.testing.assert_close(lp[roll.mask], roll.log_prob[roll.mask], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ent[roll.mask], roll.entropy[roll.mask], rtol=1e-5, atol=1e-5)
    # the mask covers each response up to and including </s>
    for r, m, fin in zip(roll.response, roll.mask, roll.finished):
        n = int(m.sum())
        assert bool(m[:n].all()) and not bool(m[n:].any())
        assert (r[n - 1] == task.TOKENIZER.eos_id) == bool(fin)


def test_length_buckets_change_neither_values_nor_gradients(model):
    """policy_outputs(buckets=k) runs the forward on length-sorted groups and puts rows back in order."""
    ids, valid, _ = encode_batch(["1+2\n", "3+4+5+6+7+8\n", "9+1+2\n", "1+1+1+1\n"] * 3)
    roll = sample(QwenWeights.of(model), ids, valid, max_new_tokens=16, generator=torch.Generator().manual_seed(1))
    assert len(set(roll.lengths().tolist())) > 2  # rows of different lengths: the grouping matters

    m64 = copy.deepcopy(model).double()  # in float64 the grouping's float32 rounding (~1e-6) vanishes

    def run(buckets):
        m64.zero_grad(set_to_none=True)
        lp, ent = policy_outputs(QwenWeights.of(m64), roll, slice(1, 11), buckets=buckets)
        ((lp * 1.3 + ent) * roll.mask[1:11]).sum().backward()
        return lp.detach(), ent.detach(), [p.grad.clone() for p in m64.parameters()]

    (lp1, e1, g1), (lp3, e3, g3) = run(1), run(3)
    assert lp1.shape == lp3.shape == (10, roll.response.shape[1])
    m = roll.mask[1:11]
    assert not lp1[~m].any() and not e1[~m].any() and not lp3[~m].any() and not e3[~m].any()  # zero padding
    torch.testing.assert_close(lp3, lp1, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(e3, e1, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g3):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_sampling_is_seeded_and_follows_the_distribution(model):
    ids, valid, _ = encode_batch(["12+3\n"] * 2500)
    w = QwenWeights.of(model)
    a = sample(w, ids[:8], valid[:8], max_new_tokens=6, generator=torch.Generator().manual_seed(3))
    b = sample(w, ids[:8], valid[:8], max_new_tokens=6, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a.response, b.response)
    roll = sample(w, ids, valid, max_new_tokens=1, generator=torch.Generator().manual_seed(0))
    probs = torch.softmax(forward(w, ids[:1], positions_from_valid(valid[:1]), valid[:1])[0, -1], -1)
    freq = torch.bincount(roll.response[:, 0], minlength=probs.numel()).float() / 2500
    assert (freq - probs).abs().max() < 0.032  # 2500 draws: 3 standard errors of p=0.5 is 0.03
    nucleus = sample(w, ids[:200], valid[:200], max_new_tokens=1, top_p=1e-6, generator=torch.Generator())
    assert bool((nucleus.response[:, 0] == probs.argmax()).all())


def test_bad_sampling_arguments_raise(model):
    ids, valid, _ = encode_batch(["1+2\n"])
    w = QwenWeights.of(model)
    for kw in ({"max_new_tokens": 0}, {"max_new_tokens": 4, "temperature": 0.0}, {"max_new_tokens": 4, "top_p": 0.0}):
        with pytest.raises(ValueError):
            sample(w, ids, valid, generator=torch.Generator(), **kw)
