"""Bad inputs refused in-process, each with one clear message (docs/reliability.md names the case
numbers of the probe in /work/shared/notes/reliability-probe.md, copied into that doc)."""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path

import pytest

import sweep
from core.checks import UserError, check_job, check_sweep_overrides
from core.runlog import RunFileError, RunLocked, RunLog, atomic_write, claim_checkpoint_dir, run_lock
from tests.embedded.conftest import smoke


# ---- config checks before anything is written (cases 7, 8, 10, 14, 21, 22, 25, 26) ---------------

def test_the_smoke_config_passes():
    check_job(smoke())
    check_job(smoke("seed=-1"))  # case 6: a negative seed is a valid seed


@pytest.mark.parametrize("override, message", [
    ("seed=1.5", r"seed=1.5 must be an integer"),                                  # case 8
    ("seed=abc", r"seed='abc' must be an integer"),                                # case 7
    ("train.grad_clip=-1", r"train.grad_clip=-1 must be a finite number > 0"),     # case 22
    ("train.grad_clip=0", r"train.grad_clip=0 must be a finite number > 0"),
    ("train.grad_clip=nan", r"train.grad_clip=nan must be a finite number > 0"),
    ("model=qwen3_14b", r"model=qwen3_14b \(Qwen/Qwen3-14B\) is trained only by backend=verl"),  # case 25
    ("data=dapo_math_17k", r"data=dapo_math_17k is trained only by backend=verl"),  # case 26
    ("eval.benchmarks=[synth_9]", r"unknown benchmark 'synth_9' \(did you mean 'synth_8'\?\)"),  # case 10
    ("eval.benchmarks=[]", r"eval.benchmarks=\[\] must be a non-empty list"),
    ("eval.limit=0", r"eval.limit=0 must be an integer >= 1"),                     # case 21
    ("train.weight_decay=-5", r"train.weight_decay=-5 must be a finite number >= 0"),  # case 23
])
def test_check_job_refuses(override, message):
    with pytest.raises(UserError, match=message):
        check_job(smoke(override))


def test_check_job_lists_every_problem_at_once():
    with pytest.raises(UserError) as e:
        check_job(smoke("seed=1.5", "model=qwen3_14b", "train.grad_clip=-1"))
    assert all(s in str(e.value) for s in ("seed=1.5", "model=qwen3_14b", "train.grad_clip=-1"))


@pytest.mark.parametrize("override", ["model=tinyy", "lr=1e-3", "method="])  # cases 9, 24, 13
def test_hydra_refuses_unknown_groups_and_keys(override):
    from tests.embedded.conftest import compose

    with pytest.raises(Exception, match="Could not"):
        compose("preset=smoke", override)


def test_last_method_wins():  # case 17
    assert smoke("method=grpo", "method=sent").method.name == "sent"


