"""Reading a run's append-only JSONL logs, and the ``Issue`` record every reader reports problems with.

``read_jsonl`` (list of dicts) and ``read_jsonl_columns`` (numpy columns, parsed by pyarrow when it
accepts the file) tolerate what a crash leaves behind: a truncated last line is dropped with a
warning, a corrupt line elsewhere is skipped and reported. Nothing is raised for a bad file: the
problem becomes an ``Issue`` so one bad run does not stop the rebuild.

May import: the standard library, numpy, pandas and pyarrow (lazily); no other analysis module.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Issue:
    """Something noteworthy about one run. ``level``: ``skipped`` (run left out), ``warning`` (run
    used, part of it ignored or suspicious), ``info`` (harmless, e.g. unknown extra keys)."""

    level: str
    run: str
    message: str


def _read_lines(path: Path, run: str, issues: list[Issue]) -> bytes:
    """The file's complete lines. A last line without its newline that does not parse is a crash
    mid-write: it is dropped with a warning."""
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        cut = data.rfind(b"\n") + 1
        tail = data[cut:]
        try:
            json.loads(tail)
            data = data + b"\n"  # a complete last line that only lacks its newline
        except ValueError:
            line_no = data.count(b"\n") + 1
            issues.append(Issue("warning", run, f"{_rel(path)}: truncated last line ({len(tail)} bytes, line "
                                                f"{line_no}) ignored"))
            data = data[:cut]
    return data


def _parse_lines(data: bytes, path: Path, run: str, issues: list[Issue]) -> list[dict]:
    """Exact line-by-line parse; a bad line that is not the last means a corrupt file: reported."""
    rows, bad = [], []
    for i, line in enumerate(data.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            bad.append(i)
            continue
        if not isinstance(obj, dict):
            bad.append(i)
            continue
        rows.append(obj)
    if bad:
        shown = ", ".join(map(str, bad[:5])) + (" ..." if len(bad) > 5 else "")
        issues.append(Issue("warning", run, f"{_rel(path)}: {len(bad)} corrupt line(s) (not the last) ignored: "
                                            f"line {shown}"))
    return rows


def read_jsonl(path: Path, run: str, issues: list[Issue]) -> list[dict]:
    """One append-only JSONL file as a list of dicts (tolerates a truncated last line)."""
    return _parse_lines(_read_lines(path, run, issues), path, run, issues)


def read_jsonl_columns(path: Path, run: str, issues: list[Issue]) -> dict[str, np.ndarray]:
    """One JSONL file as columns (numpy arrays; missing values None/NaN), parsed by pyarrow (C++)
    when it accepts the file, else line by line (e.g. a column whose type changes, a corrupt line)."""
    data = _read_lines(path, run, issues)
    if not data or data.isspace():
        return {}
    try:
        import pyarrow.json as paj

        table = paj.read_json(io.BytesIO(data), read_options=paj.ReadOptions(block_size=1 << 20))
        return {name: table.column(name).to_numpy(zero_copy_only=False) for name in table.column_names}
    except Exception:  # noqa: BLE001 - any refusal falls back to the exact line-by-line parser
        rows = _parse_lines(data, path, run, issues)
        if not rows:
            return {}
        df = pd.DataFrame.from_records(rows)
        return {c: df[c].to_numpy() for c in df.columns}


def _rel(path: Path) -> str:
    parts = path.parts
    return "/".join(parts[-2:]) if parts[-2] == "samples" else parts[-1]
