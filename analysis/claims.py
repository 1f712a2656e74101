"""The paper's qualitative claims, each checked against the runs at hand (``claims.md`` + ``claims.csv``).

Every claim is data, written once in ``analysis/reference/claims.yaml`` (``CLAIMS``, read with
``load_claims``): an id, the paper's sentence or table it comes from, what is compared, and the
evaluator (``kind``) with its parameters. Each evaluates (``claim_eval``) to one or more *parts*
(e.g. one per benchmark x metric@K cell), each a paired-by-seed difference with its 95% interval
(the primary interval of ``stats``: Student-t below 5 seeds, seed bootstrap otherwise; runs
resampled jointly across the cells of a part):

- ``holds``: the interval lies on the claimed side of 0;
- ``contradicted``: it lies on the other side;
- ``inconclusive``: it contains 0 (or there is one seed);
- ``not testable with these runs``: the runs the claim needs are missing (the reason is given).

A claim's overall verdict: ``holds`` if every part holds, ``contradicted`` if any part is
contradicted, ``inconclusive`` otherwise (counts of each are shown). No correction for the number of
parts is applied: with many cells a few "holds"/"contradicted" are expected by chance.

Below the claims: the rank agreement (Kendall's tau-b) between our ordering of the contestants of
each table and the paper's, with a seed-bootstrap interval (``ranks``).

The embedded ``tiny`` model stands in for the paper's 1.5B model (synthetic benchmarks, a different
scale): a verdict there tests whether the *direction* of the paper's claim reproduces at that scale.

This module owns the claim definitions' loading and the report (the ``claims`` builder). May import:
numpy, pandas, PyYAML (via ``paper.reference_yaml``) and the analysis modules ``claim_eval``,
``load``, ``paper``, ``ranks``, ``registry``, ``render`` and ``stats``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from analysis.claim_eval import EVALUATORS, NOT_TESTABLE, SUMMARY_PART, Context, overall
from analysis.load import Runs
from analysis.paper import model_label, reference_yaml
from analysis.ranks import rank_agreement
from analysis.registry import MissingInputs, register
from analysis.render import md_simple_table
from analysis.stats import CONVENTION, MIN_SEEDS_BOOTSTRAP

__all__ = ["CLAIMS", "NOT_TESTABLE", "Claim", "ClaimsResult", "evaluate", "load_claims", "make", "overall"]

CLAIMS_FILE = "claims.yaml"  # in analysis/reference/


@dataclass(frozen=True)
class Claim:
    id: str
    source: str  # where in the paper
    quote: str  # the paper's sentence (or the table's reading)
    tested: str  # what we compute
    kind: str  # evaluator (a key of claim_eval.EVALUATORS)
    params: dict = field(default_factory=dict)  # the evaluator's arguments


def load_claims(name: str = CLAIMS_FILE) -> tuple[Claim, ...]:
    """The claims of ``analysis/reference/<name>``, in file order; raises ``ValueError`` naming the claim
    on a missing or unknown field, an unknown ``kind`` or a repeated id."""
    keys = {f for f in Claim.__dataclass_fields__}
    out, seen = [], set()
    for i, entry in enumerate(reference_yaml(name) or []):
        cid = entry.get("id", f"#{i + 1}") if isinstance(entry, dict) else f"#{i + 1}"
        if not isinstance(entry, dict):
            raise ValueError(f"{name}: claim {cid} is not a mapping")
        missing = sorted(keys - {"params"} - set(entry))
        unknown = sorted(set(entry) - keys)
        if missing or unknown:
            raise ValueError(f"{name}: claim {cid}: missing field(s) {missing}, unknown field(s) {unknown}")
        if entry["kind"] not in EVALUATORS:
            raise ValueError(f"{name}: claim {cid}: unknown kind {entry['kind']!r}; known: {', '.join(EVALUATORS)}")
        if cid in seen:
            raise ValueError(f"{name}: claim id {cid!r} appears twice")
        seen.add(cid)
        out.append(Claim(**{**entry, "params": dict(entry.get("params") or {})}))
    return tuple(out)


CLAIMS: tuple[Claim, ...] = load_claims()

CSV_COLS = ["claim_id", "source", "part", "model", "n_seeds", "estimate", "lo", "hi", "interval", "verdict",
            "detail"]


@dataclass
class ClaimsResult:
    name: str
    status: str
    reasons: list[str]
    files: dict[str, str]
    summary_md: str = ""


def _fmt(v, digits=3) -> str:
    return "–" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:+.{digits}f}"


def evaluate(runs: Runs) -> tuple[pd.DataFrame, dict[str, str], list[dict]]:
    ctx = Context(runs)
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
    model = Context(runs).model()
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
        counted = r[r["detail"] != SUMMARY_PART]
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
