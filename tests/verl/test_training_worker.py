"""verl's real ``TrainingWorker`` update, on CPU, through the harness loss entry point.

One tiny random Qwen2 (vocab 64, hidden 32, 2 layers, 2 heads) is saved to a temporary folder with
a word-level tokenizer built here (nothing from a hub). One worker is built per test module
(setup is the slow part); every test calls ``reset()``, which reloads the saved weights and builds
a fresh optimizer, so each update starts from the same state. The batch goes through verl's own
conversion (``DataProto.to_tensordict`` + ``left_right_2_no_padding``, as ``_update_actor`` does),
with GRPO advantages from verl's ``compute_grpo_outcome_advantage``. Two micro-batches per
mini-batch, so verl's global-batch normalisation is exercised. The worker runs verl's default
forward layout (``use_remove_padding``: sequences packed into one row); one test also runs padded rows.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from methods import ConfigError, build_method, method_names

pytestmark = pytest.mark.skipif(torch.cuda.is_available(),
                                reason="CPU route (core/verl/cpu.py); with a GPU verl runs unpatched")

VOCAB, PAD, EOS = 64, 0, 1
B, P, R, MICRO = 8, 5, 7, 4                     # responses, prompt/response widths, micro-batch size
PROMPT_LEN = [5, 3, 5, 2, 4, 5, 3, 5]           # left padded
RESP_LEN = [7, 5, 7, 3, 7, 2, 6, 4]             # right padded
REWARD = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
UID = ["a", "a", "b", "b", "c", "c", "d", "d"]  # groups of 2


def _save_tiny_model(path) -> None:
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    vocab = {"<pad>": PAD, "<eos>": EOS, **{f"w{i}": i for i in range(2, VOCAB)}}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="w2"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>").save_pretrained(path)
    torch.manual_seed(0)
    cfg = Qwen2Config(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                      tie_word_embeddings=False, pad_token_id=PAD, bos_token_id=EOS, eos_token_id=EOS)
    Qwen2ForCausalLM(cfg).save_pretrained(path)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("tiny_qwen2")
    _save_tiny_model(path)
    return str(path)


def _trl_breaks_verl() -> str | None:
    """verl 0.9.1 imports trl's AutoModelForCausalLMWithValueHead while building any FSDP model when trl
    is installed (verl/models/transformers/monkey_patch.py); trl >= 1.x no longer has it."""
    import importlib.util

    if importlib.util.find_spec("trl") is None:
        return None
    import trl

    for mod in ("trl.experimental.ppo", "trl"):
        try:
            if hasattr(importlib.import_module(mod), "AutoModelForCausalLMWithValueHead"):
                return None
        except ImportError:
            pass
    return (f"trl {trl.__version__} is installed but has no AutoModelForCausalLMWithValueHead, which verl 0.9.1's "
            "apply_monkey_patch imports whenever trl is present: every verl model build fails in this "
            "environment (GPU runs too). Uninstall trl here, or install a trl version that still has it.")


@pytest.fixture(scope="module")
def worker(model_dir):
    problem = _trl_breaks_verl()
    if problem:
        pytest.fail(problem)
    from transformers.integrations import flash_attention

    from core.verl.cpu import CPU_ENGINE, CPU_MODEL_OVERRIDES, disable_cpu_training, enable_cpu_training

    flash_forward = flash_attention._flash_attention_forward  # verl's packed layout replaces it globally
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 25K-parameter model: extra threads only spin (10x slower on a busy CI box)
    enable_cpu_training()
    from verl.workers.config import FSDPEngineConfig, FSDPOptimizerConfig, HFModelConfig, TrainingWorkerConfig
    from verl.workers.engine_workers import TrainingWorker

    model = HFModelConfig(path=model_dir, override_config=dict(CPU_MODEL_OVERRIDES), use_remove_padding=True,
                          enable_gradient_checkpointing=False)
    engine = FSDPEngineConfig(**CPU_ENGINE, use_dynamic_bsz=False, micro_batch_size_per_gpu=MICRO,
                              infer_micro_batch_size_per_gpu=MICRO)
    optim = FSDPOptimizerConfig(lr=1e-2, weight_decay=0.0, clip_grad=1.0)  # no decay: params move only by grads
    w = TrainingWorker(TrainingWorkerConfig(model_type="language_model", model_config=model,
                                            engine_config=engine, optimizer_config=optim))
    yield w
    disable_cpu_training()
    torch.set_num_threads(threads)
    flash_attention._flash_attention_forward = flash_forward


def _reference_forward(model_dir, tensors):
    """Per-token log-probs and entropies of the responses, [B, R], by plain transformers (not verl)."""
    from transformers import Qwen2ForCausalLM

    model = Qwen2ForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa", dtype=torch.float32)
    with torch.no_grad():
        logits = model(input_ids=tensors["input_ids"], attention_mask=tensors["attention_mask"],
                       position_ids=tensors["position_ids"], use_cache=False).logits  # [B, P+R, V]
    logits = logits[:, P - 1:-1]                                                        # [B, R, V] predicts responses
    logp = torch.log_softmax(logits, -1)                                                # [B, R, V]
    token_lp = logp.gather(-1, tensors["responses"].unsqueeze(-1)).squeeze(-1)         # [B, R]
    entropy = -(logp.exp() * logp).sum(-1)                                              # [B, R]
    mask = tensors["response_mask"].bool()
    return token_lp * mask, entropy * mask


@pytest.fixture(scope="module")
def batch(model_dir):
    """Padded [B, *] tensors of one rollout batch; old/ref log-probs near the initial policy's own."""
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage

    g = torch.Generator().manual_seed(1)
    pmask = (torch.arange(P)[None] >= P - torch.tensor(PROMPT_LEN)[:, None]).long()   # [B, P] left padded
    rmask = (torch.arange(R)[None] < torch.tensor(RESP_LEN)[:, None]).long()          # [B, R] right padded
    prompts = torch.randint(2, VOCAB, (B, P), generator=g) * pmask                     # [B, P]
    responses = torch.randint(2, VOCAB, (B, R), generator=g) * rmask                   # [B, R]
    attention_mask = torch.cat([pmask, rmask], 1)                                      # [B, P+R]
    t = {"prompts": prompts, "responses": responses, "input_ids": torch.cat([prompts, responses], 1),
         "attention_mask": attention_mask, "position_ids": (attention_mask.cumsum(1) - 1).clamp(min=0),
         "response_mask": rmask}
    lp, entropy = _reference_forward(model_dir, t)
    t["old_log_probs"] = (lp + 0.1 * torch.randn(B, R, generator=g)) * rmask           # a slightly older policy
    t["ref_log_prob"] = (lp + 0.3 * torch.randn(B, R, generator=g)) * rmask
    rewards = torch.zeros(B, R)
    rewards[torch.arange(B), torch.tensor(RESP_LEN) - 1] = torch.tensor(REWARD)          # outcome reward on last token
    t["advantages"], _ = compute_grpo_outcome_advantage(rewards, rmask, np.array(UID, dtype=object))
    return {"tensors": t, "log_prob": lp, "entropy": entropy}


