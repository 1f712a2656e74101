"""The shipped benchmarks: keys, sizes, fields, registry behaviour, cwd independence."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from core.eval import benchmarks
from core.eval.benchmarks import (
    DATA_DIR,
    PAPER_BENCHMARKS,
    Problem,
    benchmark_keys,
    grader_for,
    load_benchmark,
    register_benchmark,
)
from core.eval.grading import MathVerifyGrader

SIZES = {"aime24": 30, "aime25": 30, "amc23": 40, "math500": 500, "olympiadbench": 675, "minerva": 272}


def test_paper_benchmarks_are_the_six_keys():
    assert PAPER_BENCHMARKS == ("aime24", "aime25", "amc23", "math500", "olympiadbench", "minerva")
    assert set(PAPER_BENCHMARKS) | {"dapo_math_17k"} <= set(benchmark_keys())


@pytest.mark.parametrize("key", PAPER_BENCHMARKS)
def test_sizes_and_fields(key):
    problems = load_benchmark(key)
    assert len(problems) == SIZES[key]
    assert len({p.id for p in problems}) == len(problems)
    for p in problems:
        assert isinstance(p, Problem)
        assert p.source == key
        assert p.question.strip() and p.answer.strip()
        assert isinstance(p.id, str)
    assert isinstance(grader_for(key), MathVerifyGrader)


def test_known_first_problems():
    aime24 = load_benchmark("aime24")[0]
    assert (aime24.id, aime24.answer) == ("60", "204")
    assert aime24.question.startswith("Every morning Aya goes for a $9$-kilometer-long walk")
    assert load_benchmark("amc23")[0].answer == "27.0"  # JSON float serialised as given
    assert load_benchmark("math500")[0].id == "test/precalculus/807.json"
    assert load_benchmark("minerva")[1].answer == "4.5e33"


def test_training_set_ships():
    problems = load_benchmark("dapo_math_17k")
    assert len(problems) == 17290
    assert len({p.question for p in problems}) == 17290  # deduplicated by prompt text
    assert all(p.answer.lstrip("-").isdigit() for p in problems)  # all integers (PROVENANCE)


def test_load_returns_a_fresh_list():
    a = load_benchmark("aime24")
    a.clear()
    assert len(load_benchmark("aime24")) == 30


def test_unknown_key_lists_valid_keys_and_suggests():
    with pytest.raises(KeyError) as info:
        load_benchmark("aime2024")
    message = str(info.value)
    assert "Did you mean 'aime24'" in message
    for key in PAPER_BENCHMARKS:
        assert key in message


def test_duplicate_key_raises():
    with pytest.raises(ValueError, match="already registered"):
        register_benchmark("aime24", lambda: [])


def test_register_custom_benchmark_with_size_check(monkeypatch):
    monkeypatch.setattr(benchmarks, "_REGISTRY", dict(benchmarks._REGISTRY))
    monkeypatch.setattr(benchmarks, "_LOADED", dict(benchmarks._LOADED))
    two = [Problem("a", "1+1?", "2", "toy"), Problem("b", "2+2?", "4", "toy")]
    register_benchmark("toy", lambda: two, size=2)
    assert load_benchmark("toy") == two
    assert "toy" in benchmark_keys()
    register_benchmark("toy_wrong_size", lambda: two, size=3)
    with pytest.raises(ValueError, match="expected 3"):
        load_benchmark("toy_wrong_size")
    register_benchmark("toy_dup_ids", lambda: two + two[:1])
    with pytest.raises(ValueError, match="not unique"):
        load_benchmark("toy_dup_ids")
    register_benchmark("toy_other_grader", lambda: two, grader="no_such_grader")
    with pytest.raises(KeyError, match="no_such_grader"):
        grader_for("toy_other_grader")


def test_data_path_is_independent_of_cwd(tmp_path):
    code = "from core.eval.benchmarks import load_benchmark; print(len(load_benchmark('minerva')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "272"
    assert (DATA_DIR / "PROVENANCE.md").is_file()


@pytest.mark.parametrize("key", PAPER_BENCHMARKS)
def test_raw_files_ship_beside_normalized(key):
    raw = [json.loads(line) for line in open(DATA_DIR / key / "test.jsonl", encoding="utf-8")]
    assert len(raw) == SIZES[key]


def test_shipped_files_match_provenance_checksums():
    import hashlib
    import re

    text = (DATA_DIR / "PROVENANCE.md").read_text(encoding="utf-8")
    section = text.split("## What ships here")[1].split("\n## ")[0]
    rows = re.findall(r"^\| `([^`]+)` \| (\d+) \| (\d+) \| [^|]+ \| `([0-9a-f]{64})` \|$", section, re.M)
    assert len(rows) == 13
    for relpath, nrows, nbytes, sha in rows:
        data = (DATA_DIR / relpath).read_bytes()
        assert len(data) == int(nbytes), relpath
        assert hashlib.sha256(data).hexdigest() == sha, relpath
        assert data.count(b"\n") == int(nrows), relpath
