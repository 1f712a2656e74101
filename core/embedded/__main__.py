"""``python -m core.embedded [model overrides]``: build (or find) the cached base model and report it.

    python -m core.embedded                       # the default tiny model (sweeps/model/tiny.yaml)
    python -m core.embedded --threads 2 --eval    # also sample the six synth benchmarks (pass@1)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.embedded", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. preset=smoke model.sft_steps=100")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval", action="store_true", help="report pass@1 and token entropy per benchmark (n=4)")
    args = ap.parse_args(argv)

    import torch
    from hydra import compose, initialize_config_dir

    import sweep  # noqa: F401 - the method group

    torch.set_num_threads(args.threads)
    from core.embedded.model import ModelSpec, base_model, cache_root

    with initialize_config_dir(config_dir=str(Path(sweep.__file__).parent / "sweeps"), version_base="1.3"):
        cfg = compose(config_name="config", overrides=args.overrides)
    spec = ModelSpec.from_cfg(cfg.model)
    t0 = time.time()
    model = base_model(spec)
    meta = json.loads((cache_root() / "base" / spec.key() / "meta.json").read_text())
    print(json.dumps({k: meta[k] for k in ("key", "num_parameters", "build_seconds", "sft_final_loss",
                                            "sft_eval_loss_correct")}, indent=2))
    print(f"ready in {time.time() - t0:.1f} s: {cache_root() / 'base' / spec.key()}")
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
