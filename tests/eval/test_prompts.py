"""The authors' prompt, plain and through a chat template."""

from __future__ import annotations

import pytest

from core.eval.prompts import PAPER_TEMPLATE, build_prompt, format_question

EXPECTED = "What is 1+1?\nPlease reason step by step, and put your final answer within \\boxed{}."


def test_template_text_is_the_papers():
    assert PAPER_TEMPLATE.format(question="What is 1+1?") == EXPECTED
    assert format_question("What is 1+1?") == EXPECTED


def test_braces_in_questions_are_kept():
    q = "Let $f(x)=\\frac{1}{x}$ and $S=\\{1,2\\}$. Find {x}."
    assert build_prompt(q) == q + EXPECTED[len("What is 1+1?") :]


class FakeChatTokenizer:
    chat_template = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}<|assistant|>"

    def apply_chat_template(self, messages, tokenize, add_generation_prompt):
        assert tokenize is False and add_generation_prompt is True
        return "".join(f"<|{m['role']}|>{m['content']}" for m in messages) + "<|assistant|>"


class NoTemplateTokenizer:
    chat_template = None


def test_plain_without_tokenizer_or_template():
    assert build_prompt("What is 1+1?") == EXPECTED
    assert build_prompt("What is 1+1?", NoTemplateTokenizer()) == EXPECTED


def test_chat_template_wraps_the_user_turn():
    assert build_prompt("What is 1+1?", FakeChatTokenizer()) == f"<|user|>{EXPECTED}<|assistant|>"


def test_real_hf_tokenizer_chat_template():
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    vocab = {"[UNK]": 0, "<s>": 1}
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]")),
        bos_token="<s>",
    )
    tok.chat_template = (
        "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
    )
    assert build_prompt("What is 1+1?", tok) == f"<s><|user|>\n{EXPECTED}\n<|assistant|>\n"
