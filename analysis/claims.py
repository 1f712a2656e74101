"""The paper's qualitative claims, each checked against the runs at hand (``claims.md`` + ``claims.csv``).

Every claim is written once as data (``CLAIMS``): an id, the paper's sentence or table it comes from,
what is compared, and the evaluator with its arguments. Each evaluates to one or more *parts* (e.g.
one per benchmark x metric@K cell), each a paired-by-seed difference with its 95% interval (the
primary interval of ``stats``: Student-t below 5 seeds, seed bootstrap otherwise; runs resampled
jointly across the cells of a part):

- ``holds``: the interval lies on the claimed side of 0;
- ``contradicted``: it lies on the other side;
- ``inconclusive``: it contains 0 (or there is one seed);
- ``not testable with these runs``: the runs the claim needs are missing (the reason is given).

A claim's overall verdict: ``holds`` if every part holds, ``contradicted`` if any part is
contradicted, ``inconclusive`` otherwise (counts of each are shown). No correction for the number of
parts is applied: with many cells a few "holds"/"contradicted" are expected by chance.

Below the claims: the rank agreement (Kendall's tau-b) between our ordering of the contestants of
each table and the paper's, with a seed-bootstrap interval.

The embedded ``tiny`` model stands in for the paper's 1.5B model (synthetic benchmarks, a different
scale): a verdict there tests whether the *direction* of the paper's claim reproduces at that scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.load import Runs
from analysis.paper import TABLES, load_reference, method_label, metric_header, model_label, variant_label
from analysis.registry import MissingInputs, register
from analysis.render import md_simple_table
from analysis.select import method_arm
from analysis.stats import CONVENTION, MIN_SEEDS_BOOTSTRAP, paired_comparison, run_bootstrap, verdict

ROLE_1P5B = ("tiny", "r1_distill_qwen_1p5b")
NOT_TESTABLE = "not testable with these runs"
ENTROPY_WINDOW = 0.1  # first / last 10% of the training steps (at least one step)


@dataclass(frozen=True)
class Claim:
    id: str
    source: str  # where in the paper
    quote: str  # the paper's sentence (or the table's reading)
    tested: str  # what we compute
    kind: str  # evaluator
    args: dict = field(default_factory=dict)


CLAIMS: tuple[Claim, ...] = (
    Claim("grpo_entropy_falls", "§I, Fig. 1", "GRPO suffers from entropy collapse: its token entropy falls during "
          "training.", "GRPO's token entropy, mean of the last 10% of steps minus the first 10%, per seed (< 0)",
          "entropy_change", {"method": "grpo", "direction": -1}),
    Claim("en_entropy_above_grpo", "§V-B, Fig. 1, Fig. 4", "Entropy regularization (w/ En) raises entropy above "
          "GRPO's.", "w/ En minus GRPO, token entropy averaged over the second half of training, paired by seed (> 0)",
          "entropy_vs", {"parts": (("en", "grpo", +1),)}),
    Claim("sent_entropy_between", "§V-B, Fig. 1, Fig. 4", "SENT keeps entropy between GRPO's (collapse) and w/ En's "
          "(explosion).", "SENT minus GRPO (> 0) and SENT minus w/ En (< 0), token entropy averaged over the second "
          "half of training, paired by seed", "entropy_vs", {"parts": (("sent", "grpo", +1), ("sent", "en", -1))}),
    Claim("sent_beats_grpo_passk", "Table I", "SENT improves Pass@K over GRPO on every benchmark.",
          "SENT minus GRPO per benchmark x Pass@K at the final evaluation, paired by seed (> 0)",
          "cells", {"table": "table01_passk_1p5b", "a": "sent", "b": "grpo", "direction": +1}),
    Claim("sent_beats_grpo_avgk", "Table II", "SENT improves Avg@K over GRPO on every benchmark.",
          "SENT minus GRPO per benchmark (Avg@K is one estimand for every K) at the final evaluation (> 0)",
          "cells", {"table": "table02_avgk_1p5b", "a": "sent", "b": "grpo", "direction": +1}),
    Claim("sent_beats_mask", "§V-C, Fig. 5", "SENT outperforms w/ Mask on Avg@32 and Pass@32.",
          "SENT minus w/ Mask, mean over benchmarks at the final evaluation, per metric (> 0)",
          "aggregate", {"parts": (("table02_avgk_1p5b", "sent", "mask", +1), ("table01_passk_1p5b", "sent", "mask", +1))}),
    Claim("two_stages_best", "Table VI", "Two curriculum stages beat one (no curriculum) and three.",
          "SENT two-stage minus no-curriculum and minus three-stage, mean over benchmarks, Pass@16 and Avg@16 (> 0)",
          "aggregate", {"parts": (("table06_curriculum", "two_stage", "no_curriculum", +1),
                                  ("table06_curriculum", "two_stage", "three_stage", +1))}),
    Claim("ablation_steps_improve", "Table IX", "Each component improves on the previous configuration: GRPO < w/ "
          "Cur < w/ Low < w/ Low_Cov < w/ SENT.", "each step minus the previous one, mean over benchmarks, Pass@16 "
          "and Avg@16 (> 0)", "aggregate",
          {"parts": (("table09_ablation", "cur", "grpo", +1), ("table09_ablation", "low", "cur", +1),
                     ("table09_ablation", "low_cov", "low", +1), ("table09_ablation", "sent", "low_cov", +1))}),
    Claim("sent_shorter_responses", "Table V, §V-E", "SENT produces shorter responses than GRPO and w/ En.",
          "SENT minus GRPO and SENT minus w/ En, Len@16 (tokens) averaged over benchmarks (< 0)", "aggregate",
          {"parts": (("table05_len16", "sent", "grpo", -1), ("table05_len16", "sent", "en", -1))}),
)

# tables whose method ordering is compared with the paper's (rank agreement)
RANK_TABLES = ("table01_passk_1p5b", "table02_avgk_1p5b", "table03_7b", "table04_14b", "table05_len16",
               "table06_curriculum", "table07_hparams", "table09_ablation")

CSV_COLS = ["claim_id", "source", "part", "model", "n_seeds", "estimate", "lo", "hi", "interval", "verdict",
            "detail"]


@dataclass
class ClaimsResult:
    name: str
    status: str
    reasons: list[str]
    files: dict[str, str]
    summary_md: str = ""


# ---------------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------------

class _Ctx:
    """Per-build cache of table cell values (the same numbers the tables print)."""

    def __init__(self, runs: Runs):
        self.runs = runs
        self.meta = runs.usable_meta()
        self._cells: dict = {}

    def model(self) -> str | None:
        """The 1.5B-role model the claims are tested on: the paper's model if it has runs, else the twin."""
        if self.meta.empty:
            return None
        have = set(self.meta["model"])
        for m in reversed(ROLE_1P5B):
            if m in have:
                return m
        return None

    def table(self, name: str, model: str):
        """(arms, values {(contestant, bench, metric, k): (seeds, values)}, spec with the K used)."""
        key = (name, model)
        if key not in self._cells and ("table_cells", name, model) in self.runs.cache:  # the table's own numbers
            self._cells[key] = self.runs.cache[("table_cells", name, model)]
        if key not in self._cells:
            from analysis.tables import _our_cells, _resolve_arms

            spec = TABLES[name]
            arms = _resolve_arms(spec, self.meta, model, [])
            if all(a is None for a in arms.values()):
                self._cells[key] = (arms, {}, spec)
            else:
                _, values, _, _, used, _ = _our_cells(spec, self.runs, model, arms, [])
                self._cells[key] = (arms, values, used)
        return self._cells[key]