@pytest.mark.parametrize("overrides, message", [
    (("method=sent", "method.name=grpo"), "unknown hyperparameter"),                # case 18
    (("eval.every=0",), "eval.every and eval.max_new_tokens must be >= 1"),          # case 20
])
def test_trainer_validation_before_the_run_directory(tmp_path, overrides, message):
    from core.embedded import trainer

    with pytest.raises(ValueError, match=message):
        trainer.run(smoke(*overrides), tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_verl_without_vllm_names_the_fix(tmp_path):  # case 16
    vb = pytest.importorskip("core.verl.backend")
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here")
    from tests.cluster.conftest import make_cfg

    with pytest.raises(ModuleNotFoundError, match="backend=verl needs vllm .*backend.dry_run=true"):
        vb.run(make_cfg(runs_root=str(tmp_path)), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_trainer_refuses_a_bad_grad_clip_without_sweep(tmp_path):
    from core.embedded import trainer

    with pytest.raises(ValueError, match="grad_clip=-1.0 must be a finite number > 0"):
        trainer.run(smoke("train.grad_clip=-1.0"), tmp_path / "r")
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("arg", ["seed=range(0,0)", "seed=range(3,1)", "seed=range(0,10,-1)"])
def test_empty_grid_is_refused(arg):
    with pytest.raises(UserError, match="expands to no value: the sweep would launch 0 jobs"):
        check_sweep_overrides(["-m", arg, "preset=smoke"])


def test_nonempty_grid_passes():
    check_sweep_overrides(["-m", "seed=range(0,2)", "method=grpo,sent", "preset=smoke"])


# ---- canonical run names (case 30) --------------------------------------------------------------

@pytest.mark.parametrize("a, b", [
    (["train.lr=1e-4"], ["train.lr=0.0001"]),
    (["train.lr=1E-4"], ["train.lr=0.0001"]),
    (["eval.k=[1, 8]"], ["eval.k=[1,8]"]),
    (["+method.low_entropy_frac=.5"], ["method.low_entropy_frac=0.5"]),
    (["sweep_name='x'", "method='sent'"], ["method=sent"]),
])
def test_run_names_are_canonical(a, b):
    assert sweep.run_name(a) == sweep.run_name(b)


def test_run_name_of_a_multirun_job_equals_the_single_run():
    """Hydra's sweeper writes a job's override as ``train.lr=0.0001``; the single run typed ``1e-4``."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    ov = OverridesParser.create().parse_override("train.lr=1e-4,2e-4")
    job_overrides = [f"train.lr={v}" for v in ov.sweep_string_iterator()]
    assert sweep.run_name(job_overrides[:1]) == sweep.run_name(["train.lr=1e-4"]) == "train.lr=0.0001"


# ---- run files: atomic writes, disk full, lock, step gaps (cases 51, 52, 54, 55) ----------------

def test_atomic_write_replaces_whole_and_leaves_no_temp(tmp_path):
    p = tmp_path / "d" / "f.json"
    atomic_write(p, "one\n")
    atomic_write(p, b"two\n")
    assert p.read_text() == "two\n" and sorted(os.listdir(p.parent)) == ["f.json"]


def test_disk_full_is_a_clear_error_and_keeps_the_old_file(tmp_path, monkeypatch):
    p = tmp_path / "f.json"
    atomic_write(p, "old\n")

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(RunFileError, match=f"cannot write f.json in {tmp_path}: the disk is full"):
        atomic_write(p, "new\n")
    monkeypatch.undo()
    assert p.read_text() == "old\n" and sorted(os.listdir(tmp_path)) == ["f.json"]


def test_short_append_is_cut_back_and_reported(tmp_path, monkeypatch):
    rl = RunLog(tmp_path)
    rl.append("train.jsonl", {"step": 1})
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, data[:5]))  # the disk fills mid-line
    with pytest.raises(RunFileError, match="cannot append to train.jsonl"):
        rl.append("train.jsonl", {"step": 2, "train/acc": 0.5})
    monkeypatch.undo()
    assert (tmp_path / "train.jsonl").read_text() == '{"step":1}\n'  # no partial line left


def test_lock_excludes_a_second_owner_and_is_released(tmp_path):
    lock = tmp_path / ".locks" / "r.lock"
    with run_lock(lock, what="run r"):
        with pytest.raises(RunLocked, match=r"run r is being written by another process \(.*pid=\d+"):
            with run_lock(lock, what="run r"):
                pass
    with run_lock(lock):  # released at the end of the block
        pass


def _steps_log(tmp_path: Path, steps, extra: str = "") -> RunLog:
    rl = RunLog(tmp_path)
    for s in steps:
        rl.append("train.jsonl", {"step": s})
    if extra:
        with open(tmp_path / "train.jsonl", "a") as f:
            f.write(extra)
    return rl


def test_check_steps_accepts_a_complete_log(tmp_path):
    _steps_log(tmp_path, range(1, 5)).check_steps(4)
    RunLog(tmp_path / "empty").check_steps(0)


@pytest.mark.parametrize("steps, extra, upto, message", [
    ([1, 2, 3, 4, 9, 10], "", 10, "missing steps 5-8"),
    ([1, 2, 3], "", 4, "missing steps 4"),
    ([1, 2, 2, 3], "", 3, "repeated steps 2"),
    ([1, 2], "garbage\n", 2, "1 unreadable line"),
])
def test_check_steps_refuses_a_damaged_log(tmp_path, steps, extra, upto, message):
    with pytest.raises(RunFileError, match=f"{message}.*Delete the run directory"):
        _steps_log(tmp_path, steps, extra).check_steps(upto)


# ---- verl resume refusal (the check runs before launch) -----------------------------------------

def test_checkpoint_dir_claim(tmp_path):
    d = tmp_path / "ckpt"
    claim_checkpoint_dir(d, "aaa")  # absent: claimed
    assert (d / "RUN_ID").read_text().strip() == "aaa"
    (d / "global_step_1").mkdir()
    claim_checkpoint_dir(d, "aaa")  # ours: fine
    with pytest.raises(RunFileError, match="created by run id 'aaa', not by this run \\('bbb'\\)"):
        claim_checkpoint_dir(d, "bbb")
    foreign = tmp_path / "foreign"
    (foreign / "global_step_5").mkdir(parents=True)
    with pytest.raises(RunFileError, match="holds 1 entries but no RUN_ID"):
        claim_checkpoint_dir(foreign, "aaa")


def test_verl_run_refuses_a_checkpoint_folder_it_did_not_create(tmp_path, monkeypatch):
    vb = pytest.importorskip("core.verl.backend")
    from tests.cluster.conftest import make_cfg

    cfg = make_cfg(runs_root=str(tmp_path))
    run_dir = tmp_path / "run"
    planted = run_dir / "checkpoints" / "stage1" / "global_step_50"
    planted.mkdir(parents=True)  # someone else's checkpoint, handed over
    launched = []
    monkeypatch.setattr(vb, "_require_gpu_stack", lambda: None)
    monkeypatch.setattr(vb, "_train_stage", lambda sp, offset: launched.append(sp) or 0)
    monkeypatch.setattr(vb, "_gpu_versions", lambda: {})
    with pytest.raises(RunFileError, match="refusing to resume from .*stage1.*no RUN_ID"):
        vb.run(cfg, run_dir)
    assert launched == []  # verl was never started on it


# ---- data files (cases 32, 34, 35) ---------------------------------------------------------------

GOOD = '{"id": "1", "problem": "1+1?", "answer": "2"}\n'


@pytest.mark.parametrize("content, message", [
    (GOOD.encode() + b'{"id": "2", "prob', r":2: not a JSON line"),                 # truncated mid-line
    (GOOD.encode() + b'{"id": "2", "problem": "\xff\xfe", "answer": "1"}\n', r":2: not UTF-8 text"),
    (GOOD.encode() * 5 + b"garbage\n", r":6: not a JSON line"),
    (GOOD.encode() + b"[1, 2]\n", r":2: expected a JSON object"),
    (b'{"id": "1", "problem": "1+1?"}\n', r":1: missing field 'answer'"),              # case 33
])
def test_benchmark_file_errors_name_the_file_and_line(tmp_path, content, message):
    from core.eval.benchmarks import load_jsonl_problems

    path = tmp_path / "test.normalized.jsonl"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=f"{path}{message}"):
        load_jsonl_problems(path, "x")


# ---- evaluate CLI (cases 45, 46, 60-like --out) --------------------------------------------------

@pytest.mark.parametrize("args, message", [
    (["--benchmarks", ","], "--benchmarks: no benchmark key given"),
    (["--temperature", "-1"], "--temperature -1.0 must be a finite number >= 0"),
    (["--top-p", "5"], "--top-p 5.0 must be in (0, 1]"),
    (["--top-p", "0"], "--top-p 0.0 must be in (0, 1]"),
    (["--max-new-tokens", "-3"], "--max-new-tokens -3 must be >= 1"),
    (["--n", "0"], "--n must be >= 1"),                                            # case 44
])
def test_evaluate_refuses_bad_settings(tmp_path, capsys, args, message):
    from core.eval.cli import main

    with pytest.raises(SystemExit) as e:
        main(["--model", "/no/such", "--out", str(tmp_path / "o"), "--dry-run", *args])
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_evaluate_dry_run_warns_about_a_missing_model_path(tmp_path, capsys):  # case 41
    from core.eval.cli import main

    assert main(["--model", str(tmp_path / "no_such"), "--out", str(tmp_path / "o"), "--dry-run",
                 "--benchmarks", "synth_1", "--n", "1", "--k", "1"]) == 0
    assert "WARNING: no such local path" in capsys.readouterr().out


def test_evaluate_out_must_not_be_a_file(tmp_path, capsys):
    from core.eval.cli import main

    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(SystemExit):
        main(["--model", "/no/such", "--out", str(f), "--dry-run"])
    assert "is an existing file; give a directory" in capsys.readouterr().err


def test_analysis_out_must_not_be_a_file(tmp_path, capsys):
    from analysis.cli import main

    f = tmp_path / "file"
    f.write_text("x")
    (tmp_path / "runs").mkdir()
    assert main([str(tmp_path / "runs"), "--out", str(f)]) == 2
    assert "is an existing file; give a directory" in capsys.readouterr().err
    assert f.read_text() == "x"


# ---- semantic-entropy scores (cases 39, 40) -------------------------------------------------------

@pytest.mark.parametrize("se, m, ok", [(0.0, 8, True), (math.log(8), 8, True), (-5.0, 8, False),
                                       (99.0, 8, False), (2.1, 8, False), ("NaN-ish", 8, False),
                                       (float("nan"), 8, False), (3.0, -1, True), (True, 8, False)])
def test_se_range(se, m, ok):
    from core.curriculum.entropy import _se_problem

    assert (_se_problem(se, m) is None) == ok


@pytest.mark.parametrize("row, message", [
    ("garbage", "expected a JSON object with 'id' and 'semantic_entropy'"),       # case 37
    ({"id": "a", "semantic_entropy": "NaN-ish", "m": 8}, "is not a finite number"),
    ({"id": "a", "semantic_entropy": 99.0, "m": 8}, r"outside \[0, ln m = 2.0794\]"),
    ({"id": "a", "semantic_entropy": -5.0}, r"outside \[0, ln m = inf\]"),
])
def test_scores_file_out_of_range_names_file_and_line(tmp_path, row, message):
    from core.curriculum import CacheMissingError, read_semantic_entropy_jsonl

    path = tmp_path / "semantic_entropy.jsonl"
    line = row if isinstance(row, str) else json.dumps(row)
    path.write_text(json.dumps({"id": "b", "semantic_entropy": 1.0, "m": 8}) + "\n" + line + "\n")
    with pytest.raises(CacheMissingError, match=f"{path}:2: .*{message}"):
        read_semantic_entropy_jsonl(path)


def test_cache_row_out_of_range_is_treated_as_corrupt(tmp_path):
    from core.curriculum import CacheMissingError
    from core.curriculum.scoring import _read_cache

    head = {"kind": "k"}
    path = tmp_path / "scores.jsonl"
    path.write_text(json.dumps({**head, "count": 2}) + "\n" + json.dumps({"id": "a", "semantic_entropy": 1.0, "m": 8})
                    + "\n" + json.dumps({"id": "b", "semantic_entropy": 99.0, "m": 8}) + "\n")
    with pytest.raises(CacheMissingError, match=r"scores.jsonl:3: semantic_entropy=99.0 is outside"):
        _read_cache(path, head, ["a", "b"])


# ---- analysis flags step gaps (case 52) -----------------------------------------------------------

def test_analysis_flags_a_step_gap(tmp_path):
    from analysis.load import load_runs

    def make(name, steps, done_steps):
        rl = RunLog(tmp_path / "sw" / name)
        rl.write_meta(method="grpo", method_version=1, seed=0, backend="embedded", model="tiny", curriculum="none",
                      curriculum_stages=1)
        for s in steps:
            rl.append("train.jsonl", {"step": s, "train/acc": 0.5})
        rl.write_done({"steps": done_steps, "final": {}, "eval": {}})

    make("gap", [1, 2, 3, 4, 9, 10, 11, 12], 12)
    make("lost_last", [1, 2, 3], 4)
    make("whole", [1, 2, 3, 4], 4)
    runs = load_runs(tmp_path)
    msgs = {i.run.split("/")[-1]: i.message for i in runs.issues if "step gap" in i.message}
    assert "4 of steps 1..12 missing (5-8)" in msgs["sw/gap".split("/")[-1]]
    assert "1 of steps 1..4 missing (4)" in msgs["lost_last"]
    assert "whole" not in msgs


# ---- math-verify's LaTeX parser on hydra's antlr4 ------------------------------------------------

def test_math_verify_latex_parser_works_with_hydras_antlr():
    from importlib.metadata import version

    import sympy
    from math_verify import parse, verify

    assert version("antlr4-python3-runtime").startswith("4.9.")  # what hydra-core 1.3 pins
    gold = parse(r"$\frac{3}{4} + \sqrt{4}$")
    assert any(isinstance(x, sympy.Basic) and sympy.simplify(x - sympy.Rational(11, 4)) == 0 for x in gold)
    assert verify(gold, parse(r"$\boxed{2.75}$"))
    assert not verify(gold, parse(r"$\boxed{3}$"))


def test_evaluate_unloadable_model_is_one_line(tmp_path, capsys):
    """Case 47: the embedded backend with a model path that does not exist."""
    from core.eval.cli import main

    rc = main(["--backend", "embedded", "--model", str(tmp_path / "no_such"), "--benchmarks", "synth_1",
               "--out", str(tmp_path / "o"), "--n", "1", "--k", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and f"error: cannot load an embedded model from {tmp_path / 'no_such'}" in err
    assert "Traceback" not in err and not (tmp_path / "o").exists()
