"""The embedded base model: a tiny Qwen2 built from a config and trained from scratch by SFT on
synthetic solutions with deliberately injected mistakes (so the base policy is imperfect and RL has
something to fix). Built deterministically and cached by a hash of everything that determines it.

Shipped: the models of ``sweeps/model/tiny.yaml`` and of ``preset=smoke`` live in the repository
(``data/models/<name>/``: ``model.safetensors``, ``config.json``, ``tokenizer.json``, ``meta.json``
with the sha256, the build command, commit and machine, ``PROVENANCE.md``). A spec whose key matches a
shipped model loads it (never rebuilt unless ``rebuild=True`` / ``model.rebuild=true``); any other spec
is built once and cached.

Cache: ``$SENT_HARNESS_CACHE`` or ``~/.cache/sent-harness``, ``base/<hash>/{model.pt,meta.json}``.
``meta.json`` records the file's sha256; a mismatch (a corrupt or truncated file) triggers a rebuild
with a warning. Concurrent builders (parallel sweep jobs) serialise on a lock file.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import math
import os
import random
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.nn.functional as F

from core.embedded import task
from core.embedded.forward import QwenWeights, forward, positions_from_valid
from core.runlog import atomic_write

__all__ = ["ModelSpec", "build_model", "base_model", "base_model_info", "cache_root", "encode_batch", "sft_eval_loss",
           "shipped_dir", "SHIPPED_ROOT"]

#: where the shipped base models live (one folder per model, found by the key in its meta.json)
SHIPPED_ROOT = Path(__file__).resolve().parents[2] / "data" / "models"


def is_int(v) -> bool:
    """A real integer (not a float that happens to be whole, not a bool)."""
    return isinstance(v, int) and not isinstance(v, bool)


def count_problems(obj, fields, section: str, minimum: int = 1) -> list[str]:
    """One message per field of ``obj`` that is not an integer >= ``minimum`` (``<section>.<field>=...``)."""
    out = []
    for f in fields:
        v = getattr(obj, f)
        if not is_int(v):
            out.append(f"{section}.{f}={v!r} must be an integer")
        elif v < minimum:
            out.append(f"{section}.{f}={v} must be >= {minimum}")
    return out


@dataclass(frozen=True)
class ModelSpec:
    """Architecture and SFT recipe of the embedded base model: a tiny Qwen2 (about 0.45M parameters)
    trained from scratch by SFT with injected mistakes on the synthetic task, cached by a hash of these
    fields. The one place the defaults live: ``core.config.register_configs`` stores this class (plus
    ``name`` and ``rebuild``) as the node ``sweeps/model/tiny.yaml`` extends; ``preset=smoke`` overrides
    the sizes."""

    hidden_size: int = 128
    num_layers: int = 3
    intermediate_size: int = 256
    num_heads: int = 4
    num_kv_heads: int = 2
    max_positions: int = 128
    # SFT recipe of the base model
    sft_steps: int = 1000
    sft_batch: int = 64
    sft_lr: float = 3e-3
    # probability that a step of an SFT target carries an injected mistake (a carry slip, a dropped or a
    # doubled term), independently per step: a 3-term target is clean with p 0.81, an 8-term one with 0.48
    sft_slip_per_step: float = 0.1
    sft_seed: int = 0
    # torch threads of the build, whatever the caller's: the thread count changes the float summation
    # order and so the weights, so a fixed count keeps the model identical on the same kind of CPU
    sft_threads: int = 1

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, Any]) -> "ModelSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        spec = cls(**{k: cfg[k] for k in names if k in cfg})
        spec.validate()
        return spec

    def validate(self) -> None:
        problems = count_problems(self, ("hidden_size", "num_layers", "intermediate_size", "num_heads", "num_kv_heads",
                                         "max_positions", "sft_steps", "sft_batch", "sft_threads"), "model")
        if problems:  # the divisibility checks below need positive integers
            raise ValueError("; ".join(problems))
        if self.hidden_size % self.num_heads or (self.hidden_size // self.num_heads) % 2:
            problems.append(f"model.hidden_size={self.hidden_size} must be a multiple of model.num_heads="
                            f"{self.num_heads} with an even head size (RoPE)")
        if self.num_heads % self.num_kv_heads:
            problems.append(f"model.num_heads={self.num_heads} must be a multiple of model.num_kv_heads")
        if not 0.0 <= self.sft_slip_per_step <= 1.0:
            problems.append(f"model.sft_slip_per_step={self.sft_slip_per_step} must be in [0, 1]")
        if problems:
            raise ValueError("; ".join(problems))

    def key(self) -> str:
        blob = json.dumps({"spec": dataclasses.asdict(self), "task": task.TASK_VERSION, "recipe": _RECIPE_VERSION,
                           "vocab": task.TOKENIZER.tokens}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


_RECIPE_VERSION = 3  # bump when build/SFT code changes its numbers


def build_model(spec: ModelSpec, seed: int = 0):
    """A freshly initialised ``Qwen2ForCausalLM`` (fp32, sdpa, tied embeddings)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = Qwen2Config(vocab_size=len(task.TOKENIZER), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
                      num_hidden_layers=spec.num_layers, num_attention_heads=spec.num_heads,
                      num_key_value_heads=spec.num_kv_heads, max_position_embeddings=spec.max_positions,
                      tie_word_embeddings=True, pad_token_id=task.TOKENIZER.pad_id, bos_token_id=task.TOKENIZER.bos_id,
                      eos_token_id=task.TOKENIZER.eos_id, attn_implementation="sdpa")
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(cfg)
    model.eval()
    return model