def _row(claim: Claim, part: str, model: str, cmp=None, *, n=0, est=np.nan, lo=np.nan, hi=np.nan, kind="",
         direction: int = +1, detail: str = "", verdict_text: str | None = None) -> dict:
    if cmp is not None:
        lo, hi, kind = cmp.primary()
        est, n = cmp.diff, cmp.n_pairs
    v = verdict_text or (verdict(lo, hi, direction) if n else NOT_TESTABLE)
    if n >= 2 and lo == hi and not np.isnan(lo):
        detail = "; ".join(x for x in (detail, "every seed gives the same difference: a zero-width interval") if x)
    return dict(claim_id=claim.id, source=claim.source, part=part, model=model_label(model) if model else "",
                n_seeds=n, estimate=est, lo=lo, hi=hi, interval=kind, verdict=v, detail=detail)


def _untestable(claim: Claim, part: str, model: str | None, why: str) -> dict:
    return _row(claim, part, model or "", verdict_text=NOT_TESTABLE, detail=why)


def _pair(values: dict, a: str, b: str, cells: list[tuple]):
    """Paired comparison a - b over ``cells`` (bench, metric, k), runs resampled jointly; None if no
    seed has every cell in both."""
    from analysis.tables import seed_matrix

    va = {k[1:]: v for k, v in values.items() if k[0] == a}
    vb = {k[1:]: v for k, v in values.items() if k[0] == b}
    cells = [c for c in cells if c in va and c in vb]
    if not cells:
        return None
    sa, ma = seed_matrix(va, cells)
    sb, mb = seed_matrix(vb, cells)
    _, ia, ib = np.intersect1d(sa, sb, return_indices=True)
    if not ia.size:
        return None
    return paired_comparison(ma[ia], mb[ib], reps=2000, random_state=0)


