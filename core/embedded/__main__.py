"""``python -m core.embedded [model overrides]``: load (shipped), find (cached) or build the base model and report it.

    python -m core.embedded                       # the default tiny model (shipped in data/models/tiny/)
    python -m core.embedded --threads 2 --eval    # also sample the six synth benchmarks (pass@1)
    python -m core.embedded --rebuild --check     # build it anew from its recipe; exit 1 unless the weights
                                                  # are bit-identical to the shipped ones (sha256)
    python -m core.embedded --ship tiny --build-commit SHA   # write the built model to data/models/tiny/
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.embedded", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. preset=smoke model.sft_steps=100")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval", action="store_true", help="report pass@1 and token entropy per benchmark (n=4)")
    ap.add_argument("--rebuild", action="store_true",
                    help="build the model anew from its recipe in a temporary cache (nothing cached or shipped is "
                         "touched) and compare its sha256 with the shipped one")
    ap.add_argument("--check", action="store_true", help="with --rebuild: exit 1 unless the rebuilt weights are "
                                                         "bit-identical to the shipped ones")
    ap.add_argument("--ship", metavar="NAME", help="write the (cached or built) model to data/models/NAME/ "
                                                    "(safetensors, config, tokenizer, meta.json with sha256)")
    ap.add_argument("--build-commit", help="with --ship: the commit the build ran at (default: the cache's record)")
    args = ap.parse_args(argv)
    if args.check and not args.rebuild:
        ap.error("--check needs --rebuild (it compares a fresh build with the shipped weights)")

    import torch
    from core.config import compose

    torch.set_num_threads(args.threads)
    from core.embedded.model import (SHIPPED_ROOT, ModelSpec, base_model, base_model_info, cpu_name,
                                     shipped_dir, weights_sha256)

    cfg = compose(args.overrides)
    spec = ModelSpec.from_cfg(cfg.model)
    t0 = time.time()
    if args.rebuild:  # a fresh build in a temporary cache: nothing cached or shipped is touched
        import tempfile

        os.environ["SENT_HARNESS_CACHE"] = tempfile.mkdtemp(prefix="sent-harness-rebuild-")
    rebuild = bool(args.rebuild or args.ship or cfg.model.get("rebuild", False))  # --ship: the recipe's build
    model = base_model(spec, rebuild=rebuild)
    info = base_model_info(spec, rebuild=rebuild)
    meta = json.loads((Path(info["dir"]) / "meta.json").read_text())
    print(json.dumps({"source": info["source"], **{k: meta.get(k) for k in (
        "key", "sha256", "num_parameters", "build_seconds", "sft_final_loss", "sft_eval_loss_correct")}}, indent=2))
    print(f"ready in {time.time() - t0:.1f} s: {info['dir']}")
    status = 0
    if args.rebuild:
        shipped = shipped_dir(spec)
        sha = weights_sha256(model)
        if shipped is None:
            print(f"rebuilt weights sha256 {sha}; no shipped model has this spec's key {spec.key()}")
            status = 1 if args.check else 0
        else:
            want = json.loads((shipped / "meta.json").read_text())
            same = sha == want["sha256"]
            print(f"rebuilt weights sha256 {sha[:16]} vs shipped {want['sha256'][:16]} ({shipped}): "
                  f"{'IDENTICAL' if same else 'DIFFERENT'} (this machine: {cpu_name()}, torch {torch.__version__}; "
                  f"shipped built on: {want.get('cpu')}, torch {want.get('torch')})")
            status = 0 if same or not args.check else 1
    if args.ship:
        out = ship(model, spec, meta, SHIPPED_ROOT / args.ship, args.build_commit, args.overrides)
        print(f"shipped to {out}")
    if args.eval:
        from core.embedded import task
        from core.embedded.forward import QwenWeights
        from core.embedded.model import encode_batch
        from core.embedded.sampler import sample

        g = torch.Generator().manual_seed(0)
        grader = task.SynthGrader()
        for level in sorted(task.LEVELS):
            probs = task.benchmark_problems(level)
            rows = [p for p in probs for _ in range(4)]
            ids, valid, _ = encode_batch([task.prompt_text(p.question) for p in rows])
            r = sample(QwenWeights.of(model), ids, valid, max_new_tokens=int(cfg.eval.max_new_tokens), generator=g)
            acc = sum(grader.grade(t, str(p.answer)).correct for t, p in zip(r.texts(), rows)) / len(rows)
            print(f"synth_{level}: pass@1 {acc:.3f}  token entropy {float(r.entropy[r.mask].mean()):.3f} nats  "
                  f"length {float(r.lengths().float().mean()):.1f}")
    return status


def ship(model, spec, build_meta: dict, out: Path, build_commit: str | None, overrides: list[str]) -> Path:
    """Write ``model`` to ``out``: weights (safetensors), the HF config, the tokenizer, ``meta.json``."""
    import dataclasses

    import torch

    from core.embedded import task
    from core.embedded.model import cpu_name, save_weights

    out.mkdir(parents=True, exist_ok=True)
    sha = save_weights(model, out / "model.safetensors")
    (out / "config.json").write_text(model.config.to_json_string(use_diff=False))
    (out / "tokenizer.json").write_text(json.dumps({
        "kind": "one token per character, plus \\boxed{, <s>, </s>, <pad> (core/embedded/task.py)",
        "tokens": list(task.TOKENIZER.tokens), "bos_id": task.TOKENIZER.bos_id, "eos_id": task.TOKENIZER.eos_id,
        "pad_id": task.TOKENIZER.pad_id}, indent=1) + "\n")
    meta = {"key": spec.key(), "sha256": sha, "file": "model.safetensors",
            "num_parameters": sum(p.numel() for p in model.parameters()),
            "spec": dataclasses.asdict(spec), "task_version": task.TASK_VERSION,
            "build": {"command": "OMP_NUM_THREADS=1 python -m core.embedded --threads 1" + "".join(f" {o}" for o in overrides),
                      "commit": build_commit or build_meta.get("git_sha", "unknown"),
                      "cpu": build_meta.get("cpu") or cpu_name(), "torch": build_meta.get("torch") or torch.__version__,
                      "seconds": build_meta.get("build_seconds"), "cache_sha256_model_pt": build_meta.get("sha256")},
            "cpu": build_meta.get("cpu") or cpu_name(), "torch": build_meta.get("torch") or torch.__version__,
            "sft_final_loss": build_meta.get("sft_final_loss"),
            "sft_eval_loss_correct": build_meta.get("sft_eval_loss_correct")}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    b = meta["build"]
    spec_rows = "\n".join(f"| `{k}` | {v} |" for k, v in meta["spec"].items())
    (out / "PROVENANCE.md").write_text(f"""# Shipped base model `{out.name}` (key `{spec.key()}`)

