"""Which runs feed which table column ("arm").

Runs whose resolved configs agree on everything but the seed (and bookkeeping such as
``runs_root``; see ``load.SETTING_EXCLUDE``) are seeds of one *setting*. A table column asks for e.g.
"method ``sent`` on model ``tiny``"; when several settings qualify (a sweep over SENT's ratios next
to the default runs, a smoke preset next to the default preset), the chosen one is, in order:

1. the one whose run names carry the fewest overrides (run names are built from the command-line
   overrides, so a method's defaults have none) besides ``method``, ``seed`` and the keys the table
   itself varies,
2. then the one with the most seeds,
3. then the first by sorted setting (deterministic).

Every such choice is reported with the config keys that tell the settings apart. Two runs of one
setting with the same seed (the same run in two sweeps) are reported; the first by path is used.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.load import Issue

NOT_COUNTED = ("method", "seed")  # overrides every run name has


@dataclass
class Arm:
    """One table column/row of ours: the runs (one per seed) of one setting."""

    key: str
    model: str
    run_ids: list[str]
    seeds: list[int]
    setting: str  # human-readable setting (method, curriculum, hyperparameters)
    notes: list[str] = field(default_factory=list)


def _describe(row) -> str:
    hp = row["hparams"] if isinstance(row["hparams"], dict) else {}
    hp_s = ", ".join(f"{k}={v}" for k, v in sorted(hp.items()))
    return (f"method={row['method']}, curriculum={row['curriculum']} (stages={row['curriculum_stages']})"
            + (f", {hp_s}" if hp_s else ""))


def _differences(configs: list[dict]) -> list[str]:
    """Config keys whose values are not the same in every config."""
    keys = sorted(set().union(*configs))
    return [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]


def _n_overrides(overrides: dict, ignore: tuple[str, ...]) -> int:
    return sum(1 for k in overrides if k not in NOT_COUNTED and not (ignore and k.startswith(ignore)))


def pick(meta: pd.DataFrame, key: str, model: str, *, ignore: tuple[str, ...] = (),
         issues: list[Issue] | None = None) -> Arm | None:
    """Choose one setting among the runs in ``meta`` (already filtered to what the column allows)."""
    if meta.empty:
        return None
    m = meta.assign(_nov=[_n_overrides(o if isinstance(o, dict) else {}, ignore) for o in meta["overrides"]])
    groups = []
    for setting, g in m.groupby("setting", sort=True):
        groups.append((int(g["_nov"].min()), -g["seed"].nunique(), setting, g))
    groups.sort(key=lambda t: t[:3])
    _, _, setting, g = groups[0]
    notes = []
    if len(groups) > 1:
        first = [gg.iloc[0] for *_, gg in groups]
        diff = _differences([r["config"] if isinstance(r["config"], dict) else {} for r in first])
        def show(r):
            c = r["config"] if isinstance(r["config"], dict) else {}
            return ", ".join(f"{k}={c.get(k)}" for k in diff[:6]) + (" ..." if len(diff) > 6 else "")
        others = "; ".join(f"{show(gg.iloc[0])} ({gg['seed'].nunique()} seeds, e.g. {gg['run_id'].iloc[0]})"
                           for *_, gg in groups[1:])
        notes.append(f"{len(groups)} settings qualify for {key!r} on {model}; used {show(g.iloc[0])} "
                     f"({g['seed'].nunique()} seeds; fewest overrides in its run names, then most seeds); "
                     f"not used: {others}")
    g = g.sort_values("run_id")
    dup = g["seed"].duplicated(keep="first")
    if dup.any():
        notes.append(f"{key!r} on {model}: same setting and seed in several runs "
                     f"({', '.join(g.loc[dup, 'run_id'])}); used the first of each seed")
        g = g[~dup]
    g = g.sort_values("seed")
    if issues is not None:
        for n in notes:
            issues.append(Issue("warning", f"{model}/{key}", n))
    return Arm(key=key, model=model, run_ids=list(g["run_id"]), seeds=[int(s) for s in g["seed"]],
               setting=_describe(g.iloc[0]), notes=notes)


def method_runs(meta: pd.DataFrame, model: str, method: str) -> pd.DataFrame:
    """Runs of a paper column key on one model. ``grpo`` means GRPO without curriculum and ``cur``
    ("w/ Cur", Table IX) GRPO with the semantic-entropy curriculum."""
    m = meta[meta["model"] == model]
    if method == "grpo":
        return m[(m["method"] == "grpo") & (m["curriculum"] == "none")]
    if method == "cur":
        return m[(m["method"] == "grpo") & (m["curriculum"] != "none")]
    return m[m["method"] == method]


def method_arm(meta, model, method, issues=None) -> Arm | None:
    """The runs of one paper column (see ``pick``)."""
    return pick(method_runs(meta, model, method), method, model, issues=issues)


def stage_arms(meta, model, issues=None) -> dict[int, Arm]:
    """Table VI: SENT runs by ``curriculum_stages`` (1 = no curriculum). Without a 1-stage SENT run,
    ``low_cov`` runs fill "No Curriculum": ``low_cov`` is SENT's loss without the curriculum (the
    paper prints identical numbers for the two)."""
    sent = method_runs(meta, model, "sent")
    out = {}
    for stages, g in sent.groupby("curriculum_stages"):
        arm = pick(g, f"sent, {int(stages)} stage(s)", model, ignore=("curriculum",), issues=issues)
        if arm is not None:
            out[int(stages)] = arm
    if 1 not in out:
        lc = method_runs(meta, model, "low_cov")
        lc = lc[lc["curriculum"] == "none"]
        arm = pick(lc, "low_cov as SENT without curriculum", model, issues=issues)
        if arm is not None:
            arm.notes.append("No Curriculum = low_cov runs (SENT's loss without the curriculum)")
            out[1] = arm
    return out


def hparam_arms(meta, model, en_key, cov_key, stages: int | None, issues=None) -> dict[tuple[float, float], Arm]:
    """Table VII: SENT runs by (``method.<en_key>``, ``method.<cov_key>``), at the curriculum stages
    of the default SENT column (``stages``)."""
    sent = method_runs(meta, model, "sent")
    if stages is not None:
        sent = sent[sent["curriculum_stages"] == stages]
    out = {}
    if sent.empty:
        return out
    en = sent["hparams"].map(lambda h: h.get(en_key) if isinstance(h, dict) else None)
    cov = sent["hparams"].map(lambda h: h.get(cov_key) if isinstance(h, dict) else None)
    have = en.notna() & cov.notna()
    if (~have).any() and issues is not None:
        issues.append(Issue("warning", f"{model}/sent", f"{int((~have).sum())} SENT run(s) without "
                                                        f"method.{en_key}/method.{cov_key} in config.yaml "
                                                        f"are left out of Table VII"))
    sent = sent[have].assign(_en=en[have].astype(float), _cov=cov[have].astype(float))
    for (e, c), g in sent.groupby(["_en", "_cov"]):
        arm = pick(g, f"sent en={e:g},cov={c:g}", model, ignore=(f"method.{en_key}", f"method.{cov_key}"),
                   issues=issues)
        if arm is not None:
            out[(float(e), float(c))] = arm
    return out