def _verl_batch(tensors):
    """What verl's ``_update_actor`` sends to ``update_actor`` (one mini-batch, one epoch, no shuffle)."""
    from verl import DataProto
    from verl.utils import tensordict_utils as tu
    from verl.workers.utils.padding import left_right_2_no_padding

    proto = DataProto.from_dict(tensors={k: v.clone() for k, v in tensors.items()},
                                non_tensors={"uid": np.array(UID, dtype=object)}, meta_info={"temperature": 1.0})
    td = left_right_2_no_padding(proto.to_tensordict())
    tu.assign_non_tensor(td, calculate_entropy=True, distillation_use_topk=False, distillation_only=False,
                         global_batch_size=B, mini_batch_size=B, epochs=1, seed=42,
                         dataloader_kwargs={"shuffle": False}, compute_loss=True)
    return td


def _actor_config(name: str, params: dict | None = None):
    from verl.workers.config import FSDPActorConfig

    from core.verl.plugin import HarnessPolicyLossConfig

    method = build_method(name, params or {})
    kw = dict(strategy="fsdp2", rollout_n=1, ppo_mini_batch_size=B, ppo_micro_batch_size_per_gpu=MICRO,
              calculate_entropy=True, use_kl_loss=method.requires_ref(), kl_loss_coef=0.0, entropy_coeff=0.0,
              loss_agg_mode=method.params.loss_agg_mode,
              use_torch_compile=False, policy_loss=HarnessPolicyLossConfig(method=name, params=dict(params or {})))
    return FSDPActorConfig(**kw)


def _params(w):
    return {n: p.detach().full_tensor().clone() if hasattr(p, "full_tensor") else p.detach().clone()
            for n, p in w.engine.module.named_parameters()}


def _train(w, tensors, **non_tensor):
    from verl.utils import tensordict_utils as tu

    td = _verl_batch(tensors)
    tu.assign_non_tensor(td, **non_tensor)
    out = w.train_mini_batch(td)
    metrics = tu.get(out, "metrics")
    return {k: (v[0] if isinstance(v, list) and len(v) == 1 else v) for k, v in metrics.items()}


