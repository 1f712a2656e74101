"""core/verl/tiny.py: the embedded base model as a HF folder (what verl and vLLM load on CPU), the
synth_train set, and the reward's grader choice."""

from __future__ import annotations

import torch

from core.verl import tiny as verl_tiny
from core.embedded import task

SMOKE = dict(hidden_size=64, num_layers=2, intermediate_size=128, num_heads=4, num_kv_heads=2, sft_steps=40,
             sft_batch=32)  # sweeps/preset/smoke.yaml's model (built in seconds)


def test_tokenizer_matches_the_embedded_tokenizer(tmp_path):
    from transformers import AutoTokenizer, Qwen2Config

    fast = verl_tiny.build_tokenizer()
    fast.save_pretrained(tmp_path)
    Qwen2Config(vocab_size=len(task.TOKENIZER)).save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path)  # transformers reads a qwen2 folder with Qwen2Tokenizer
    texts = ["7+8=15|54,15+5=20|4,20+4=24,\\boxed{24}", "3+4\n", "\n", "\\boxed{}", "9+9=18|,\\boxed{18}\n"]
    for tok in (fast, loaded):
        for t in texts:
            ids = tok.encode(t, add_special_tokens=False)
            assert ids == task.TOKENIZER.encode(t), (type(tok).__name__, t)
            assert tok.decode(ids) == t
        assert tok.convert_tokens_to_ids(["<pad>", "<s>", "</s>"]) == [0, 1, 2]
        assert (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id) == (1, 2, 0)


def test_chat_template_gives_the_embedded_prompt():
    from core.eval.prompts import build_prompt

    tok = verl_tiny.build_tokenizer()
    prompt = build_prompt("7+5+8+4", tok)  # the paper's message: question, newline, instruction
    assert prompt == "<s>" + task.prompt_text("7+5+8+4")
    assert tok.encode(prompt, add_special_tokens=False) == [task.TOKENIZER.bos_id] + task.TOKENIZER.encode("7+5+8+4\n")


def test_export_is_the_same_model(tmp_path, monkeypatch):
    from transformers import AutoModelForCausalLM

    from core.embedded.model import ModelSpec, base_model, encode_batch

    spec = ModelSpec(**SMOKE)
    out = verl_tiny.export_hf(spec, tmp_path / "hf", log=lambda *a: None)
    assert verl_tiny.export_hf(spec, tmp_path / "hf") == out  # built once
    hf = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    ref = base_model(spec, progress=False, log=lambda *a: None)
    ids, valid, _ = encode_batch(["3+4+5\n", "1+2+3+4\n"], ["3+4=7|5,7+5=12,\\boxed{12}", "1+2=3|34,"])
    pos = (valid.long().cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        a = hf(input_ids=ids, attention_mask=valid.long(), position_ids=pos).logits
        b = ref(input_ids=ids, attention_mask=valid.long(), position_ids=pos).logits
    assert torch.equal(a[valid], b[valid])


def test_synth_train_set_and_reward_grader():
    from core.eval.benchmarks import grader_for, load_benchmark
    from core.embedded.task import held_out_questions
    from core.verl.reward import compute_score, grader_name

    probs = load_benchmark(verl_tiny.TRAIN_KEY)
    assert len(probs) == verl_tiny.TRAIN_SIZE == len({p.question for p in probs})
    assert not {p.question for p in probs} & held_out_questions()
    assert {len(p.question.split("+")) for p in probs} <= {3, 4}
    assert grader_for(verl_tiny.TRAIN_KEY).name == "synth"
    assert grader_name("synth_train") == "synth" and grader_name("dapo_math_17k") == "math_verify"
    p = probs[0]
    assert compute_score(data_source="synth_train", solution_str=f"x,\\boxed{{{p.answer}}}", ground_truth=p.answer)["score"] == 1.0
    assert compute_score(data_source="synth_train", solution_str="\\boxed{0}", ground_truth=p.answer)["score"] == 0.0