# ---------------------------------------------------------------------------------------------------
# evaluators
# ---------------------------------------------------------------------------------------------------

def _entropy_per_seed(ctx: _Ctx, arm, how: str) -> pd.Series:
    t = ctx.runs.train
    if "train/entropy" not in t.columns:
        return pd.Series(dtype=float)
    t = t[t["run_id"].isin(arm.run_ids)][["run_id", "step", "train/entropy"]].dropna()
    seed_of = dict(zip(arm.run_ids, arm.seeds))
    out = {}
    for rid, g in t.groupby("run_id"):
        g = g.sort_values("step")
        x = g["train/entropy"].to_numpy(float)
        if x.size < 2:
            continue
        w = max(1, int(round(ENTROPY_WINDOW * x.size)))
        if how == "change":
            out[seed_of[rid]] = float(x[-w:].mean() - x[:w].mean())
        else:  # second half of training
            out[seed_of[rid]] = float(x[x.size // 2:].mean())
    return pd.Series(out, dtype=float).sort_index()


def _eval_entropy_change(claim: Claim, ctx: _Ctx) -> list[dict]:
    model = ctx.model()
    m = claim.args["method"]
    arm = method_arm(ctx.meta, model, m) if model else None
    part = f"{method_label(m)}: entropy change"
    if arm is None:
        return [_untestable(claim, part, model, f"no {method_label(m)} runs on the 1.5B role")]
    d = _entropy_per_seed(ctx, arm, "change")
    if d.empty:
        return [_untestable(claim, part, model, "no train/entropy in train.jsonl")]
    est = run_bootstrap(d.to_numpy(float))
    lo, hi, kind = est.primary()
    first = "first/last 10% of steps"
    return [_row(claim, part, model, n=est.n_runs, est=est.mean, lo=lo, hi=hi, kind=kind,
                 direction=claim.args["direction"], detail=f"nats; {first}; per-seed changes "
                 + ", ".join(f"{v:+.3f}" for v in d))]


def _eval_entropy_vs(claim: Claim, ctx: _Ctx) -> list[dict]:
    model = ctx.model()
    rows = []
    for a, b, direction in claim.args["parts"]:
        part = f"{method_label(a)} − {method_label(b)}: entropy, second half"
        arms = {x: method_arm(ctx.meta, model, x) if model else None for x in (a, b)}
        miss = [method_label(x) for x, arm in arms.items() if arm is None]
        if miss:
            rows.append(_untestable(claim, part, model, f"no runs of {', '.join(miss)} on the 1.5B role"))
            continue
        ea, eb = _entropy_per_seed(ctx, arms[a], "late"), _entropy_per_seed(ctx, arms[b], "late")
        common = sorted(set(ea.index) & set(eb.index))
        if not common:
            rows.append(_untestable(claim, part, model, "no seed with train/entropy in both"))
            continue
        cmp = paired_comparison(ea[common].to_numpy(float), eb[common].to_numpy(float))
        rows.append(_row(claim, part, model, cmp, direction=direction, detail="nats"))
    return rows


def _eval_cells(claim: Claim, ctx: _Ctx) -> list[dict]:
    from analysis.tables import distinct_cells

    model = ctx.model()
    name, a, b, direction = (claim.args[k] for k in ("table", "a", "b", "direction"))
    spec = TABLES[name]
    if model is None:
        return [_untestable(claim, "all cells", None, "no runs on the 1.5B role")]
    arms, values, used = ctx.table(name, model)
    miss = [method_label(x) for x in (a, b) if arms.get(x) is None]
    if miss:
        return [_untestable(claim, "all cells", model, f"no runs of {', '.join(miss)}")]
    cells = distinct_cells([(bk, m, k) for bk in spec.benchmarks for m, k in used.metrics])
    rows = []
    for bk, m, k in cells:
        bench = _bench_name(values, bk)
        head = metric_header(m, k) if m == "pass" else f"{metric_header(m, k).split('@')[0]}@K"
        part = f"{bench} {head}"
        cmp = _pair(values, a, b, [(bk, m, k)])
        rows.append(_row(claim, part, model, cmp, direction=direction) if cmp else
                     _untestable(claim, part, model, "no seed with this cell in both"))
    cmp = _pair(values, a, b, cells)
    if cmp is not None:
        rows.append(_row(claim, "mean over the cells above", model, cmp, direction=direction,
                         detail="summary part, not counted in the verdict"))
    return rows


def _bench_name(values: dict, bk: str) -> str:
    from analysis.paper import BENCH_LABEL, TWIN_OF

    return f"{TWIN_OF[bk]} ({BENCH_LABEL[bk]})" if bk in TWIN_OF else BENCH_LABEL.get(bk, bk)


def _label(spec, key: str) -> str:
    return variant_label(key) if spec.variant_kind else method_label(key)


def _eval_aggregate(claim: Claim, ctx: _Ctx) -> list[dict]:
    from analysis.tables import distinct_cells

    model = ctx.model()
    rows = []
    for name, a, b, direction in claim.args["parts"]:
        spec = TABLES[name]
        if model is None:
            rows.append(_untestable(claim, f"{_label(spec, a)} − {_label(spec, b)}", None, "no runs on the 1.5B role"))
            continue
        arms, values, used = ctx.table(name, model)
        for m, k in dict.fromkeys((m, k) for m, k in used.metrics):
            cells = distinct_cells([(bk, m, k) for bk in spec.benchmarks])
            part = f"{_label(spec, a)} − {_label(spec, b)}: {metric_header(m, k)}, mean over benchmarks"
            miss = [_label(spec, x) for x in (a, b) if arms.get(x) is None]
            if miss:
                rows.append(_untestable(claim, part, model, f"no runs of {', '.join(miss)}"))
                continue
            cmp = _pair(values, a, b, cells)
            rows.append(_row(claim, part, model, cmp, direction=direction,
                             detail="tokens" if m == "len" else "points") if cmp else
                        _untestable(claim, part, model, "no seed shared by both with every benchmark"))
    return rows


EVALUATORS = {"entropy_change": _eval_entropy_change, "entropy_vs": _eval_entropy_vs, "cells": _eval_cells,
              "aggregate": _eval_aggregate}


def overall(rows: list[dict]) -> str:
    parts = [r for r in rows if r["detail"] != "summary part, not counted in the verdict"]
    vs = [r["verdict"] for r in parts]
    if not vs or all(v == NOT_TESTABLE for v in vs):
        return NOT_TESTABLE
    tested = [v for v in vs if v != NOT_TESTABLE]
    if "contradicted" in tested:
        return "contradicted"
    if all(v == "holds" for v in tested):
        return "holds" if len(tested) == len(vs) else "holds where testable"
    return "inconclusive"


# ---------------------------------------------------------------------------------------------------
# rank agreement
# ---------------------------------------------------------------------------------------------------

def _paper_order(spec, model_name: str) -> dict[str, float]:
    """The paper's score per contestant for this table and model: its Avg. entry if printed, else the
    mean of its printed cells (distinct estimands)."""
    ref = load_reference(spec.name)
    ref = ref[ref["model"] == model_name]
    col = "variant" if spec.variant_kind else "method"
    out = {}
    for c, g in ref.groupby(col, sort=False):
        avg = g[g["metric"] == "avg_all"]
        if not avg.empty:
            out[c] = float(avg["x"].iloc[0])
            continue
        g = g[g["metric"] != "avg_all"]
        keep = g.drop_duplicates(subset=["benchmark"] if (g["metric"] != "pass").all() else ["benchmark", "metric", "k"])
        out[c] = float(keep["x"].mean())
    return out


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row of ``x`` ([..., C]) with ``y`` ([C]), vectorised over rows: (concordant
    - discordant pairs) / sqrt((pairs - pairs tied in x)(pairs - pairs tied in y)); NaN when either is
    all ties (as ``scipy.stats.kendalltau``)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    i, j = np.triu_indices(y.size, k=1)
    sx = np.sign(x[..., i] - x[..., j])  # [..., P]
    sy = np.sign(y[i] - y[j])  # [P]
    num = (sx * sy).sum(axis=-1)
    den = np.sqrt((sx != 0).sum(axis=-1) * float((sy != 0).sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def rank_agreement(ctx: _Ctx, reps: int = 2000, random_state: int = 0) -> list[dict]:
    from analysis.paper import PAPER_MODEL_OF, TABLES as T
    from analysis.tables import distinct_cells, seed_matrix

    rows = []
    for name in RANK_TABLES:
        spec = T[name]
        models = [m for m in spec.models if not ctx.meta.empty and m in set(ctx.meta["model"])]
        if not models:
            rows.append(dict(table=spec.roman, name=name, model="", contestants="", n=0, tau=np.nan, lo=np.nan,
                             hi=np.nan, n_seeds=0, note=f"{NOT_TESTABLE}: no runs of {', '.join(spec.models)}"))
            continue
        for model in models:
            arms, values, used = ctx.table(name, model)
            paper = _paper_order(spec, model_label(PAPER_MODEL_OF.get(model, model)))
            cells = distinct_cells([(bk, m, k) for bk in spec.benchmarks for m, k in used.metrics])
            mats, seeds = {}, None
            for c, arm in arms.items():
                if arm is None or c not in paper:
                    continue
                vc = {k[1:]: v for k, v in values.items() if k[0] == c}
                if not all(cell in vc for cell in cells):
                    continue
                s, mtx = seed_matrix(vc, cells)
                if s.size:
                    mats[c] = (s, mtx.mean(axis=1))
            names = list(mats)
            if len(names) < 3:
                rows.append(dict(table=spec.roman, name=name, model=model_label(model),
                                 contestants=", ".join(_label(spec, c) for c in names), n=len(names), tau=np.nan,
                                 lo=np.nan, hi=np.nan, n_seeds=0,
                                 note=f"{NOT_TESTABLE}: fewer than 3 contestants with runs and a paper value"))
                continue
            common = None
            for s, _ in mats.values():
                common = s if common is None else np.intersect1d(common, s)
            ours = np.array([mats[c][1].mean() for c in names])
            ref = np.array([paper[c] for c in names])
            tau = float(kendall_tau_b(ours, ref))  # both ordered by value (Len: the same direction)
            lo = hi = np.nan
            if common is not None and common.size >= 2:
                per = np.column_stack([mats[c][1][np.searchsorted(mats[c][0], common)] for c in names])  # [seeds, C]
                rng = np.random.default_rng(random_state)
                idx = rng.integers(0, common.size, size=(reps, common.size))
                boot = per[idx].mean(axis=1)  # [reps, C]
                taus = kendall_tau_b(boot, ref)  # [reps]
                taus = taus[~np.isnan(taus)]
                if taus.size:
                    lo, hi = (float(v) for v in np.percentile(taus, [2.5, 97.5]))
            n_common = int(common.size) if common is not None else 0
            note = ("undefined: our scores tie for every contestant" if np.isnan(tau) else
                    "ordered by the mean over distinct cells (ours) and the printed Avg. or the mean of the printed "
                    "cells (paper)" + (f"; {n_common} seeds: the interval is crude" if n_common < MIN_SEEDS_BOOTSTRAP
                                       else ""))
            rows.append(dict(table=spec.roman, name=name, model=model_label(model),
                             contestants=", ".join(_label(spec, c) for c in names), n=len(names), tau=tau, lo=lo,
                             hi=hi, n_seeds=n_common, note=note))
    return rows


# ---------------------------------------------------------------------------------------------------
# the builder
# ---------------------------------------------------------------------------------------------------

def _fmt(v, digits=3) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:+.{digits}f}"


def evaluate(runs: Runs) -> tuple[pd.DataFrame, dict[str, str], list[dict]]:
    ctx = _Ctx(runs)
    rows, verdicts = [], {}
    for claim in CLAIMS:
        r = EVALUATORS[claim.kind](claim, ctx)
        verdicts[claim.id] = overall(r)
        rows += r
    return pd.DataFrame(rows, columns=CSV_COLS), verdicts, rank_agreement(ctx, runs.options.reps,
                                                                          runs.options.random_state)


@register("claims", "report",
          "The paper's qualitative claims (entropy collapse, En vs SENT entropy, SENT vs GRPO per cell, SENT vs "
          "Mask, curriculum stages, ablation steps, response length), each a paired-by-seed difference with its "
          "95% interval: holds / contradicted / inconclusive / not testable; plus Kendall's tau between our "
          "method ordering and the paper's per table, with a seed-bootstrap interval")
def make(runs: Runs) -> ClaimsResult:
    if runs.usable_meta().empty:
        raise MissingInputs("no usable runs")
    df, verdicts, ranks = evaluate(runs)
    model = _Ctx(runs).model()
    lines = ["# The paper's claims, checked against these runs\n",
             f"Model: {model_label(model) if model else '–'}"
             + (" (the embedded twin of the paper's 1.5B model: verdicts test whether the *direction* of each claim "
                "reproduces at this scale)" if model == "tiny" else "") + ".\n",
             "Each part is a paired-by-seed difference with its 95% interval (Student-t below "
             f"{MIN_SEEDS_BOOTSTRAP} seeds, seed bootstrap otherwise): **holds** when the interval lies on the claimed "
             "side of 0, **contradicted** when on the other side, **inconclusive** when it contains 0. A claim holds "
             "when every part holds and is contradicted when any part is. No multiplicity correction.\n",
             "## Verdicts\n"]
    summary = []
    for claim in CLAIMS:
        r = df[df["claim_id"] == claim.id]
        counted = r[r["detail"] != "summary part, not counted in the verdict"]
        counts = counted["verdict"].value_counts()
        tally = ", ".join(f"{counts[v]} {v}" for v in ("holds", "contradicted", "inconclusive", NOT_TESTABLE)
                          if v in counts)
        summary.append([f"`{claim.id}`", claim.source, claim.quote, f"**{verdicts[claim.id]}**", tally])
    lines.append(md_simple_table(["Claim", "Paper", "Claim as stated", "Verdict", "Parts"], summary, right_from=5))
    lines.append("\n## Parts\n")
    for claim in CLAIMS:
        r = df[df["claim_id"] == claim.id]
        lines.append(f"### `{claim.id}` ({claim.source}): {verdicts[claim.id]}\n")
        lines.append(f"> {claim.quote}\n\nTested: {claim.tested}.\n")
        body = []
        for x in r.itertuples():
            ci = (f"[{_fmt(x.lo)}, {_fmt(x.hi)}] ({x.interval})" if x.interval else "–")
            body.append([x.part, str(x.n_seeds) if x.n_seeds else "–", _fmt(x.estimate), ci, x.verdict,
                         x.detail or ""])
        lines.append(md_simple_table(["Part", "Seeds", "Difference", "95% interval", "Verdict", "Note"], body,
                                     right_from=1))
        lines.append("")
    lines.append("## Rank agreement with the paper (Kendall's tau-b)\n")
    lines.append("Per table, the contestants that have runs and a paper value are ordered by our mean over the "
                 "table's distinct cells and by the paper's printed Avg. (or the mean of its printed cells); tau = 1 "
                 "is the paper's order, -1 the reverse. Interval: 95% percentile over seed resamples (seeds shared by "
                 "every contestant, resampled jointly), the paper's order held fixed.\n")
    rk = [[f"{r['table']}", r["model"] or "–", str(r["n"]), r["contestants"] or "–",
           _fmt(r["tau"], 2), (f"[{_fmt(r['lo'], 2)}, {_fmt(r['hi'], 2)}]" if not np.isnan(r["lo"]) else "–"),
           str(r["n_seeds"]) if r["n_seeds"] else "–", r["note"]] for r in ranks]
    lines.append(md_simple_table(["Table", "Model", "n", "Contestants", "tau", "95% interval", "Seeds", "Note"], rk,
                                 right_from=2))
    lines.append(f"\n_{CONVENTION}_\n")
    csv = df.to_csv(index=False, lineterminator="\n", float_format="%.4f")
    rank_csv = pd.DataFrame(ranks).to_csv(index=False, lineterminator="\n", float_format="%.4f")
    untestable = [c for c, v in verdicts.items() if v == NOT_TESTABLE]
    status = "partial" if untestable else "built"
    reasons = [f"not testable with these runs: {', '.join(untestable)}"] if untestable else []
    short = md_simple_table(["Claim", "Paper", "Verdict", "Parts"], [[s[0], s[1], s[3], s[4]] for s in summary],
                            right_from=4)
    return ClaimsResult("claims", status, reasons, {"claims.md": "\n".join(lines) + "\n", "claims.csv": csv,
                                                    "claims_rank_agreement.csv": rank_csv}, short)