def cache_root() -> Path:
    return Path(os.environ.get("SENT_HARNESS_CACHE") or Path.home() / ".cache" / "sent-harness")


def encode_batch(prompts: list[str], responses: list[str] | None = None):
    """Left-padded prompts (after ``<s>``) followed by right-padded responses (ending in ``</s>``).

    Returns ``ids [B, P+R]``, ``valid [B, P+R]`` and ``target_mask [B, P+R]`` (response tokens,
    the positions whose token is predicted by the previous position) with ``P`` the longest prompt.
    """
    tok = task.TOKENIZER
    p_ids = [[tok.bos_id] + tok.encode(p) for p in prompts]
    r_ids = [tok.encode(r) + [tok.eos_id] for r in responses] if responses is not None else [[] for _ in prompts]
    P, R = max(map(len, p_ids)), max(map(len, r_ids))
    ids = torch.full((len(prompts), P + R), tok.pad_id, dtype=torch.long)
    valid = torch.zeros_like(ids, dtype=torch.bool)
    target = torch.zeros_like(valid)
    for i, (p, r) in enumerate(zip(p_ids, r_ids)):
        ids[i, P - len(p):P] = torch.tensor(p)
        valid[i, P - len(p):P] = True
        if r:
            ids[i, P:P + len(r)] = torch.tensor(r)
            valid[i, P:P + len(r)] = True
            target[i, P:P + len(r)] = True
    return ids, valid, target


def _sft_batch(spec: ModelSpec, rng: random.Random):
    level = rng.choice(list(task.LEVELS))  # one level per batch: little padding
    probs = [task.train_problem(rng, levels=(level,)) for _ in range(spec.sft_batch)]
    targets = [task.sft_target(p, rng, spec.sft_slip_per_step)[0] for p in probs]
    return encode_batch([task.prompt_text(p.question) for p in probs], targets)


def _sft_loss(w: QwenWeights, ids, valid, target) -> torch.Tensor:
    logits = forward(w, ids, positions_from_valid(valid), valid)             # [B, L, V]
    lp = F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:], reduction="none")  # [B, L-1]
    m = target[:, 1:]
    return (lp * m).sum() / m.sum()


