"""The embedded task on the verl backend: its base model and tokenizer as a HuggingFace folder, and a
fixed training set, so that a real verl ``main_ppo`` (vLLM rollouts, FSDP actor) can run end to end on
a CPU in minutes with rewards that are sometimes 1 (``model=tiny_hf data=synth backend=verl``).

* :func:`export_hf` -- the embedded base model (``core.embedded.model.base_model``, a
  ``Qwen2ForCausalLM``) saved with ``save_pretrained`` next to a ``PreTrainedTokenizerFast`` that
  tokenises exactly as ``core.embedded.task.TOKENIZER`` (one token per character, ``\\boxed{`` as one
  token, ``<pad> <s> </s>``), and a chat template that turns the paper's user message
  (``core.eval.prompts.build_prompt``: the question, then the instruction on the next line) into the
  embedded prompt ``<s>`` + question + newline. verl (training prompts), ``core.eval.cli`` and the
  curriculum's vLLM scoring then all condition the model exactly as the embedded backend does.
  Cached under ``<cache_root>/hf/<base model key>-<format>`` (atomic rename).
* ``synth_train`` -- a registered benchmark of :data:`TRAIN_SIZE` training problems (levels
  :data:`TRAIN_LEVELS`, never a held-out question), graded by the ``synth`` grader, the verl
  backend's training set for ``data=synth``.

Registration imports neither torch nor transformers (``core.plugins.EVAL_PLUGINS`` lists this).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Mapping

__all__ = ["TRAIN_KEY", "TRAIN_SIZE", "TRAIN_LEVELS", "CHAT_TEMPLATE", "FORMAT_VERSION", "register",
           "train_problems", "build_tokenizer", "export_hf", "hf_model_path"]

TRAIN_KEY = "synth_train"
TRAIN_SIZE = 64
#: the easier levels (3 and 4 terms): the base model solves roughly half, so GRPO groups have signal
TRAIN_LEVELS = (1, 2)
#: bump when the exported folder's content changes (tokenizer, template, config)
FORMAT_VERSION = 2
#: user message (question, newline, instruction) -> "<s>" + question + "\n" (the embedded prompt)
CHAT_TEMPLATE = "{{ bos_token }}{{ messages[-1]['content'].split('\\n')[0] }}{{ '\\n' }}"


def train_problems():
    """The ``synth_train`` problems (fixed; drawn from their own random stream)."""
    from core.eval.benchmarks import Problem
    from core.embedded import task

    rng = task._stream_rng("synth-verl-train", task.TASK_VERSION)
    seen, out = set(), []
    while len(out) < TRAIN_SIZE:
        p = task.train_problem(rng, TRAIN_LEVELS)
        if p.question not in seen:
            seen.add(p.question)
            out.append(Problem(f"{TRAIN_KEY}/{len(out)}", p.question, str(p.answer), TRAIN_KEY))
    return out


def register() -> None:
    """Register ``synth_train`` (idempotent)."""
    from core.eval import benchmarks as B
    from core.embedded import task

    task.register()  # the synth grader
    try:
        B.register_benchmark(TRAIN_KEY, train_problems, grader="synth", size=TRAIN_SIZE)
    except ValueError:  # already registered
        pass


def build_tokenizer():
    """A ``PreTrainedTokenizerFast`` equal to ``core.embedded.task.TOKENIZER`` (ids and text).

    Byte-level BPE with no merges (every piece but ``\\boxed{`` is one byte; ``\\boxed{`` and the
    specials are added tokens, matched before pre-tokenisation): transformers loads a folder whose
    config says ``qwen2`` with its own ``Qwen2Tokenizer`` (byte-level BPE) whatever the saved class, so
    the tokenizer is built so that both readings give the same ids.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from core.embedded import task

    tok = task.TOKENIZER
    byte_char = {chr(b): c for b, c in zip(range(256), _bytes_to_unicode())}
    vocab = {(byte_char[t] if len(t) == 1 else t): i for i, t in enumerate(tok.tokens)}
    core_tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core_tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core_tok.decoder = decoders.ByteLevel()
    core_tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in tok.SPECIALS])
    core_tok.add_tokens([AddedToken("\\boxed{", special=False, normalized=False)])
    fast = PreTrainedTokenizerFast(tokenizer_object=core_tok, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", model_max_length=4096, padding_side="left",
                                   clean_up_tokenization_spaces=False)
    fast.chat_template = CHAT_TEMPLATE
    return fast


def _bytes_to_unicode() -> list[str]:
    """GPT-2's byte -> printable character table (what tokenizers' ByteLevel pre-tokenizer emits)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\u00a1"), ord("\u00ac") + 1)) + \
        list(range(ord("\u00ae"), ord("\u00ff") + 1))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return [out[b] for b in range(256)]


def hf_model_path(spec) -> Path:
    from core.embedded.model import cache_root

    return cache_root() / "hf" / f"{spec.key()}-v{FORMAT_VERSION}"


def export_hf(spec, out: str | os.PathLike | None = None, log=print) -> Path:
    """The base model of ``spec`` (a ``core.embedded.model.ModelSpec``) as a HF folder; built once."""
    out = Path(out) if out is not None else hf_model_path(spec)
    if (out / "export.json").exists():
        return out
    from core.embedded.model import base_model

    model = base_model(spec, progress=False, log=log)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.generation_config.do_sample = True
    model.save_pretrained(tmp, safe_serialization=True)
    build_tokenizer().save_pretrained(tmp)
    (tmp / "export.json").write_text(json.dumps({"base_model_key": spec.key(), "format": FORMAT_VERSION}))
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, out)
    except OSError:  # another process exported it first
        shutil.rmtree(tmp, ignore_errors=True)
    log(f"[verl] embedded base model {spec.key()} exported as a HF folder: {out}")
    return out


def resolve_model_path(model_cfg: Mapping[str, Any]) -> str:
    """``model.path`` for ``model=tiny_hf``: the given path, or the exported embedded base model."""
    if model_cfg.get("path"):
        return str(model_cfg["path"])
    from core.embedded.model import ModelSpec

    return str(export_hf(ModelSpec.from_cfg(dict(model_cfg))))


register()