def _direct(config, batch, rows=slice(None)):
    """``harness_loss`` called directly on rows of the padded batch, with the reference forward's
    log-probs and entropy and verl's global-batch info (the whole mini-batch's token count)."""
    from core.loss import SELECTION_PREFIX, harness_loss, metric_values

    t = batch["tensors"]
    keys = ["response_mask", "old_log_probs", "advantages", "ref_log_prob", "old_entropy"]
    data = {k: v[rows] for k, v in t.items() if k in keys or k.startswith(SELECTION_PREFIX)}
    data.update(dp_size=1, batch_num_tokens=int(t["response_mask"].sum()), global_batch_size=B)
    out = {"log_probs": batch["log_prob"][rows], "entropy": batch["entropy"][rows]}
    loss, metrics = harness_loss(config, out, data)
    return float(loss), metric_values(metrics)


def _direct_micro(config, batch):
    """What verl should report: the sum of the micro-batch losses, the mean of their metrics (the sum of
    a stateful method's state increments, which are SUM metrics)."""
    from core.loss import STATE_DELTA_PREFIX

    parts = [_direct(config, batch, slice(i, i + MICRO)) for i in range(0, B, MICRO)]
    metrics = {k: float((np.sum if k.startswith(STATE_DELTA_PREFIX) else np.mean)([m[k] for _, m in parts]))
               for k in parts[0][1] if k != "train/loss"}
    return sum(loss for loss, _ in parts), metrics


# every registered method with its defaults, plus clip with its random token selection active (its
# default covariance bounds select nothing on this tiny batch)
CASES = [pytest.param(n, {}, id=n) for n in method_names()] + [
    pytest.param("clip", {"cov_lb": -1.0, "clip_frac": 0.2}, id="clip-selecting")]


@pytest.mark.parametrize("name, params", CASES)
def test_one_update_per_method(worker, batch, name, params):
    """One verl update per registered method through core.loss.harness_loss: our metrics come back,
    finite, equal to the entry point's on verl's micro-batches (those that do not depend on the random
    generator: all of them for deterministic methods), gradients are non-zero and parameters move."""
    from core.loss import harness_loss
    from core.verl.plugin import install_loss

    worker.reset()                                   # saved weights, fresh optimizer
    install_loss(worker, _actor_config(name, params))
    assert worker.loss_fn.func is harness_loss
    before = _params(worker)
    metrics = _train(worker, batch["tensors"])

    runs = []
    for seed in (0, 1):                              # a random selection shows up as a seed dependence
        torch.manual_seed(seed)
        runs.append(_direct_micro(_actor_config(name, params), batch))
    (loss0, expected), (loss1, other) = runs
    if params:                                       # the clip-selecting case must really draw tokens
        assert loss0 != loss1 and expected["method/clip_frac"] > 0
    assert "train/loss" in metrics and "train/entropy" in metrics
    missing = sorted(set(expected) - set(metrics))
    assert not missing, f"method metrics missing from verl's output: {missing}"
    for k in [*expected, "train/loss", "loss", "grad_norm"]:
        assert np.isfinite(metrics[k]), (k, metrics[k])
    assert metrics["loss"] == pytest.approx(metrics["train/loss"], rel=1e-5, abs=1e-7)  # verl sums our losses
    if loss0 == loss1:
        assert metrics["train/loss"] == pytest.approx(loss0, rel=1e-4, abs=1e-6)
    for k, v in expected.items():
        if v == other[k]:
            assert metrics[k] == pytest.approx(v, rel=1e-4, abs=1e-6), k
    assert metrics["grad_norm"] > 0
    after = _params(worker)
    assert any(not torch.equal(before[n], after[n]) for n in before), f"{name}: no parameter changed"


@pytest.mark.parametrize("remove_padding", [True, False], ids=["packed", "padded"])
def test_worker_loss_equals_direct_harness_loss_for_grpo(worker, batch, remove_padding):
    """First step from the saved weights: verl's loss equals one direct harness_loss call on the whole
    mini-batch (independent forward pass). verl splits it into two micro-batches, each normalised by
    the mini-batch's token count, so their sum matches only if the global normalisation is right.
    Both of verl's forward layouts: sequences packed into one row (its default) and padded rows."""
    from core.verl.plugin import install_loss

    worker.reset()
    install_loss(worker, _actor_config("grpo"))
    metrics = _train(worker, batch["tensors"], use_remove_padding=remove_padding)
    expected, _ = _direct(_actor_config("grpo"), batch)
    assert metrics["train/loss"] == pytest.approx(expected, rel=1e-4, abs=1e-6)
    assert metrics["loss"] == pytest.approx(expected, rel=1e-4, abs=1e-6)


