"""The run-log writer: contract keys, line-atomic appends, resume truncation."""

from __future__ import annotations

import json

from core.runlog import RunLog

META_KEYS = {"schema_version", "method", "method_version", "seed", "backend", "model", "curriculum",
             "curriculum_stages", "git_sha", "dirty", "versions", "started"}


def test_meta_has_exactly_the_contract_keys_and_keeps_the_first_start(tmp_path):
    rl = RunLog(tmp_path)
    kw = dict(method="grpo", method_version=1, seed=0, backend="embedded", model="tiny", curriculum="none",
              curriculum_stages=1)
    first = rl.write_meta(**kw)
    assert set(first) == META_KEYS
    assert set(first["versions"]) == {"torch", "verl", "transformers", "math_verify", "python"}
    (tmp_path / "meta.json").write_text(json.dumps({**first, "started": "2000-01-01T00:00:00+00:00"}))
    assert rl.write_meta(**kw)["started"] == "2000-01-01T00:00:00+00:00"


def test_truncate_to_step_drops_later_and_partial_lines(tmp_path):
    rl = RunLog(tmp_path)
    for s in range(1, 6):
        rl.append("train.jsonl", {"step": s, "train/acc": s / 10})
    rl.append("token_stats.jsonl", {"step": 5})
    rl.append_many("samples/synth_1.jsonl", [{"eval_step": e, "sample": 0} for e in (0, 2, 4)])
    with open(tmp_path / "train.jsonl", "a") as f:
        f.write('{"step": 6, "train/ac')  # a crash mid-write
    dropped = rl.truncate_to_step(2)
    assert [json.loads(x)["step"] for x in (tmp_path / "train.jsonl").read_text().splitlines()] == [1, 2]
    assert (tmp_path / "token_stats.jsonl").read_text() == ""
    assert [json.loads(x)["eval_step"] for x in (tmp_path / "samples/synth_1.jsonl").read_text().splitlines()] == [0, 2]
    assert dropped["train.jsonl"] == 4 and dropped["samples/synth_1.jsonl"] == 1
    rl.truncate_to_step(0)  # no checkpoint: start over
    assert (tmp_path / "train.jsonl").read_text() == ""


def test_nan_is_written_as_null_and_done_is_complete_json(tmp_path):
    rl = RunLog(tmp_path)
    rl.append("train.jsonl", {"step": 1, "train/kl": float("nan")})
    assert json.loads((tmp_path / "train.jsonl").read_text()) == {"step": 1, "train/kl": None}
    assert not rl.done
    rl.write_done({"steps": 1, "final": {}, "eval": {}})
    assert rl.done and set(json.loads((tmp_path / "DONE").read_text())) == {"finished", "steps", "final", "eval"}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp files left
