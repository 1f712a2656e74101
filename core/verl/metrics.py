"""verl's ``file`` logger output -> the run-log ``train.jsonl`` (docs/runlog.md).

verl's ``FileLogger`` writes one ``{"step": <global step>, "data": {<metric>: <value>}}`` line per
training step to ``$VERL_FILE_LOGGER_PATH`` and opens that file with ``"wb"``, so a resumed run
would truncate it. The backend therefore gives every (re)start its own file
(``verl_metrics.<attempt>.jsonl``) and converts all of them together: a step logged by several
attempts (the steps after the last checkpoint are re-run after a requeue) keeps the *last*
attempt's values, so ``train.jsonl`` has each step once, exactly as an uninterrupted run would.

Key mapping (verl -> contract). verl prefixes every metric the actor's loss returns with ``actor/``,
so the harness loss's own ``train/...`` and ``method/...`` metrics arrive as ``actor/train/...``
and ``actor/method/...`` and get their prefix back. The reward is the grader's 0/1 correctness
(``core/verl/reward.py``), so ``train/acc`` equals ``train/reward`` by construction. Every other
verl metric is kept under ``verl/<its verl name>``.

Steps: verl logs once per rollout batch (its "global step"); with the paper's batch 256 and
mini-batch 128 that batch makes 2 optimizer updates. ``step`` is verl's global step (offset so it is
global across curriculum stages, matching ``eval_step`` and ``global_step_N`` checkpoints), and
``optimizer_step`` counts updates.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["KEY_MAP", "convert_record", "read_verl_log", "merge_attempts", "convert_files", "write_jsonl_atomic",
           "last_step"]

#: verl metric -> run-log key
KEY_MAP: dict[str, str] = {
    "critic/score/mean": "train/reward",
    "response_length/mean": "train/response_len",
    "actor/grad_norm": "train/grad_norm",
    "actor/lr": "train/lr",
    "timing_s/gen": "time/rollout",
    "timing_s/update_actor": "time/update",
    "timing_s/step": "time/step",
}
#: keys that are not metrics but row fields
_ROW_FIELDS = {"training/global_step", "training/epoch"}


def convert_record(data: Mapping[str, object]) -> dict[str, float]:
    """One verl metrics dict -> namespaced run-log metrics (row fields excluded)."""
    out: dict[str, float] = {}
    for key, value in data.items():
        if key in _ROW_FIELDS or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key in KEY_MAP:
            out[KEY_MAP[key]] = float(value)
        elif key.startswith("actor/train/") or key.startswith("actor/method/"):
            out[key[len("actor/"):]] = float(value)
        elif key.startswith("timing_s/"):
            out["time/" + key[len("timing_s/"):]] = float(value)
        else:
            out["verl/" + key] = float(value)
    if "train/reward" in out:
        out["train/acc"] = out["train/reward"]
    return out


def read_verl_log(path: str | os.PathLike) -> dict[int, dict]:
    """``{step: data}`` of one file-logger file; a truncated last line (a crash mid-write) is skipped."""
    rows: dict[int, dict] = {}
    text = Path(path).read_text(encoding="utf-8") if Path(path).exists() else ""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                continue  # torn last line
            raise ValueError(f"{path}:{i + 1}: not JSON (verl file-logger lines are {{'step', 'data'}})") from None
        rows[int(obj["step"])] = dict(obj.get("data") or {})
    return rows


def merge_attempts(paths: Iterable[str | os.PathLike]) -> dict[int, dict]:
    """Merge the logs of successive attempts (in order): later attempts win per step."""
    merged: dict[int, dict] = {}
    for p in paths:
        merged.update(read_verl_log(p))
    return dict(sorted(merged.items()))


def convert_files(paths: Iterable[str | os.PathLike], *, stage: int, step_offset: int,
                  updates_per_step: int) -> list[dict]:
    """Contract rows for one stage's attempt files (sorted by step)."""
    rows = []
    for step, data in merge_attempts(paths).items():
        g = step_offset + step
        row = {"step": g, "stage": stage, "epoch": int(data.get("training/epoch", 0)),
               "optimizer_step": g * updates_per_step}
        row.update(convert_record(data))
        rows.append(row)
    return rows


def write_jsonl_atomic(rows: Iterable[Mapping], path: str | os.PathLike) -> Path:
    """Write ``rows`` as JSONL to ``path`` atomically (``core.runlog.atomic_write``)."""
    from core.runlog import atomic_write

    return atomic_write(path, "".join(json.dumps(r, sort_keys=False) + "\n" for r in rows))


def last_step(paths: Iterable[str | os.PathLike]) -> int:
    """The highest verl global step logged in ``paths`` (0 if none)."""
    merged = merge_attempts(paths)
    return max(merged) if merged else 0
