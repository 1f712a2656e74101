"""core/verl/hooks.py (the harness trainer's token stats and batch-scope selection) and the backend's
merge of token_stats attempts; VLLMGenerator's engine-argument pass-through. No Ray, no vLLM."""

from __future__ import annotations

import json
import sys
import types

import torch

from core.verl import hooks as verl_hooks
from core.token_stats import COV_EDGES, ENTROPY_EDGES


def _batch():
    g = torch.Generator().manual_seed(0)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    entropy = torch.rand(3, 4, generator=g) * 2
    responses = torch.tensor([[4, 5, 6, 0], [7, 8, 9, 10], [11, 0, 0, 0]])
    adv = torch.tensor([1.0, -1.0, 0.5])[:, None].expand(3, 4).clone()
    lp = -torch.rand(3, 4, generator=g)
    return entropy, responses, mask, adv, lp


def test_token_stats_record_by_hand():
    entropy, responses, mask, adv, lp = _batch()
    rec = verl_hooks.token_stats_record(7, entropy=entropy, responses=responses, mask=mask, advantages=adv,
                                        old_log_prob=lp, method="cov", decode=lambda t: f"t{t}")
    assert rec["step"] == 7 and rec["entropy_hist"]["edges"] == ENTROPY_EDGES
    assert sum(rec["entropy_hist"]["counts"]) == int(mask.sum()) == 8
    assert sum(rec["cov_hist"]["counts"]) == 8 and rec["cov_hist"]["edges"] == COV_EDGES
    # 20% highest of 8 tokens = 1 token: the largest entropy among masked positions
    h = entropy.masked_fill(~mask, -1)
    top = int(responses.flatten()[h.flatten().argmax()])
    assert rec["high_entropy_tokens"] == {f"t{top}": 1}
    assert sum(rec["low_entropy_tokens"].values()) == 7
    plain = verl_hooks.token_stats_record(7, entropy=entropy, responses=responses, mask=mask, advantages=adv,
                                          old_log_prob=lp, method="grpo", decode=None)
    assert "cov_hist" not in plain and "high_entropy_tokens" not in plain


def test_batch_selection_is_one_selection_over_the_rollout_batch():
    from methods import build_method

    entropy, _, mask, adv, lp = _batch()
    m = build_method("cov", {"scope": "batch", "cov_frac": 0.25})
    sel = verl_hooks.batch_selection(m, old_log_prob=lp, advantages=adv, mask=mask, entropy=entropy)
    assert sel and all(k.startswith("sel_") for k in sel)
    (name, s), = sel.items()
    assert s.dtype == torch.bool and not (s & ~mask).any() and int(s.sum()) == 2  # 25% of 8 tokens
    assert verl_hooks.batch_selection(build_method("cov", {}), old_log_prob=lp, advantages=adv, mask=mask,
                                      entropy=entropy) == {}


def test_backend_merges_token_stats_attempts_and_stages(tmp_path):
    from core.verl.backend import _token_stats_rows

    run = tmp_path / "run"
    for stage, offset, attempts in ((1, 0, [[1, 2], [2, 3]]), (2, 3, [[1]])):
        d = run / "verl" / f"stage{stage}"
        d.mkdir(parents=True)
        (d / "offset").write_text(str(offset))
        for a, steps in enumerate(attempts):
            lines = [json.dumps({"step": s, "entropy_hist": {"edges": [0, 1], "counts": [a, s]}}) for s in steps]
            (d / f"token_stats.{a}.jsonl").write_text("\n".join(lines) + "\n" + ('{"step": 9, "ent' if a else ""))
    rows = _token_stats_rows(run)
    assert [(r["step"], r["stage"]) for r in rows] == [(1, 1), (2, 1), (3, 1), (4, 2)]
    assert rows[1]["entropy_hist"]["counts"] == [1, 2]  # step 2 from the later attempt; torn line skipped


def test_vllm_generator_passes_engine_arguments_and_guards_cpu_seeds(monkeypatch):
    from core.eval.generation import CPU_MAX_NUM_BATCHED_TOKENS, VLLMGenerator

    made = []

    class LLM:
        def __init__(self, **kw):
            made.append(kw)

        def get_tokenizer(self):
            return None

    fake = types.ModuleType("vllm")
    fake.LLM = LLM
    platforms = types.ModuleType("vllm.platforms")
    on_cpu = {"v": True}
    platforms.current_platform = types.SimpleNamespace(is_cpu=lambda: on_cpu["v"])
    monkeypatch.setitem(sys.modules, "vllm", fake)
    monkeypatch.setitem(sys.modules, "vllm.platforms", platforms)
    VLLMGenerator("m", max_num_seqs=7, enable_prefix_caching=False)
    assert made[-1]["max_num_seqs"] == 7 and made[-1]["enable_prefix_caching"] is False
    assert made[-1]["max_num_batched_tokens"] == CPU_MAX_NUM_BATCHED_TOKENS
    VLLMGenerator("m", max_num_batched_tokens=4096)
    assert made[-1]["max_num_batched_tokens"] == 4096
    on_cpu["v"] = False
    VLLMGenerator("m")
    assert "max_num_batched_tokens" not in made[-1]
