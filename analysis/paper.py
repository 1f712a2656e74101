"""What the paper's tables look like, and its published numbers.

Everything paper-specific lives here: benchmark and model names, the embedded twins, method labels,
and one ``TableSpec`` per paper table (rows, columns, K values, Avg./Delta, which marks). The
published numbers are the tidy CSVs in ``analysis/reference/`` (copied verbatim from the paper's
tables, see ``analysis/reference/README.md``); the printed Delta rows, left out of those CSVs because
they are derived, are in ``analysis/reference/paper_deltas.csv``; the paper's claims and the cells of
its default run are YAML data there too (``reference_yaml``).

May import: pandas, PyYAML and ``methods/catalog.py`` (loaded by path, never the ``methods`` package).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"

# benchmark keys in the paper's usual column order, and their printed labels
BENCHMARKS = ("aime24", "aime25", "amc23", "math500", "olympiadbench", "minerva")
BENCH_LABEL = {"aime24": "AIME24", "aime25": "AIME25", "amc23": "AMC23", "math500": "MATH500",
               "olympiadbench": "OlympiadBench", "minerva": "Minerva", "livecodebench": "LiveCodeBench"}
LABEL_BENCH = {v: k for k, v in BENCH_LABEL.items()}
# problems per benchmark in the standard releases the paper evaluates on (AIME 2024/2025: 30 each;
# AMC 2023: 40; MATH-500: 500; OlympiadBench, English text-only math: 675; Minerva Math: 272).
# LiveCodeBench is left out: its size depends on the release window, which the paper does not give.
BENCH_SIZE = {"aime24": 30, "aime25": 30, "amc23": 40, "math500": 500, "olympiadbench": 675, "minerva": 272}
# the embedded CPU backend's held-out benchmarks stand in for the paper's six, in this order
TWINS = {f"synth_{i + 1}": b for i, b in enumerate(BENCHMARKS)}
TWIN_OF = {v: k for k, v in TWINS.items()}

# model keys (meta.json ``model``) -> the paper's printed name, and the paper model they stand for
MODEL_LABEL = {"r1_distill_qwen_1p5b": "DeepSeek-R1-Distill-Qwen-1.5B", "qwen2p5_math_7b": "Qwen2.5-Math-7B",
               "qwen3_14b": "Qwen3-14B", "tiny": "tiny",
               "openpangu_embedded_1b_v1p1": "OpenPangu-embedded-1B-v1.1"}  # evaluation only (core.eval.models)
PAPER_MODEL_OF = {"tiny": "r1_distill_qwen_1p5b", "r1_distill_qwen_1p5b": "r1_distill_qwen_1p5b",
                  "qwen2p5_math_7b": "qwen2p5_math_7b", "qwen3_14b": "qwen3_14b"}
EMBEDDED_MODELS = {"tiny"}


def method_catalog() -> dict:
    """``{name: MethodInfo}`` for every registered method (labels, default curriculum, flags), read by
    ``methods/catalog.py`` from the method files' source: loaded by path, so neither the ``methods``
    package (which imports torch) nor torch is imported. A new method file is labelled automatically."""
    return dict(_method_catalog())


def baseline_method() -> str:
    """The method every other is compared with (its class sets ``baseline = True``: GRPO)."""
    found = [name for name, info in _method_catalog().items() if info.baseline]
    if len(found) != 1:
        raise RuntimeError(f"exactly one registered method must set baseline = True, found {found}")
    return found[0]


@lru_cache(maxsize=None)
def _method_catalog() -> dict:
    import importlib.util
    import sys

    spec = importlib.util.find_spec("methods")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the `methods` package is not importable: run from the harness checkout (or pip "
                          "install -e .) so analysis can read the method labels")
    path = Path(list(spec.submodule_search_locations)[0]) / "catalog.py"
    name = "_sent_harness_methods_catalog"
    mod = sys.modules.get(name)
    if mod is None:
        cspec = importlib.util.spec_from_file_location(name, path)
        mod = importlib.util.module_from_spec(cspec)
        sys.modules[name] = mod  # dataclasses look their module up while the file runs
        cspec.loader.exec_module(mod)
    return mod.catalog(path.parent)


# contestants that are not registered methods: the paper's own columns
PAPER_ONLY_LABEL = {"base": "Base model", "cur": "w/ Cur", "openpangu": "OpenPangu-1B"}


def method_label(key: str) -> str:
    """Printed label of a contestant: the paper-only columns, else the method's ``label`` from the
    method registry (its source), else the key itself (a method no longer in this checkout)."""
    if key in PAPER_ONLY_LABEL:
        return PAPER_ONLY_LABEL[key]
    info = _method_catalog().get(key)
    return info.label if info is not None else key


class _Labels(dict):
    """``METHOD_LABEL[key]``: ``method_label`` as a mapping (missing keys fall back as it does)."""

    def __missing__(self, key):
        return method_label(key)

    def get(self, key, default=None):
        return method_label(key)

    def __contains__(self, key):
        return key in PAPER_ONLY_LABEL or key in _method_catalog()


METHOD_LABEL = _Labels()
METRIC_LABEL = {"pass": "Pass", "avg": "Avg", "len": "Len"}
STAGES_VARIANT = {1: "no_curriculum", 2: "two_stage", 3: "three_stage"}
STAGES_LABEL = {"no_curriculum": "No Curriculum", "two_stage": "Two-Stage", "three_stage": "Three-Stage"}
# Table VII's SENT hyperparameters (config.yaml ``method.*``); "en" and "cov" in the paper
EN_KEY, COV_KEY = "low_entropy_frac", "high_cov_frac"
# the paper's Table VII rows, in its order (its default setting last)
HPARAM_VARIANTS = ("en=0.7,cov=0.0002", "en=0.9,cov=0.0002", "en=0.8,cov=0.0001", "en=0.8,cov=0.002",
                   "en=0.8,cov=0.0002")


def model_label(model: str) -> str:
    return MODEL_LABEL.get(model, model)


def model_title(model: str) -> str:
    """Section title for a model; the embedded model says which paper model it stands in for."""
    if model in EMBEDDED_MODELS:
        return (f"{model} (embedded CPU twin of {MODEL_LABEL[PAPER_MODEL_OF[model]]}; benchmarks synth_1..6 "
                f"stand in for {', '.join(BENCH_LABEL[b] for b in BENCHMARKS)})")
    return model_label(model)


def bench_key(benchmark: str) -> str | None:
    """Our benchmark key (``aime24`` or its twin ``synth_1``) -> the paper benchmark key."""
    if benchmark in BENCHMARKS:
        return benchmark
    return TWINS.get(benchmark)


def has_twin(benchmark: str) -> bool:
    """Whether a benchmark key of our runs is one of the paper's (``aime24``, ``livecodebench``, ...) or an
    embedded twin of one (``synth_1`` .. ``synth_6``); the others (``synth_7``, ``synth_8``) are not in
    the paper and go to the ``embedded_heldout`` table."""
    return benchmark in BENCH_LABEL or benchmark in TWINS


def bench_label(benchmark: str) -> str:
    """Printed label: the paper's for real benchmarks, the twin's own key for twins."""
    return BENCH_LABEL.get(benchmark, benchmark)


def bench_header(benchmark: str) -> str:
    if benchmark in TWINS:
        return f"{benchmark} ({BENCH_LABEL[TWINS[benchmark]]})"
    return bench_label(benchmark)


def variant_label(variant: str) -> str:
    """Row label of a Table VI/VII variant as the paper prints it."""
    if variant in STAGES_LABEL:
        return STAGES_LABEL[variant]
    if variant.endswith("_stage"):
        return variant.replace("_", "-").title()
    if variant.startswith("en="):
        en, cov = variant.split(",")
        en_v = float(en.split("=")[1])
        return f"en: {en_v * 100:g}%, cov: {cov.split('=')[1]}"
    return variant


def hparam_variant(en, cov) -> str:
    return f"en={float(en):g},cov={float(cov):g}"


def metric_header(metric: str, k) -> str:
    return f"{METRIC_LABEL[metric]}@{int(k)}"


@dataclass(frozen=True)
class TableSpec:
    """One paper table: which runs feed it and how it is laid out.

    ``orientation``: ``columns`` puts the contestants (methods) in columns and (benchmark, metric@K)
    in rows (Tables I, II, XII); ``rows`` puts contestants in rows, one section per model, and
    (benchmark, metric@K) in columns (all others). Marks compare the contestants of one
    (model, benchmark, metric, K) cell group (across models for Table XII).
    """

    name: str
    roman: str
    title: str
    models: tuple[str, ...]  # our model keys whose runs fill the table (paper model last)
    orientation: str
    metrics: tuple[tuple[str, int], ...]
    arms: tuple[str, ...]  # method keys (or variant keys for VI/VII) in the paper's order
    benchmarks: tuple[str, ...] = BENCHMARKS
    underline: bool = True
    avg: bool = False  # an "Avg." entry per contestant (row for `columns`, column for `rows`)
    delta: bool = False  # a Delta row: SENT minus the best other contestant
    rank_across_models: bool = False
    variant_kind: str | None = None  # "stages" (VI) or "hparams" (VII)
    unavailable: str | None = None  # why our harness cannot produce this table at all
    sections: tuple[tuple[str, ...], ...] = ()  # paper model sections, each as our model keys; default: one
    metric_column: bool = True  # `columns` orientation: a Metric column (Table XII has one metric, no column)
    arm_models: tuple[tuple[str, str], ...] = ()  # contestant -> the model key whose runs fill it (XII: OpenPangu)

    @property
    def model_sections(self) -> tuple[tuple[str, ...], ...]:
        return self.sections or (self.models,)

    @property
    def contestant_col(self) -> str:
        return "variant" if self.variant_kind else "method"


ROLE_1P5B = ("tiny", "r1_distill_qwen_1p5b")
M8 = ("grpo", "en", "adv", "mask", "clip", "cov", "high_en", "sent")
K3 = (8, 16, 32)
PA16 = (("pass", 16), ("avg", 16))
ORDER_VI = ("aime24", "aime25", "math500", "minerva", "amc23", "olympiadbench")

TABLES: dict[str, TableSpec] = {t.name: t for t in (
    TableSpec("table01_passk_1p5b", "I", "Pass@K on six benchmarks, 1.5B base model", ROLE_1P5B, "columns",
              tuple(("pass", k) for k in K3), ("base", *M8), avg=True),
    TableSpec("table02_avgk_1p5b", "II", "Avg@K on six benchmarks, 1.5B base model", ROLE_1P5B, "columns",
              tuple(("avg", k) for k in K3), ("base", *M8), avg=True),
    TableSpec("table03_7b", "III", "Pass@16 and Avg@16, Qwen2.5-Math-7B", ("qwen2p5_math_7b",), "rows", PA16,
              ("grpo", "en", "mask", "sent"), delta=True),
    TableSpec("table04_14b", "IV", "Pass@16 and Avg@16, Qwen3-14B", ("qwen3_14b",), "rows", PA16,
              ("grpo", "sent"), underline=False, delta=True),
    TableSpec("table05_len16", "V", "Len@16 (mean response length, tokens)", (*ROLE_1P5B, "qwen2p5_math_7b"),
              "rows", (("len", 16),), ("grpo", "en", "sent"), underline=False, avg=True, delta=True,
              sections=(ROLE_1P5B, ("qwen2p5_math_7b",))),
    TableSpec("table06_curriculum", "VI", "Curriculum design (SENT with 1, 2, 3 stages), 1.5B", ROLE_1P5B,
              "rows", PA16, ("no_curriculum", "two_stage", "three_stage"), benchmarks=ORDER_VI,
              underline=False, variant_kind="stages"),
    TableSpec("table07_hparams", "VII", "SENT hyperparameters en (low_entropy_frac) and cov (high_cov_frac), "
              "1.5B", ROLE_1P5B, "rows", PA16, HPARAM_VARIANTS, benchmarks=ORDER_VI, variant_kind="hparams"),
    TableSpec("table08_livecodebench", "VIII", "Generalization to LiveCodeBench, 1.5B", ("r1_distill_qwen_1p5b",),
              "rows", (("pass", 8), ("pass", 16), ("avg", 8), ("avg", 16)), ("grpo", "sent"),
              benchmarks=("livecodebench",), underline=False, avg=True, delta=True),
    TableSpec("table09_ablation", "IX", "Ablation of SENT's components, 1.5B", ROLE_1P5B, "rows", PA16,
              ("grpo", "cur", "low", "low_cov", "sent")),
    TableSpec("table12_openpangu", "XII", "Avg@16, OpenPangu-embedded-1B-v1.1 vs SENT (1.5B)",
              ("r1_distill_qwen_1p5b",), "columns", (("avg", 16),), ("openpangu", "sent"), underline=False,
              avg=True, rank_across_models=True, metric_column=False,
              arm_models=(("openpangu", "openpangu_embedded_1b_v1p1"),)),
)}

# which paper Avg. entry averages what (for the check report)
AVG_OF = {"table01_passk_1p5b": "the 18 Pass@K values", "table02_avgk_1p5b": "the 18 Avg@K values",
          "table05_len16": "the 6 Len@16 values", "table08_livecodebench": "Pass@8, Pass@16, Avg@8, Avg@16",
          "table12_openpangu": "the 6 Avg@16 values"}


def load_reference(name: str) -> pd.DataFrame:
    """The paper's published numbers for one table as a tidy frame; ``value`` stays the printed
    string, ``x`` is its float, ``bench_key`` the benchmark key (``avg`` for Avg. rows)."""
    return _load_reference(name).copy()


@lru_cache(maxsize=None)
def _load_reference(name: str) -> pd.DataFrame:
    path = REFERENCE_DIR / f"{name}.csv"
    if not path.exists():
        raise FileNotFoundError(f"reference table {path} is missing; it ships with the analysis package")
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    df["x"] = df["value"].astype(float)
    df["bold"] = df["bold"].astype(int).astype(bool)
    df["underline"] = df["underline"].astype(int).astype(bool)
    df["k"] = df["k"].map(lambda s: int(s) if s else None).astype("Int64")
    df["bench_key"] = df["benchmark"].map(lambda b: LABEL_BENCH.get(b, "avg"))
    if "variant" not in df.columns:
        df["variant"] = ""
    if "curriculum_stages" not in df.columns:
        df["curriculum_stages"] = ""
    return df


@lru_cache(maxsize=None)
def reference_yaml(name: str):
    """A YAML file of ``analysis/reference/`` parsed (``claims.yaml``, ``default_run.yaml``): the
    paper-specific data that names method keys, kept out of the Python code."""
    import yaml

    path = REFERENCE_DIR / name
    if not path.exists():
        raise FileNotFoundError(f"reference file {path} is missing; it ships with the analysis package")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def delta_contestant() -> str:
    """The column the paper's Delta rows are taken for: it minus the best other column."""
    return reference_yaml("default_run.yaml")["delta_contestant"]


def default_run_cells() -> tuple[tuple[str, str], ...]:
    """Where the paper prints its default run: (table name, contestant column value) pairs."""
    return tuple((str(t), str(c)) for t, c in reference_yaml("default_run.yaml")["cells"])


def load_paper_deltas() -> pd.DataFrame:
    """The Delta rows the paper prints (Tables III, IV, V per model, VIII)."""
    return _load_paper_deltas().copy()


@lru_cache(maxsize=None)
def _load_paper_deltas() -> pd.DataFrame:
    df = pd.read_csv(REFERENCE_DIR / "paper_deltas.csv", dtype=str, keep_default_na=False)
    df["x"] = df["value"].astype(float)
    df["k"] = df["k"].map(lambda s: int(s) if s else None).astype("Int64")
    return df