Built by this project from scratch (no external weights or data): a `transformers` Qwen2 with
{meta['num_parameters']:,} parameters, trained by SFT on synthetic solutions of the embedded task (task
version {task.TASK_VERSION}), `core/embedded/model.py` (`build_model`, `sft`). Written by
`python -m core.embedded --ship {out.name}` (generated file: do not edit).

| | |
|---|---|
| `model.safetensors` sha256 | `{sha}` |
| build command | `{b['command']}` |
| commit of the build | `{b['commit']}` |
| machine kind of the build | {b['cpu']}, torch {b['torch']} |
| build time | {b['seconds']} s |
| SFT final loss / loss on mistake-free solutions | {meta['sft_final_loss']:.4f} / {meta['sft_eval_loss_correct']:.4f} nats per token |

Recipe (`ModelSpec`, hashed into the key together with the task version, the recipe version and the
vocabulary; `core/embedded/model.py` documents each field):

| field | value |
|---|---|
{spec_rows}

SFT: AdamW (betas 0.9/0.98, weight decay 0.01), linear warm-up over 5% of the steps then cosine decay,
gradient-norm clip 1.0, one benchmark level per batch, every step of a target carrying an injected
mistake with probability `sft_slip_per_step`; fixed seeds; `sft_threads` torch threads whatever the
caller's (the thread count changes float summation order and so the weights).

- Loaded by default whenever a config's model spec has this key; never rebuilt unless asked
  (`model.rebuild=true` uses the recipe's own build, cached by key).
- `python -m core.embedded --rebuild --check{''.join(' ' + o for o in overrides)}` rebuilds it in a
  temporary cache and exits 1 unless the weights are bit-identical (same sha256). Expect identity on
  the machine kind above (same CPU vector unit and torch); other CPUs may round differently.
- `config.json` + `model.safetensors` also load with `transformers.Qwen2ForCausalLM.from_pretrained`
  (tied embeddings: `lm_head.weight` is not stored); `tokenizer.json` lists the vocabulary of
  `core.embedded.task.TOKENIZER` (one token per character).
""")
    return out


if __name__ == "__main__":
    raise SystemExit(main())
