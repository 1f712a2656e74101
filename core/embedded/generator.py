"""The ``"embedded"`` generator (``core.eval.generation.Generator``): batched KV-cache sampling on CPU."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch

from core.embedded import task
from core.embedded.forward import QwenWeights
from core.embedded.model import ModelSpec, build_model, encode_batch, load_shipped
from core.embedded.sampler import sample
from core.eval.generation import Generation, PromptError
from core.runlog import atomic_write

__all__ = ["EmbeddedGenerator", "load_model_file"]

_MEMO_VERSION = 1  # bump when the sampler's output for the same inputs changes


def load_model_file(path: str | Path):
    """A model from a trainer checkpoint (``checkpoints/last.pt``), a shipped model folder
    (``data/models/<name>/``, checksummed) or a base-model cache directory."""
    path = Path(path)
    try:
        if path.is_dir() and (path / "model.safetensors").exists():
            spec = ModelSpec(**json.loads((path / "meta.json").read_text())["spec"])
            return load_shipped(path, spec)
        if path.is_dir():
            spec = ModelSpec(**json.loads((path / "meta.json").read_text())["spec"])
            state = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        else:
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
            spec, state = ModelSpec(**ckpt["model_spec"]), ckpt["model"]
        model = build_model(spec)
        model.load_state_dict(state, strict=True)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"cannot load an embedded model from {path}: {type(exc).__name__}: {exc}") from exc
    return model.eval()


class EmbeddedGenerator:
    """Samples from an embedded Qwen2 (the live training model, or one loaded from ``model_path``).

    Rows are processed in chunks of ``batch_size`` sequences; sample ``j`` of prompt ``i`` uses the
    random stream of ``seed`` (one ``torch.Generator`` per call, so a call is reproducible).
    """

    tokenizer = None  # prompts are plain text (evaluate's prompt_fn must not apply a chat template)

    def __init__(self, model_path: str | None = None, *, model=None, batch_size: int = 512,
                 memo_dir: str | Path | None = None):
        """``memo_dir``: reuse (or store) each call's generations there, keyed by everything that
        determines them except the weights, so give it only for a model that never changes under that
        directory (the trainer passes the cached base model's directory at step 0)."""
        if (model is None) == (model_path is None):
            raise ValueError("give exactly one of model_path or model")
        self.model = model if model is not None else load_model_file(model_path)
        self.batch_size = int(batch_size)
        self.memo_dir = Path(memo_dir) if memo_dir is not None else None

    def generate(self, prompts: list[str], n: int, *, max_new_tokens: int, temperature: float, top_p: float,
                 seed: int) -> list[list[Generation]]:
        if n < 1:
            raise ValueError(f"n={n} must be >= 1")
        for p in prompts:  # before any sampling: a prompt outside the toy vocabulary is a pairing error
            try:
                task.TOKENIZER.encode(p)
            except ValueError as exc:
                raise PromptError(f"{exc.args[0][:120]}...: the embedded model's tokenizer covers only the synthetic "
                                  "task's characters, so it can evaluate synth_1..synth_6 only; evaluate math or "
                                  "code benchmarks with a real model (--backend vllm)") from exc
        if self.memo_dir is None:
            return self._generate(prompts, n, max_new_tokens, temperature, top_p, seed)
        blob = json.dumps([_MEMO_VERSION, prompts, n, max_new_tokens, temperature, top_p, seed, self.batch_size])
        path = self.memo_dir / f"{hashlib.sha256(blob.encode()).hexdigest()[:24]}.json"
        try:
            rows = json.loads(path.read_text())
            return [[Generation(*g) for g in row] for row in rows]
        except (OSError, ValueError, TypeError):  # absent, or unreadable: generate (and store) again
            pass
        out = self._generate(prompts, n, max_new_tokens, temperature, top_p, seed)
        atomic_write(path, json.dumps([[[g.text, g.num_tokens, g.logprob] for g in row] for row in out]))
        return out

    def _generate(self, prompts: list[str], n: int, max_new_tokens: int, temperature: float, top_p: float,
                  seed: int) -> list[list[Generation]]:
        w = QwenWeights.of(self.model)
        g = torch.Generator().manual_seed(int(seed))
        rows = [p for p in prompts for _ in range(n)]
        out: list[Generation] = []
        for s in range(0, len(rows), self.batch_size):
            ids, valid, _ = encode_batch(rows[s:s + self.batch_size])
            r = sample(w, ids, valid, max_new_tokens=max_new_tokens, generator=g, temperature=temperature,
                       top_p=top_p)
            lens = r.lengths().tolist()
            lps = r.log_prob.sum(-1).tolist()
            out += [Generation(t, int(n_tok), float(lp)) for t, n_tok, lp in zip(r.texts(), lens, lps)]
        return [out[i * n:(i + 1) * n] for i in range(len(prompts))]


def prompt_fn(question: str) -> str:
    """Benchmark question -> the embedded model's prompt (no chat template, no instruction)."""
    return task.prompt_text(question)
