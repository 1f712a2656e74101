"""``python -m core.embedded.report RUNS_DIR``: the calibration table of docs/embedded.md.

Per method, over seeds (mean +- sample std, n = number of finished seeds): token entropy of the
policy at the first and last steps (``train/entropy``, mean of the last 5 steps), mean pass@1 over
the benchmarks at the last evaluation and the change from step 0, and the fraction of response
tokens each token-selecting method acts on (mean over steps). A method is flagged "~ grpo" when both
its final entropy and its final pass@1 are within 2 standard errors of GRPO's.

Reads only the run-log contract (train.jsonl, samples/*.jsonl, meta.json, DONE) and the torch-free
method catalog (``methods/catalog.py``: each method's ``selection_metrics`` and ``paper_order``); no torch.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics as st
from collections import defaultdict
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=None)
def _catalog() -> dict:
    """``methods/catalog.py``'s ``{name: MethodInfo}``, loaded by path (the ``methods`` package imports torch)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[2] / "methods" / "catalog.py"
    spec = importlib.util.spec_from_file_location("core_embedded_report_catalog", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses resolve the module by name
    spec.loader.exec_module(mod)
    return mod.catalog()


def selection_metrics(method: str) -> tuple[str, ...]:
    """The metrics that say what fraction of tokens ``method`` acts on (its class's ``selection_metrics``)."""
    info = _catalog().get(method)
    return info.selection_metrics if info is not None else ()


def _jsonl(path: Path) -> list[dict]:
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def run_summary(d: Path) -> dict:
    train = _jsonl(d / "train.jsonl")
    samples = {p.stem: _jsonl(p) for p in sorted((d / "samples").glob("*.jsonl"))}
    last_eval = max(r["eval_step"] for recs in samples.values() for r in recs)

    def pass1(step):
        vals = [st.mean(float(r["correct"]) for r in recs if r["eval_step"] == step) for recs in samples.values()]
        return st.mean(vals)

    ent = [r["train/entropy"] for r in train]
    meta = json.loads((d / "meta.json").read_text())
    out = {"method": meta["method"], "seed": meta["seed"], "H0": ent[0], "H_end": st.mean(ent[-5:]),
           "acc0": pass1(0), "acc_end": pass1(last_eval), "train_acc_end": st.mean(r["train/acc"] for r in train[-5:]),
           "len_end": st.mean(r["train/response_len"] for r in train[-5:])}
    for key in selection_metrics(meta["method"]):
        vals = [r[key] for r in train if r.get(key) is not None]
        out[key] = st.mean(vals) if vals else float("nan")
    return out


def _ms(xs: list[float]) -> tuple[float, float]:
    return (st.mean(xs), st.stdev(xs) if len(xs) > 1 else float("nan"))


def table(runs_dir: Path) -> str:
    by = defaultdict(list)
    for d in sorted(p for p in runs_dir.iterdir() if (p / "DONE").exists()):
        s = run_summary(d)
        by[s["method"]].append(s)
    if not by:
        raise SystemExit(f"no finished runs (with DONE) under {runs_dir}")
    cat = _catalog()
    base = next(n for n, info in cat.items() if info.baseline)  # what every method is compared with
    g = by.get(base)
    lines = ["| method | seeds | entropy step 1 | entropy end | pass@1 step 0 | pass@1 end | train acc end | "
             f"tokens acted on | vs {base} |", "|---|---|---|---|---|---|---|---|---|"]
    for m in sorted(by, key=lambda x: cat[x].sort_key() if x in cat else (float("inf"), x)):
        rs = by[m]
        cols = {k: _ms([r[k] for r in rs]) for k in ("H0", "H_end", "acc0", "acc_end", "train_acc_end")}
        sel = ", ".join(f"{k.split('/')[1]} {st.mean(r[k] for r in rs):.3f}" for k in selection_metrics(m))
        verdict = ""
        if g and m != base and len(rs) > 1 and len(g) > 1:
            same = True
            for k in ("H_end", "acc_end"):
                a, b = [r[k] for r in rs], [r[k] for r in g]
                se = math.sqrt(st.variance(a) / len(a) + st.variance(b) / len(b))
                same &= abs(st.mean(a) - st.mean(b)) <= 2 * se
            verdict = f"~ {base}" if same else "differs"
        fmt = lambda t, p=3: f"{t[0]:.{p}f} ± {t[1]:.{p}f}"  # noqa: E731
        lines.append(f"| {m} | {len(rs)} | {fmt(cols['H0'])} | {fmt(cols['H_end'])} | {fmt(cols['acc0'])} | "
                     f"{fmt(cols['acc_end'])} | {fmt(cols['train_acc_end'])} | {sel or '-'} | {verdict} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m core.embedded.report", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs_dir", type=Path, help="a sweep directory, e.g. runs/default")
    args = ap.parse_args(argv)
    print(table(args.runs_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
