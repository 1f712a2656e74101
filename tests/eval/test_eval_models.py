"""Evaluation-only model configs (OpenPangu-Embedded-1B-v1.1, Table XII) in python -m core.eval."""

from __future__ import annotations

import json

import pytest

from core.eval import cli
from core.eval.models import EVAL_MODELS, eval_model_for_id, get_eval_model

PANGU = "openpangu_embedded_1b_v1p1"


def test_openpangu_config():
    m = get_eval_model(PANGU)
    assert m.hf_id == "openpangu/openPangu-Embedded-1B-V1.1" and m.contestant == "openpangu"
    assert m.gen_args["trust_remote_code"] is True and m.gen_args["max_model_len"] == 32768
    assert eval_model_for_id("OpenPangu/openpangu-embedded-1b-v1.1/") is m  # case, trailing slash
    assert eval_model_for_id("deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B") is None
    from analysis.paper import METHOD_LABEL, MODEL_LABEL, TABLES

    assert METHOD_LABEL[m.contestant] == "OpenPangu-1B" and MODEL_LABEL[m.key] == "OpenPangu-embedded-1B-v1.1"
    assert dict(TABLES["table12_openpangu"].arm_models)["openpangu"] == m.key
    assert set(EVAL_MODELS) == {PANGU}


def test_unknown_config_is_a_clear_error(capsys):
    with pytest.raises(SystemExit):
        cli.main(["--model", "m", "--out", "o", "--model-config", "openpangu_1b", "--dry-run"])
    err = capsys.readouterr().err
    assert "unknown evaluation model config 'openpangu_1b'" in err and PANGU in err


def test_dry_run_plans_the_table_xii_run_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "openpangu,seed=0"
    rc = cli.main(["--model", "/models/pangu", "--model-config", PANGU, "--n", "16", "--k", "1,8,16",
                   "--out", str(out), "--dry-run"])
    assert rc == 0 and not out.exists()
    text = capsys.readouterr().out
    assert "trust_remote_code=True" in text and "max_model_len=32768" in text
    assert "n=16" in text and "k=[1, 8, 16]" in text
    assert f"meta.json (method=openpangu, model={PANGU}, seed=0)" in text
    for b in ("aime24", "aime25", "amc23", "math500", "olympiadbench", "minerva"):
        assert f"  {b} " in text


def test_gen_arg_overrides_the_config(tmp_path, capsys):
    rc = cli.main(["--model", "openpangu/openPangu-Embedded-1B-V1.1", "--gen-arg", "max_model_len=16384",
                   "--out", str(tmp_path / "o"), "--dry-run", "--benchmarks", "amc23"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "max_model_len=16384" in text and "model config: openpangu_embedded_1b_v1p1" in text


class _BoxedZero:
    """A generator that answers ``\\boxed{0}`` (3 tokens) to every prompt."""

    tokenizer = None

    def __init__(self, model_path, **kw):
        pass

    def generate(self, prompts, n, **kw):
        from core.eval.generation import Generation

        return [[Generation("\\boxed{0}", 3) for _ in range(n)] for _ in prompts]


def _register_boxed_zero() -> None:
    """Register :class:`_BoxedZero` as the ``boxed_zero`` backend (once per process)."""
    from core.eval.generation import register_generator

    try:
        register_generator("boxed_zero", _BoxedZero)
    except ValueError:  # already registered by an earlier test
        pass


def test_plain_models_get_no_run_folder(tmp_path):
    _register_boxed_zero()
    out = tmp_path / "o"
    assert cli.main(["--model", "m", "--backend", "boxed_zero", "--benchmarks", "amc23", "--limit", "1", "--n", "2",
                     "--out", str(out), "--no-progress"]) == 0
    assert (out / "eval_summary.json").exists() and not (out / "meta.json").exists()
    out2 = tmp_path / "p"
    assert cli.main(["--model", "m", "--backend", "boxed_zero", "--benchmarks", "amc23", "--limit", "1", "--n", "2",
                     "--model-config", PANGU, "--seed", "3", "--out", str(out2), "--no-progress"]) == 0
    meta = json.loads((out2 / "meta.json").read_text())
    assert meta["method"] == "openpangu" and meta["model"] == PANGU and meta["seed"] == 3 and meta["schema_version"] == 1
    done = json.loads((out2 / "DONE").read_text())
    assert done["eval"]["amc23"]["avg@1"] == 0.0


def test_adding_a_benchmark_to_a_run_keeps_the_step_summary(tmp_path):
    """Table VIII: LiveCodeBench evaluated into a training run's folder at its final step keeps
    that step's math summary in eval_summary.json."""
    _register_boxed_zero()
    common = ["--model", "m", "--backend", "boxed_zero", "--limit", "1", "--n", "2", "--eval-step", "300",
              "--out", str(tmp_path), "--no-progress"]
    assert cli.main(common + ["--benchmarks", "amc23"]) == 0
    assert cli.main(common + ["--benchmarks", "humaneval"]) == 0
    step = json.loads((tmp_path / "eval_summary.json").read_text())["300"]
    assert set(step["summary"]) == {"amc23", "humaneval"}
    assert step["settings"]["benchmarks"] == ["humaneval"]
    assert step["earlier_settings"][0]["benchmarks"] == ["amc23"]
