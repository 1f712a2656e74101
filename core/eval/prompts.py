"""The evaluation prompt the SENT authors used.

SENT evaluates with OpenCompass (``eval/opencompass/configs/datasets/*``) and the prompt
``{question}\\nPlease reason step by step, and put your final answer within \\boxed{}.``, sent as
the user turn of the model's chat template (OpenCompass applies the template of chat models).

May import: the standard library only.
"""

from __future__ import annotations

__all__ = ["PAPER_TEMPLATE", "build_prompt", "format_question"]

PAPER_TEMPLATE = "{question}\nPlease reason step by step, and put your final answer within \\boxed{{}}."
"""A ``str.format`` template (the braces of ``\\boxed{}`` are doubled): ``PAPER_TEMPLATE.format(
question=q)`` gives the authors' text exactly."""


def format_question(question: str) -> str:
    """The user message: the question followed by the paper's instruction."""
    return PAPER_TEMPLATE.format(question=question)


def build_prompt(question: str, tokenizer=None) -> str:
    """The full prompt text for ``question``.

    With a tokenizer that has a chat template, the message goes through
    ``apply_chat_template(..., add_generation_prompt=True)`` as the single user turn (no system
    prompt; the template adds its default one if it has one). Otherwise (no tokenizer, or a base
    model without a template) the plain message is returned.

    The result may already contain the template's BOS token; tokenise it without adding special
    tokens again (``VLLMGenerator`` does).
    """
    message = format_question(question)
    if tokenizer is None or not getattr(tokenizer, "chat_template", None):
        return message
    return tokenizer.apply_chat_template(
        [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
    )
