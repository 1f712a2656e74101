"""``python -m core.eval --backend embedded`` on the shipped base model: the synthetic benchmarks
evaluate with the embedded prompt, and a benchmark the toy tokenizer cannot encode is one clear error
before anything is generated or written."""

from __future__ import annotations

import json
from pathlib import Path

from core.eval.cli import main

SHIPPED = Path(__file__).resolve().parents[2] / "data" / "models" / "tiny"


def test_synth_benchmark_from_the_shipped_model_folder(tmp_path, capsys):
    out = tmp_path / "ev"
    rc = main(["--backend", "embedded", "--model", str(SHIPPED), "--benchmarks", "synth_1", "--limit", "4",
               "--n", "2", "--out", str(out), "--no-progress"])
    assert rc == 0, capsys.readouterr().err
    rows = [json.loads(line) for line in (out / "samples" / "synth_1.jsonl").read_text().splitlines()]
    assert len(rows) == 8 and {r["sample"] for r in rows} == {0, 1}
    assert all(r["length"] > 0 for r in rows)
    assert any(r["answer"] for r in rows)  # the embedded prompt, not the math instruction, reached the model


def test_code_benchmark_on_the_embedded_model_is_one_line(tmp_path, capsys):
    out = tmp_path / "ev"
    rc = main(["--backend", "embedded", "--model", str(SHIPPED), "--benchmarks", "humaneval", "--limit", "1",
               "--n", "1", "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("error:") == 1 and "Traceback" not in err
    assert "synth_1..synth_6 only" in err and "--backend vllm" in err
    assert not list(out.glob("samples/*.jsonl"))