@pytest.mark.parametrize("name, params, default", [
    ("adv", {"entropy_source": "rollout", "alpha": 0.05}, {"entropy_source": "current", "alpha": 0.05}),
    ("mask", {"scope": "batch"}, {"scope": "micro"}),
    ("sent", {"scope": "batch"}, {"scope": "micro"})])
def test_rollout_tensors_in_the_batch_reach_the_loss(worker, batch, name, params, default):
    """Extra [B, R] tensors the harness stores next to the advantages (the rollout entropy
    ``old_entropy``, batch-scope selections ``sel_*``) survive verl's conversion and micro-batching
    and arrive row-aligned: the update matches direct calls on the same rows (a missing key raises)."""
    from core.loss import precompute_selection
    from core.verl.plugin import install_loss

    t = dict(batch["tensors"])
    mask = t["response_mask"]
    noise = torch.rand(B, R, generator=torch.Generator().manual_seed(2))
    t["old_entropy"] = (batch["entropy"] - 0.5 * noise) * mask                          # [B, R] differs from H
    sel = precompute_selection(build_method(name, params), old_log_prob=t["old_log_probs"],
                               advantages=t["advantages"], response_mask=mask, old_entropy=t["old_entropy"])
    assert bool(params.get("scope") == "batch") == bool(sel)
    t.update(sel)
    worker.reset()
    install_loss(worker, _actor_config(name, params))
    metrics = _train(worker, t)
    expected_loss, expected = _direct_micro(_actor_config(name, params), {**batch, "tensors": t})
    assert metrics["train/loss"] == pytest.approx(expected_loss, rel=1e-4, abs=1e-6)
    for k, v in expected.items():
        assert metrics[k] == pytest.approx(v, rel=1e-4, abs=1e-6), k
    # the extra tensors matter here: without them (current entropy / micro-batch selection) the loss differs
    assert abs(_direct_micro(_actor_config(name, default), batch)[0] - expected_loss) > 1e-5


def test_default_ppo_loss_with_harness_loss_mode_raises(worker, batch):
    """If the whole-loss function is not installed, verl's ppo_loss calls the 'harness' policy loss:
    it must stop the run (never a silent fallback), and no parameter may change."""
    from verl.workers.utils.losses import ppo_loss

    import core.verl.plugin  # noqa: F401  (registers the 'harness' sentinel)

    worker.reset()
    worker.set_loss_fn(functools.partial(ppo_loss, config=_actor_config("grpo")))
    before = _params(worker)
    with pytest.raises(ConfigError, match="harness whole-loss function was not installed"):
        _train(worker, batch["tensors"])
    after = _params(worker)
    assert all(torch.equal(before[n], after[n]) for n in before)


def test_stateful_method_state_tracks_and_resumes_through_verl_updates(worker, batch, tmp_path):
    """EntroPIC's integral on verl: the loss runs in the worker; the driver's MethodStateSync adds up the
    increments the update reports (two micro-batches of 4 rows, each weighted 4/8 of the mini-batch),
    saves them next to a checkpoint and restores them. Two updates with a save/load in between equal two
    uninterrupted updates (the weights stay in memory here: verl checkpoints those itself)."""
    from core.loss import STATE_DELTA_PREFIX
    from core.verl.plugin import MethodStateSync

    params = {"target_entropy": 4.0}  # near the random tiny model's entropy (~ln 64), so alpha is not clipped
    cfg = _actor_config("entropic", params)
    rm = batch["tensors"]["response_mask"].bool()
    err = [float(batch["entropy"][i:i + MICRO][rm[i:i + MICRO]].mean()) - 4.0 for i in (0, MICRO)]

    def two_updates(resume: bool):
        worker.reset()
        sync = MethodStateSync(build_method("entropic", params))
        sync.install(worker, cfg)
        first = _train(worker, batch["tensors"])
        sync.absorb(first)
        if resume:
            sync.save(str(tmp_path))
            sync = MethodStateSync(build_method("entropic", params))  # a new driver process
            sync.load(str(tmp_path))
        sync.install(worker, cfg)
        second = _train(worker, batch["tensors"])
        sync.absorb(second)
        return first, second, sync.state

    first, second, state = two_updates(resume=False)
    assert first[STATE_DELTA_PREFIX + "integral"] == pytest.approx(0.5 * (err[0] + err[1]), rel=1e-4)
    assert abs(first["method/alpha"]) < 1 and first["method/alpha"] != second["method/alpha"]
    _, second_resumed, state_resumed = two_updates(resume=True)
    assert state_resumed == pytest.approx(state, rel=1e-9)
    assert second_resumed["method/alpha"] == pytest.approx(second["method/alpha"], rel=1e-9)
    assert second_resumed["train/loss"] == pytest.approx(second["train/loss"], rel=1e-6)
    with pytest.raises(ConfigError, match="no harness_method_state.json"):
        MethodStateSync(build_method("entropic")).load(str(tmp_path / "elsewhere"))