def sft(model, spec: ModelSpec, progress: bool = True) -> dict[str, float]:
    """Teacher-forced SFT on random-route solutions with injected mistakes (AdamW, warmup + cosine)."""
    from tqdm.auto import tqdm

    torch.manual_seed(spec.sft_seed)
    rng = random.Random(spec.sft_seed)
    w = QwenWeights.of(model)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.sft_lr, weight_decay=0.01, betas=(0.9, 0.98))
    warm = max(1, spec.sft_steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / spec.sft_steps))))
    model.train()
    bar = tqdm(range(spec.sft_steps), desc="building base model (SFT)", disable=not progress, leave=False)
    loss = torch.tensor(float("nan"))
    for _ in bar:
        loss = _sft_loss(w, *_sft_batch(spec, rng))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    return {"sft_final_loss": loss.item()}


@torch.no_grad()
def sft_eval_loss(model, n: int = 256, seed: int = 123) -> float:
    """Teacher-forced loss on correct solutions (a quick sanity number for the cache meta)."""
    rng = random.Random(seed)
    probs = [task.train_problem(rng) for _ in range(n)]
    ids, valid, target = encode_batch([task.prompt_text(p.question) for p in probs],
                                      [task.solution(p.terms) for p in probs])
    return float(_sft_loss(QwenWeights.of(model), ids, valid, target))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def cpu_name() -> str:
    """The machine kind a build's bits belong to: the CPU's model name and the vector unit torch's
    kernels use (``torch.backends.cpu.get_cpu_capability()``, e.g. AVX512)."""
    import platform

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name} ({torch.backends.cpu.get_cpu_capability()})"


def _git_sha() -> str:
    """The harness checkout's commit (``+dirty`` with uncommitted changes); ``unknown`` outside git."""
    from core.runlog import git_state

    sha, dirty = git_state()
    return sha + ("+dirty" if dirty else "")


