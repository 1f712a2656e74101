"""Eq. 10: ascending order, tie-break by natural prompt id, stage sizes and bad input."""

from __future__ import annotations

import json

import pytest

from core.curriculum import (CurriculumError, SEScore, id_sort_key, order_and_split, read_semantic_entropy_jsonl,
                             stage_sizes, write_semantic_entropy_jsonl)


def sc(i, h, k=1):
    return SEScore(id=str(i), semantic_entropy=h, variant="count", num_clusters=k, m=8, num_correct=0,
                   num_unparseable=0, unparseable="singleton")


def test_ascending_with_natural_id_ties():
    scores = [sc("10", 0.5), sc("9", 0.5), sc("2", 1.2), sc("1", 0.0), sc("a", 0.5), sc("x2", 0.5), sc("x10", 0.5)]
    (order,) = order_and_split(scores, 1)
    # 0.0 first; the 0.5 tie in natural id order: 9 < 10 (numbers), then text ids (digits before text)
    assert order == ["1", "9", "10", "a", "x2", "x10", "2"]


def test_mapping_input_and_equal_split():
    stages = order_and_split({str(i): float(-i) for i in range(7)}, 2)
    assert stages == [["6", "5", "4", "3"], ["2", "1", "0"]]   # 7 -> 4 + 3 (the earlier stage gets the extra)
    assert [len(s) for s in order_and_split({str(i): 0.0 for i in range(10)}, 3)] == [4, 3, 3]


@pytest.mark.parametrize("n, stages, fractions, sizes", [
    (10, 2, None, [5, 5]),
    (10, 2, [0.25, 0.75], [3, 7]),    # 2.5 / 7.5: equal remainders -> the earlier stage
    (10, 3, [0.2, 0.3, 0.5], [2, 3, 5]),
    (3, 3, None, [1, 1, 1]),
    (17290, 2, None, [8645, 8645]),
    (17290, 3, None, [5764, 5763, 5763]),
])
def test_stage_sizes(n, stages, fractions, sizes):
    assert stage_sizes(n, stages, fractions) == sizes


@pytest.mark.parametrize("n, stages, fractions, match", [
    (10, 0, None, "must be an integer >= 1"),
    (3, 4, None, "more than the 3 training prompts"),
    (10, 2, [0.5], "one fraction per stage"),
    (10, 2, [0.7, 0.7], "must sum to 1"),
    (10, 2, [1.0, 0.0], "must all be > 0"),
    (10, 3, [0.96, 0.02, 0.02], "would be empty"),
    (0, 1, None, "no prompts"),
])
def test_stage_errors(n, stages, fractions, match):
    with pytest.raises(CurriculumError, match=match):
        stage_sizes(n, stages, fractions)


def test_duplicates_and_nan_rejected():
    with pytest.raises(CurriculumError, match="duplicate"):
        order_and_split([sc("1", 0.0), sc("1", 1.0)], 1)
    with pytest.raises(CurriculumError, match="NaN"):
        order_and_split([sc("1", float("nan")), sc("2", 1.0)], 1)


def test_id_sort_key_is_total_on_mixed_ids():
    ids = ["b", "a1", "a10", "a2", "10", "2", "1a", "", "a"]
    assert sorted(ids, key=id_sort_key) == ["", "1a", "2", "10", "a", "a1", "a2", "a10", "b"]


def test_semantic_entropy_jsonl_roundtrip(tmp_path):
    scores = [sc("3", 1.5, 4), sc("1", 0.0, 1), sc("2", 0.7, 2)]
    stages = order_and_split(scores, 2)
    stage_of = {i: k for k, ids in enumerate(stages, 1) for i in ids}
    path = write_semantic_entropy_jsonl(tmp_path, scores, stage_of)
    rows = [json.loads(x) for x in path.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert [r["stage"] for r in rows] == [1, 1, 2]
    for r in rows:  # the run-log contract (docs/runlog.md)
        assert {"id", "semantic_entropy", "variant", "num_clusters", "stage"} <= set(r)
    back = read_semantic_entropy_jsonl(path)
    assert {s.id: s.semantic_entropy for s in back} == {"1": 0.0, "2": 0.7, "3": 1.5}
    with pytest.raises(CurriculumError, match="no stage"):
        write_semantic_entropy_jsonl(tmp_path, scores, {"1": 1})


def test_read_scores_errors(tmp_path):
    from core.curriculum import CacheMissingError

    with pytest.raises(CacheMissingError, match="does not exist"):
        read_semantic_entropy_jsonl(tmp_path / "nope.jsonl")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "semantic_entropy": 0.1}\n{"id": "2"}\n')
    with pytest.raises(CacheMissingError, match="bad.jsonl:2"):
        read_semantic_entropy_jsonl(bad)