@pytest.mark.parametrize("name, params", [("cov", {"cov_frac": 0.1}), ("sent", {})], ids=["cov", "sent"])
def test_batch_scope_update_does_not_depend_on_the_micro_batch_size(worker, batch, tmp_path, monkeypatch, name, params):
    """verl issue 7829: with ``scope=micro`` a token selection is made inside each loss call, so it
    changes with the actor's micro-batch size. With ``scope=batch`` the driver computes it once over the
    mini-batch (``core.verl.hooks.batch_selection``, what the harness trainer calls before each update)
    and the worker's loss calls read it: the same update for micro-batches of 2 and of 8 sequences.

    Checked on verl's real FSDP update from the same saved weights: the loss calls read exactly the
    batch's selection (dumped per call), verl's loss and the updated parameters agree for both sizes;
    with ``scope=micro`` they do not (the selection, and so the update, follows the partition)."""
    from core.verl import hooks
    from core.verl.plugin import install_loss

    t = dict(batch["tensors"])
    mask = t["response_mask"].to(bool)
    t["old_entropy"] = batch["entropy"] * t["response_mask"]

    def update(scope: str, micro: int):
        p = {**params, "scope": scope}
        t_run = dict(t)
        if scope == "batch":
            sel = hooks.batch_selection(build_method(name, p), old_log_prob=t["old_log_probs"],
                                        advantages=t["advantages"], mask=mask, entropy=t["old_entropy"])
            assert sel and all(int((v & mask).sum()) >= 1 for v in sel.values()), sel
            t_run.update(sel)
        dump = tmp_path / f"{name}_{scope}_{micro}"
        monkeypatch.setenv(hooks.SELECTION_DUMP_ENV, str(dump))
        worker.reset()
        install_loss(worker, _actor_config(name, p))
        grads, opt = {}, worker.engine.optimizer
        step = opt.step

        def capture_then_step(*a, **kw):  # the accumulated gradient, before the optimizer consumes it
            for n, q in worker.engine.module.named_parameters():
                if q.grad is not None:
                    g = q.grad.full_tensor() if hasattr(q.grad, "full_tensor") else q.grad
                    grads[f"grad:{n}"] = g.detach().clone()
            return step(*a, **kw)

        monkeypatch.setattr(opt, "step", capture_then_step)
        metrics = _train(worker, t_run, micro_batch_size_per_gpu=micro)
        monkeypatch.setattr(opt, "step", step)
        calls = [json.loads(line) for line in Path(f"{dump}.loss.jsonl").read_text().splitlines()]
        assert [c["rows"] for c in calls] == [micro] * (B // micro), calls
        return metrics, grads, calls, {k: v for k, v in t_run.items() if k.startswith("sel_")}

    (m2, p2, calls2, sel), (m8, p8, calls8, _) = update("batch", 2), update("batch", 8)
    for calls in (calls2, calls8):  # every call read its rows of the one batch selection, nothing else
        assert {k: sum(c["selected"][k] for c in calls) for k in sel} == {k: int((v & mask).sum()) for k, v in sel.items()}
    assert m2["train/loss"] == pytest.approx(m8["train/loss"], rel=1e-5, abs=1e-7)
    assert m2["grad_norm"] == pytest.approx(m8["grad_norm"], rel=1e-5)
    grads2 = {n: g for n, g in p2.items() if n.startswith("grad:")}
    assert grads2, "no gradients recorded"
    for n in grads2:  # summed over 4 micro-batches or computed in 1: the same gradient up to float rounding
        torch.testing.assert_close(p2[n], p8[n], rtol=1e-4, atol=1e-7, msg=lambda m: f"{n}: {m}")

    (u2, q2, _, _), (u8, q8, _, _) = update("micro", 2), update("micro", 8)
    differs = abs(u2["train/loss"] - u8["train/loss"]) > 1e-5 * abs(u8["train/loss"]) + 1e-7 or any(
        not torch.allclose(q2[n], q8[n], rtol=1e-4, atol=1e-7) for n in q2 if n.startswith("grad:"))
    assert differs, "scope=micro gave the same update for both micro-batch sizes: this batch cannot show the issue"
