"""Generation backends behind one interface, with a registry.

- ``"vllm"`` (:class:`VLLMGenerator`): GPUs, the paper's evaluation engine. vLLM is imported only
  when a generator is built; it comes with the ``gpu`` extra (``pip install -e .[gpu]``).
- the embedded CPU model registers its own generator (``core.embedded``, one of
  :data:`core.plugins.EVAL_PLUGINS`, imported on demand by :func:`make_generator` the first time a
  name is not found).

A generator returns, for each prompt, ``n`` :class:`Generation` objects in sample order.

May import: ``core.eval.grading`` (the registry error) and ``core.eval.benchmarks`` (plugin
loading); vLLM lazily.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from core.eval.grading import _unknown

__all__ = [
    "Generation",
    "Generator",
    "VLLMGenerator",
    "generator_names",
    "make_generator",
    "register_generator",
]

GPU_EXTRA_HINT = "pip install -e .[gpu]"


class PromptError(ValueError):
    """A generator cannot take a prompt at all (e.g. the embedded model's tokenizer lacks its
    characters): a user error about the model/benchmark pairing, reported in one line."""


@dataclass
class Generation:
    """One sampled response."""

    text: str
    num_tokens: int  # generated tokens (the response length of len@k)
    logprob: float | None = None  # summed log-probability of the sampled tokens, if computed


@runtime_checkable
class Generator(Protocol):
    """Samples ``n`` responses per prompt; returns ``result[i][j]`` = sample j of prompt i."""

    def generate(
        self, prompts: list[str], n: int, *, max_new_tokens: int, temperature: float, top_p: float, seed: int
    ) -> list[list[Generation]]: ...


_GENERATORS: dict[str, Callable[..., Generator]] = {}


def register_generator(name: str, factory: Callable[..., Generator]) -> None:
    """Register a generator factory (called with the keyword arguments of :func:`make_generator`).

    Factories take at least ``model_path`` (what ``python -m core.eval --model`` passes).
    A duplicate name raises.
    """
    if name in _GENERATORS:
        raise ValueError(f"generator {name!r} is already registered")
    _GENERATORS[name] = factory


def generator_names() -> list[str]:
    from core.eval.benchmarks import load_plugins

    load_plugins()
    return sorted(_GENERATORS)


def make_generator(name: str, **kwargs) -> Generator:
    """Build the generator registered as ``name`` with ``kwargs``."""
    if name not in _GENERATORS:
        from core.eval.benchmarks import load_plugins

        load_plugins()
    if name not in _GENERATORS:
        raise _unknown("generator", name, list(_GENERATORS))
    return _GENERATORS[name](**kwargs)


def import_vllm():
    """``import vllm``, or an ImportError that says how to install it."""
    try:
        import vllm
    except ImportError as exc:
        raise ImportError(
            f"the 'vllm' generation backend needs vLLM, which is not installed ({exc}). "
            f"Install the GPU extra on a CUDA machine: {GPU_EXTRA_HINT}"
        ) from exc
    return vllm


#: vLLM-CPU's prefill budget when the caller gives none (see :class:`VLLMGenerator`)
CPU_MAX_NUM_BATCHED_TOKENS = 65536


def _vllm_on_cpu() -> bool:
    """Whether vLLM runs on its CPU platform (the vllm-cpu build)."""
    try:
        from vllm.platforms import current_platform

        return bool(current_platform.is_cpu())
    except Exception:  # noqa: BLE001 - an unusual vLLM build: behave as on GPU
        return False


class VLLMGenerator:
    """vLLM offline generation at the paper's evaluation settings (SENT Table XI: temperature 1.0,
    top-p 1.0, up to 8000 new tokens, n = 32; those are :func:`core.eval.evaluation.evaluate`'s
    arguments, not fixed here).

    Args:
        model_path: a HF model directory or a verl checkpoint exported to HF format.
        tensor_parallel_size, gpu_memory_utilization, dtype, max_model_len, enforce_eager,
            trust_remote_code: passed to ``vllm.LLM``.
        logprobs: also return each sample's summed log-probability (``Generation.logprob``;
            vLLM's ``cumulative_logprob``, with ``logprobs=0``). Off by default (costs time).
        **engine_kwargs: any other ``vllm.LLM`` engine argument, passed through unchanged
            (``--gen-arg KEY=VALUE`` of ``core.eval.cli`` / ``core.curriculum``).

    On vLLM's CPU platform, seeded requests fail inside chunked prefill (``RuntimeError: CPU
    Generator does not use offset``): unless ``max_num_batched_tokens`` is given, it is raised to
    :data:`CPU_MAX_NUM_BATCHED_TOKENS` so that no prompt is split into chunks.

    Prompts are strings, typically from :func:`core.eval.prompts.build_prompt` with
    ``self.tokenizer``; they are tokenised here without adding a second BOS when the chat template
    already put one. Sample i of prompt p uses the request seed ``seed + p`` so prompts do not
    share random streams.
    """

    def __init__(
        self,
        model_path: str,
        *,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        dtype: str = "auto",
        max_model_len: int | None = None,
        enforce_eager: bool = False,
        trust_remote_code: bool = True,
        logprobs: bool = False,
        seed: int = 0,
        **engine_kwargs,
    ):
        vllm = import_vllm()
        self.model_path = str(model_path)
        self.logprobs = logprobs
        if _vllm_on_cpu():
            engine_kwargs.setdefault("max_num_batched_tokens", CPU_MAX_NUM_BATCHED_TOKENS)
        self.engine_kwargs = dict(engine_kwargs)
        self.llm = vllm.LLM(
            model=self.model_path,
            tensor_parallel_size=tensor_parallel_size,
            gpu_memory_utilization=gpu_memory_utilization,
            dtype=dtype,
            max_model_len=max_model_len,
            enforce_eager=enforce_eager,
            trust_remote_code=trust_remote_code,
            seed=seed,
            **engine_kwargs,
        )
        self.tokenizer = self.llm.get_tokenizer()

    def _token_ids(self, prompt: str) -> list[int]:
        bos = getattr(self.tokenizer, "bos_token", None)
        has_bos = bool(bos) and prompt.startswith(bos)
        return self.tokenizer.encode(prompt, add_special_tokens=not has_bos)

    def generate(
        self, prompts: list[str], n: int, *, max_new_tokens: int, temperature: float, top_p: float, seed: int
    ) -> list[list[Generation]]:
        from vllm import SamplingParams

        params = [
            SamplingParams(
                n=n,
                temperature=temperature,
                top_p=top_p,
                max_tokens=max_new_tokens,
                seed=seed + i,
                logprobs=0 if self.logprobs else None,
            )
            for i in range(len(prompts))
        ]
        inputs = [{"prompt_token_ids": self._token_ids(p)} for p in prompts]
        outputs = self.llm.generate(inputs, params, use_tqdm=True)
        return [
            [
                Generation(
                    text=o.text,
                    num_tokens=len(o.token_ids),
                    logprob=o.cumulative_logprob if self.logprobs else None,
                )
                for o in sorted(out.outputs, key=lambda o: o.index)
            ]
            for out in outputs
        ]


register_generator("vllm", VLLMGenerator)
