"""Reading run directories: the minimal valid run, and every kind of damage the contract allows."""

import json

import pytest

from analysis.load import load_runs
from analysis.schema import parse_run_name
from tests.analysis.synthetic import samples_from_counts, write_run

from .conftest import one_problem_runs, train_lines


def _issues(runs, level=None):
    return [i for i in runs.issues if level is None or i.level == level]


def test_minimal_hand_written_run(tmp_path):
    run = tmp_path / "sw" / "method=grpo,seed=0"
    (run / "samples").mkdir(parents=True)
    (run / "meta.json").write_text(json.dumps({"schema_version": 1, "method": "grpo", "seed": 0, "model": "tiny"}))
    (run / "config.yaml").write_text("method:\n  name: grpo\neval:\n  n: 4\n")
    recs = samples_from_counts({0: [1, 4], 10: [2, 0]}, n=4)
    (run / "samples" / "synth_1.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    (run / "DONE").write_text("{}")
    runs = load_runs(tmp_path)
    assert list(runs.meta["run_id"]) == ["sw/method=grpo,seed=0"]
    assert runs.meta["curriculum"].iloc[0] == "none" and runs.meta["curriculum_stages"].iloc[0] == 1
    p = runs.problems.sort_values(["eval_step", "problem_id"])
    assert list(p["c"]) == [1, 4, 2, 0] and set(p["n"]) == {4}
    assert len(runs.samples) == 16
    assert not _issues(runs, "warning") and not _issues(runs, "skipped")


def test_truncated_last_line_is_dropped_and_reported(tmp_path):
    run = one_problem_runs(tmp_path, "grpo", 0, {0: 1, 20: 3}, n=4, train=train_lines(5))
    path = run / "samples" / "synth_1.jsonl"
    path.write_text(path.read_text() + '{"eval_step": 20, "problem_id": "p1", "sam')
    (run / "train.jsonl").write_text((run / "train.jsonl").read_text() + '{"step": 6, "train/ent')
    runs = load_runs(tmp_path)
    msgs = [i.message for i in _issues(runs, "warning")]
    assert any("samples/synth_1.jsonl: truncated last line" in m for m in msgs)
    assert any("train.jsonl: truncated last line" in m for m in msgs)
    p = runs.problems[(runs.problems["benchmark"] == "synth_1")]
    assert sorted(p["c"]) == [1, 3] and set(p["n"]) == {4}  # the partial record did not count
    assert runs.train["step"].max() == 5


def test_complete_last_line_without_newline_is_kept(tmp_path):
    run = one_problem_runs(tmp_path, "grpo", 0, {0: 2}, n=4, benches=("synth_1",))
    path = run / "samples" / "synth_1.jsonl"
    path.write_text(path.read_text().rstrip("\n"))
    runs = load_runs(tmp_path)
    assert runs.problems["n"].tolist() == [4] and not _issues(runs, "warning")


def test_corrupt_middle_line_is_reported(tmp_path):
    run = one_problem_runs(tmp_path, "grpo", 0, {0: 2}, n=4, benches=("synth_1",))
    path = run / "samples" / "synth_1.jsonl"
    lines = path.read_text().splitlines()
    lines[1] = "{not json"
    path.write_text("\n".join(lines) + "\n")
    runs = load_runs(tmp_path)
    assert any("1 corrupt line(s)" in i.message and "line 2" in i.message for i in _issues(runs, "warning"))
    assert runs.problems["n"].tolist() == [3]


def test_run_without_done_is_reported_and_left_out_by_default(tmp_path):
    one_problem_runs(tmp_path, "grpo", 0, {0: 1}, done=False)
    one_problem_runs(tmp_path, "grpo", 1, {0: 1})
    runs = load_runs(tmp_path)
    assert any("no DONE" in i.message for i in _issues(runs, "warning"))
    assert list(runs.usable_meta()["seed"]) == [1]
    runs.options.include_incomplete = True
    assert sorted(runs.usable_meta()["seed"]) == [0, 1]


def test_unknown_extra_fields_are_tolerated(tmp_path):
    run = one_problem_runs(tmp_path, "grpo", 0, {0: 1}, n=4, benches=("synth_1",),
                           meta_extra={"future_key": 1}, train=[{"step": 1, "train/entropy": 1.0, "weird": 3}])
    path = run / "samples" / "synth_1.jsonl"
    recs = [dict(json.loads(line), new_field="x") for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    runs = load_runs(tmp_path)
    infos = " | ".join(i.message for i in _issues(runs, "info"))
    assert "future_key" in infos and "new_field" in infos and "weird" in infos
    assert runs.problems["c"].tolist() == [1] and len(runs.meta) == 1


@pytest.mark.parametrize("version,word", [(0, "older"), (2, "newer")])
def test_other_schema_versions_are_skipped_with_the_reason(tmp_path, version, word):
    one_problem_runs(tmp_path, "grpo", 0, {0: 1}, schema_version=version)
    one_problem_runs(tmp_path, "sent", 0, {0: 1})
    runs = load_runs(tmp_path)
    skipped = _issues(runs, "skipped")
    assert len(skipped) == 1 and word in skipped[0].message and "grpo" in skipped[0].run
    assert list(runs.meta["method"]) == ["sent"]


def test_duplicate_records_keep_the_last(tmp_path):
    run = one_problem_runs(tmp_path, "grpo", 0, {0: 1}, n=2, benches=("synth_1",))
    path = run / "samples" / "synth_1.jsonl"
    extra = {"eval_step": 0, "problem_id": "p0", "sample": 1, "correct": True, "length": 5, "answer": "1"}
    path.write_text(path.read_text() + json.dumps(extra) + "\n")
    runs = load_runs(tmp_path)
    assert any("1 duplicate" in i.message for i in _issues(runs, "warning"))
    assert runs.problems[["n", "c"]].values.tolist() == [[2, 2]]


def test_directories_without_meta_are_skipped(tmp_path):
    (tmp_path / "s" / "broken" / "samples").mkdir(parents=True)
    one_problem_runs(tmp_path, "grpo", 0, {0: 1})
    runs = load_runs(tmp_path)
    assert runs.candidates == 2 and len(runs.meta) == 1
    assert "no meta.json" in _issues(runs, "skipped")[0].message


def test_interrupted_evaluation_is_flagged(tmp_path):
    samples = {"synth_1": samples_from_counts({0: [1, 1, 1], 10: [1]}, 4)}
    write_run(tmp_path / "s" / "r", method="grpo", seed=0, samples=samples, n=4)
    runs = load_runs(tmp_path)
    assert any("eval_step 10: only 1 problems" in i.message for i in _issues(runs, "warning"))


def test_missing_root_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_runs(tmp_path / "nope")


def test_parse_run_name():
    assert parse_run_name("method=sent,method.low_entropy_frac=0.7,seed=0") == {
        "method": "sent", "method.low_entropy_frac": "0.7", "seed": "0"}
    assert parse_run_name("+experiment=table7,x=[1,2]") == {"experiment": "table7", "x": "[1,2]"}
    assert parse_run_name("run1") == {}