def _load_cached(d: Path, spec: ModelSpec):
    """The cached model, or None (with a warning) when the entry is missing or corrupt."""
    meta_p, model_p = d / "meta.json", d / "model.pt"
    if not meta_p.exists() or not model_p.exists():
        return None
    try:
        meta = json.loads(meta_p.read_text())
        if meta.get("sha256") != _sha256(model_p):
            raise ValueError("checksum mismatch")
        model = build_model(spec)
        state = torch.load(model_p, map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
        model.eval()
        return model
    except Exception as exc:  # noqa: BLE001 - any damage means: rebuild
        warnings.warn(f"cached base model at {d} is unusable ({type(exc).__name__}: {exc}); rebuilding it",
                      stacklevel=3)
        return None


def shipped_dir(spec: ModelSpec) -> Path | None:
    """The shipped folder (``data/models/<name>/``) whose ``meta.json`` key is ``spec.key()``, or None."""
    if not SHIPPED_ROOT.is_dir():
        return None
    key = spec.key()
    for d in sorted(SHIPPED_ROOT.iterdir()):
        try:
            if json.loads((d / "meta.json").read_text()).get("key") == key:
                return d
        except (OSError, ValueError):
            continue
    return None


def weights_state(model) -> dict[str, torch.Tensor]:
    """The model's parameters by name, each tensor once (the tied ``lm_head.weight`` is ``embed_tokens``')."""
    return {name: p.detach().contiguous() for name, p in model.named_parameters()}


def _torch_bytes(obj, name: str) -> bytes:
    """``torch.save(obj)`` as the bytes a file named ``name`` gets. torch names the zip archive inside
    after the file written to ("archive" for a buffer), so the bytes, and the cache's recorded sha256,
    depend on it: staged as ``<name>.tmp`` the archive is ``<name>``, as in every build so far."""
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / f"{name}.tmp"
        torch.save(obj, staged)
        return staged.read_bytes()


def save_weights(model, path: Path) -> str:
    """Write the weights as safetensors (atomically); returns the file's sha256."""
    from safetensors.torch import save

    atomic_write(path, save(weights_state(model), metadata={"format": "pt"}))
    return _sha256(path)


def weights_sha256(model) -> str:
    """sha256 of the model's weights written as safetensors (what a shipped ``meta.json`` records)."""
    with tempfile.TemporaryDirectory() as td:
        return save_weights(model, Path(td) / "model.safetensors")


def load_shipped(d: Path, spec: ModelSpec):
    """The shipped model of folder ``d`` (``model.safetensors``), its sha256 checked against ``meta.json``."""
    from safetensors.torch import load_file

    meta = json.loads((d / "meta.json").read_text())
    path = d / "model.safetensors"
    sha = _sha256(path) if path.exists() else "missing"
    if sha != meta.get("sha256"):
        raise RuntimeError(
            f"the shipped base model {path} has sha256 {sha[:16]}, but {d / 'meta.json'} records "
            f"{str(meta.get('sha256'))[:16]}: the checkout is damaged. Restore it (git checkout -- {d}) or build the "
            f"model from its recipe instead with model.rebuild=true.")
    model = build_model(spec)
    missing, unexpected = model.load_state_dict(load_file(str(path)), strict=False)
    if unexpected or set(missing) - {"lm_head.weight"}:  # lm_head is tied to embed_tokens
        raise RuntimeError(f"the shipped base model {path} does not fit the spec {spec.key()}: missing {missing}, "
                           f"unexpected {unexpected}. Rebuild it with model.rebuild=true.")
    model.eval()
    return model


def base_model_info(spec: ModelSpec, rebuild: bool = False) -> dict:
    """Where ``base_model(spec, rebuild=rebuild)`` takes its weights from and their sha256 (shipped:
    of ``model.safetensors``; cache: of ``model.pt``): ``{"source", "dir", "sha256"}``."""
    d = None if rebuild else shipped_dir(spec)
    if d is not None:
        return {"source": "shipped", "dir": str(d), "sha256": json.loads((d / "meta.json").read_text())["sha256"]}
    d = cache_root() / "base" / spec.key()
    return {"source": "cache", "dir": str(d), "sha256": json.loads((d / "meta.json").read_text())["sha256"]}


def base_model(spec: ModelSpec, progress: bool = True, log=print, rebuild: bool = False):
    """The SFT base model for ``spec``: the shipped weights when ``data/models/`` has this spec's key
    (unless ``rebuild``), else from the cache, else built (minutes) and cached. ``rebuild=True`` skips
    the shipped copy and uses the recipe's own build (cached by key: built once, then reused)."""
    d = None if rebuild else shipped_dir(spec)
    if d is not None:
        return load_shipped(d, spec)
    d = cache_root() / "base" / spec.key()
    d.mkdir(parents=True, exist_ok=True)
    model = _load_cached(d, spec)
    if model is not None:
        return model
    with open(d / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another job may be building the same model
        try:
            model = _load_cached(d, spec)
            if model is not None:
                return model
            log(f"[embedded] building the base model {spec.key()} ({spec.sft_steps} SFT steps, "
                f"{spec.sft_threads} thread(s)); cached in {d}")
            t0 = time.time()
            # the thread count changes float summation order, hence the weights: it is part of the spec
            threads = torch.get_num_threads()
            torch.set_num_threads(spec.sft_threads)
            try:
                model = build_model(spec)
                stats = sft(model, spec, progress=progress)
                stats["sft_eval_loss_correct"] = sft_eval_loss(model)
            finally:
                torch.set_num_threads(threads)
            atomic_write(d / "model.pt", _torch_bytes(model.state_dict(), "model.pt"))
            meta = {"key": spec.key(), "spec": dataclasses.asdict(spec), "task_version": task.TASK_VERSION,
                    "sha256": _sha256(d / "model.pt"), "build_seconds": round(time.time() - t0, 1),
                    "git_sha": _git_sha(), "torch": torch.__version__, "cpu": cpu_name(),
                    "num_parameters": sum(p.numel() for p in model.parameters()), **stats}
            atomic_write(d / "meta.json", json.dumps(meta, indent=2))
            log(f"[embedded] base model built in {meta['build_seconds']} s "
                f"({meta['num_parameters'] / 1e6:.2f}M parameters, SFT loss {stats['sft_final_loss']:.3f})")
            return model
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
