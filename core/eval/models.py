"""Evaluation-only model configs: models the paper compares against but does not train.

``python -m core.eval --model-config KEY`` (or ``--model`` equal to a config's hub id) applies
one: its generator arguments become defaults (a ``--gen-arg`` still wins), and the output folder
becomes a run folder of the run-log contract (``meta.json`` with ``method`` = the config's
``contestant`` and ``model`` = its key, ``config.yaml``, ``DONE`` when the evaluation finished), so
``python -m analysis`` finds it as that contestant's column (Table XII: ``openpangu``). Training
these models is outside the paper's scope; ``sweep.py`` does not know them.

OpenPangu-Embedded-1B-v1.1 (SENT Table XII, [48])
    Hub id ``openpangu/openPangu-Embedded-1B-V1.1``: the openPangu organisation's own copy of Huawei's
    ``ascend-tribe/openPangu-Embedded-1B-V1.1`` (GitCode). Its hub page lists Safetensors weights, the
    ``PanguEmbedded`` architecture and custom code. FreedomIntelligence hosts GPU copies of other
    openPangu-Embedded models (``openPangu-Embedded-1B``, i.e. v1.0, and ``openPangu-Embedded-7B-V1.1``)
    but, as far as a search of public pages finds, none of 1B-V1.1. This project cannot download from
    the hub, so nothing here ran the model: check before a run that the custom code loads on your
    accelerator (a discussion on the hub page asks for CUDA support; the openPangu code targets Ascend
    NPUs first) and point ``--model`` at a local copy if you need another build. What the card family
    says and this config does:

    - custom model code (``PanguEmbedded`` architecture): ``trust_remote_code=True``;
    - the chat template is the tokenizer's own (``tokenizer_config.json``), applied by
      ``core.eval.prompts.build_prompt`` like every model's; we add no system prompt (the openPangu
      cards report their scores "with an empty system prompt and no extra chain-of-thought
      prompt"). The openPangu dense family's template (``[unused9]<role>:...[unused10]`` turns) itself
      opens with an empty system turn when the conversation has none, which is that setting;
    - the paper's evaluation settings (Table XI: temperature 1.0, top-p 1.0, 8000 new tokens), so
      its Avg@16 is comparable with SENT's column: the card's own sampling settings are not used;
    - context: 32k tokens natively (the card), so ``max_model_len=32768``.

May import: ``core.eval.grading`` (the registry error).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from core.eval.grading import _unknown

__all__ = ["EVAL_MODELS", "EvalModel", "eval_model_for_id", "get_eval_model"]


@dataclass(frozen=True)
class EvalModel:
    """One evaluation-only model."""

    key: str
    """``meta.json`` ``model`` of its run folders."""
    hf_id: str
    """Hub id (``--model`` may be it or a local copy)."""
    contestant: str
    """``meta.json`` ``method``: the table column its runs fill (``analysis.paper.METHOD_LABEL``)."""
    label: str
    """The paper's name for it."""
    gen_args: dict = field(default_factory=dict)
    """Default generator (vLLM) arguments; ``--gen-arg`` overrides them."""
    notes: str = ""
    """Where the settings come from (printed by the dry run)."""


EVAL_MODELS: dict[str, EvalModel] = {m.key: m for m in (
    EvalModel(
        key="openpangu_embedded_1b_v1p1",
        hf_id="openpangu/openPangu-Embedded-1B-V1.1",
        contestant="openpangu",
        label="OpenPangu-embedded-1B-v1.1",
        gen_args={"trust_remote_code": True, "max_model_len": 32768},
        notes="card: custom code (PanguEmbedded), 32k context, scores with an empty system prompt; chat "
              "template from its tokenizer; sampling = the paper's Table XI (not the card's)",
    ),
)}


def get_eval_model(key: str) -> EvalModel:
    if key not in EVAL_MODELS:
        raise _unknown("evaluation model config", key, list(EVAL_MODELS))
    return EVAL_MODELS[key]


def eval_model_for_id(model: str) -> EvalModel | None:
    """The config whose hub id is ``model`` (case-insensitive), if any."""
    low = str(model).lower().rstrip("/")
    return next((m for m in EVAL_MODELS.values() if m.hf_id.lower() == low), None)
