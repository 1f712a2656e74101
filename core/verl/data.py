"""Shipped JSONL problems -> verl's RL parquet format (``verl.utils.dataset.RLHFDataset``).

One row per problem::

    data_source    the benchmark key ("dapo_math_17k", "aime24", ...); verl groups validation
                   metrics by it and passes it to the reward function
    prompt         [{"role": "user", "content": PAPER_TEMPLATE.format(question=...)}]; verl applies
                   the model's chat template to it (data.prompt_key=prompt)
    ability        "math"
    reward_model   {"style": "rule", "ground_truth": <gold answer string>}
    extra_info     {"index": <row>, "id": <problem id>, "split": "train"|"test"}

Files are written atomically (temp file + rename) and named by a hash of their content recipe, so
parallel sweep jobs share one copy and a changed template or data file gives a new name.
Curriculum stages are row subsets of the same training set, in curriculum order
(:func:`write_stage_files`; the order itself is ``core.curriculum.order_and_split``).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Sequence

from core.eval.benchmarks import DATA_DIR, Problem, load_benchmark

__all__ = ["rows_for", "write_parquet", "dataset_file", "write_stage_files", "read_rows", "COLUMNS",
           "FORMAT_VERSION"]

#: bump when the row layout changes (part of every file name)
FORMAT_VERSION = 1
COLUMNS = ("data_source", "prompt", "ability", "reward_model", "extra_info")


def _template() -> str:
    from core.eval.prompts import PAPER_TEMPLATE

    return PAPER_TEMPLATE


def rows_for(problems: Sequence[Problem], data_source: str, split: str) -> list[dict]:
    """verl rows for ``problems`` (in order), with the paper's prompt as the single user turn."""
    template = _template()
    return [{
        "data_source": data_source,
        "prompt": [{"role": "user", "content": template.format(question=p.question)}],
        "ability": "math",
        "reward_model": {"style": "rule", "ground_truth": p.answer},
        "extra_info": {"index": i, "id": p.id, "split": split},
    } for i, p in enumerate(problems)]


def write_parquet(rows: Sequence[dict], path: str | os.PathLike) -> Path:
    """Write ``rows`` to ``path`` atomically (pyarrow; the parent folder is created)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        raise ValueError(f"refusing to write an empty dataset to {path}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(list(rows))
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def _recipe_hash(*parts: object) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(json.dumps(p, sort_keys=True, default=str).encode())
        h.update(b"\0")
    return h.hexdigest()[:12]


def _source_file(key: str) -> Path | None:
    for rel in (f"{key}/train.normalized.jsonl", f"{key}/test.normalized.jsonl"):
        if (DATA_DIR / rel).exists():
            return DATA_DIR / rel
    return None


def _file_digest(path: Path | None) -> str:
    if path is None:
        return "registered"
    st = path.stat()
    return f"{st.st_size}:{int(st.st_mtime)}"


def dataset_file(key: str, out_dir: str | os.PathLike, *, split: str, dry_run: bool = False) -> Path:
    """The parquet file of benchmark/training set ``key`` under ``out_dir`` (written unless it exists).

    With ``dry_run`` only the path is returned (nothing is loaded or written).
    """
    name = f"{key}.{split}.v{FORMAT_VERSION}-{_recipe_hash(key, split, _template(), _file_digest(_source_file(key)))}.parquet"
    path = Path(out_dir) / name
    if dry_run or path.exists():
        return path
    return write_parquet(rows_for(load_benchmark(key), key, split), path)


def write_stage_files(key: str, out_dir: str | os.PathLike, stages: Sequence[Sequence[str]],
                      *, dry_run: bool = False) -> list[Path]:
    """One training parquet per curriculum stage: stage k holds the problems ``stages[k]``, in that
    order (the curriculum order from ``core.curriculum.order_and_split``)."""
    digest = _recipe_hash(key, _template(), _file_digest(_source_file(key)), [list(s) for s in stages])
    n = len(stages)
    paths = [Path(out_dir) / f"{key}.stage{k + 1}of{n}.v{FORMAT_VERSION}-{digest}.parquet" for k in range(n)]
    if dry_run or all(p.exists() for p in paths):
        return paths
    by_id = {p.id: p for p in load_benchmark(key)}
    unknown = [i for part in stages for i in part if i not in by_id]
    if unknown:
        raise ValueError(f"{len(unknown)} curriculum ids are not problems of {key!r} (first: {unknown[:3]})")
    for part, path in zip(stages, paths):
        write_parquet(rows_for([by_id[i] for i in part], key, "train"), path)
    return paths


def read_rows(path: str | os.PathLike) -> list[dict]:
    """The rows of a parquet file written here (for tests and inspection)."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
