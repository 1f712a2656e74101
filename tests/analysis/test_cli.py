"""``python -m analysis`` end to end in a fresh interpreter, on a small damaged runs directory."""

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analysis.cli import main
from analysis.paper import REFERENCE_DIR, TABLES
from analysis.registry import REGISTRY

from .conftest import one_problem_runs, train_lines

ROOT = Path(__file__).resolve().parents[2]

# runs the CLI in-process via runpy, then reports which heavy modules got imported
PROBE = """
import json, runpy, sys
sys.argv = ["analysis", *json.loads(sys.argv[1])]
code = 0
try:
    runpy.run_module("analysis", run_name="__main__")
except SystemExit as e:
    code = e.code
print("MODULES=" + json.dumps(sorted({m.split(".")[0] for m in sys.modules} & {"torch", "verl", "transformers"})))
sys.exit(code)
"""


def run_cli(*args):
    return subprocess.run([sys.executable, "-c", PROBE, json.dumps([str(a) for a in args])], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    runs = root / "runs"
    tok = [{"step": 1, "stage": 1, "entropy_hist": {"edges": [0, 0.5, 1.0, 2.0], "counts": [50, 30, 20]},
            "low_entropy_tokens": {"the": 9, "=": 4}, "high_entropy_tokens": {"wait": 3, "so": 2}}]
    for seed in (0, 1):
        for method, c in (("grpo", 1), ("en", 2), ("mask", 3)):
            one_problem_runs(runs, method, seed, {0: 1, 5: c}, train=train_lines(5), token_stats=tok)
        one_problem_runs(runs, "sent", seed, {0: 1, 5: 4}, train=train_lines(5, slope=0.01, stage_at=3),
                         token_stats=tok, semantic_entropy=[{"id": f"q{i}", "semantic_entropy": 0.1 * i,
                                                             "variant": "exact", "num_clusters": 2, "stage": 1}
                                                            for i in range(20)])
    # damage: a truncated line, an incomplete run, an old schema, an unknown key
    f = runs / "s" / "method=grpo,seed=0" / "samples" / "synth_2.jsonl"
    f.write_text(f.read_text() + '{"eval_step": 5, "prob')
    one_problem_runs(runs, "grpo", 7, {0: 1, 5: 1}, done=False)
    one_problem_runs(runs, "grpo", 8, {0: 1}, schema_version=0)
    one_problem_runs(runs, "grpo", 9, {0: 1, 5: 1}, meta_extra={"from_the_future": True})
    out = root / "paper_figs"
    res = run_cli(runs, "--out", out, "--quiet", "--see-also", "discriminating preset=../pf_disc/index.md")
    return runs, out, res


def test_exits_cleanly_without_torch_or_verl(build):
    _, _, res = build
    assert res.returncode == 0, res.stderr[-3000:] + res.stdout[-3000:]
    assert "MODULES=[]" in res.stdout


def test_every_table_is_written_or_reported_missing(build):
    _, out, res = build
    index = (out / "index.md").read_text()
    for name, spec in TABLES.items():
        assert (out / "tables" / f"{name}_vs_paper.md").exists()
        assert f"Table {spec.roman}:" in index
        if name in ("table03_7b", "table04_14b", "table08_livecodebench", "table12_openpangu"):
            assert not (out / "tables" / f"{name}.csv").exists()
            assert "— missing" in index.split(f"Table {spec.roman}:")[1].split("\n")[0]
            continue
        for ext in ("md", "tex", "csv"):
            assert (out / "tables" / f"{name}.{ext}").exists(), (name, ext)
        ours = pd.read_csv(out / "tables" / f"{name}.csv", nrows=1)
        paper = pd.read_csv(REFERENCE_DIR / f"{name}.csv", nrows=1)
        assert list(ours.columns) == list(paper.columns), name


def test_heldout_table_absent_without_extra_benchmarks(build):
    """No run has a benchmark outside the paper's: no embedded_heldout file and no entry anywhere."""
    _, out, res = build
    assert not list((out / "tables").glob("embedded_heldout*"))
    for text in ((out / "index.md").read_text(), (out / "summary.md").read_text(), res.stdout):
        assert "embedded_heldout" not in text


def test_figures_drawn_or_reported_missing(build):
    _, out, _ = build
    index = (out / "index.md").read_text()
    figs = [b for b in REGISTRY.values() if b.kind == "figure"]
    for b in figs:
        assert f"### {b.name} — " in index
    for name in ("fig1_entropy_pass32", "fig3_passk_avgk_vs_k", "fig4_entropy_1p5b", "fig5_avg32_pass32_mask_sent",
                 "fig7_entropy_distributions", "fig8_low_high_entropy_tokens", "fig11_entropy_curriculum_7b"):
        for ext in ("png", "pdf"):
            assert (out / "figures" / f"{name}.{ext}").stat().st_size > 1000, name
    for name in ("fig6_avg32_pass32_7b", "fig9_avg32_pass32_low_lowcov", "fig12_14b_entropy_pass16_avg16"):
        assert not list((out / "figures").glob(f"{name}.*"))
        assert f"### {name} — missing" in index


def test_claims_are_written_and_linked(build):
    _, out, _ = build
    index = (out / "index.md").read_text()
    assert "[claims.md](claims.md)" in index and "## The paper's claims — " in index
    md = (out / "claims.md").read_text()
    assert "## Verdicts" in md and "Kendall" in md
    df = pd.read_csv(out / "claims.csv")
    assert {"claim_id", "verdict", "lo", "hi"} <= set(df.columns) and len(df) > 0
    assert (out / "claims_rank_agreement.csv").exists()


def test_problems_are_summarised_and_printed(build):
    _, out, res = build
    summary = (out / "summary.md").read_text()
    for needle in ("truncated last line", "no DONE", "schema_version 0 is older", "from_the_future",
                   "Runs skipped: 1"):
        assert needle in summary and needle in res.stdout, needle


def test_index_names_command_and_commits(build):
    _, out, _ = build
    index = (out / "index.md").read_text()
    assert "Command: `python -m analysis" in index
    assert "0123456789abcdef0123456789abcdef01234567" in index  # the runs' git_sha
    assert "Analysis code: `" in index


def test_see_also_links_a_related_analysis(build, tmp_path, capsys):
    runs, out, _ = build
    assert "- See also: [discriminating preset](../pf_disc/index.md)" in (out / "index.md").read_text()
    assert main([str(runs), "--out", str(tmp_path / "x"), "--see-also", "no-path"]) == 2
    assert "give LABEL=PATH" in capsys.readouterr().err


def test_reference_and_check_report_are_copied(build):
    _, out, _ = build
    ref = out / "reference"
    assert sorted(p.name for p in ref.glob("*.csv")) == sorted(p.name for p in REFERENCE_DIR.glob("*.csv"))
    assert "does not recompute" in (ref / "check_report.md").read_text()


def test_bad_runs_dir_is_an_error_and_leaves_outputs_alone(build, tmp_path, capsys):
    _, out, _ = build
    before = (out / "index.md").read_text()
    assert main([str(tmp_path / "nope"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([str(empty), "--out", str(out), "--quiet"]) == 2
    assert "no usable runs" in capsys.readouterr().err
    assert (out / "index.md").read_text() == before


def test_only_rebuilds_one_table(build, tmp_path, capsys):
    runs, _, _ = build
    out = tmp_path / "pf"
    assert main([str(runs), "--out", str(out), "--only", "table09_ablation", "--quiet"]) == 0
    assert {p.name.split(".")[0].split("_vs")[0].replace("_stats", "") for p in (out / "tables").iterdir()} == {
        "table09_ablation"}
    assert not (out / "index.md").exists()
    assert main([str(runs), "--out", str(out), "--only", "table9"]) == 2
    assert "Did you mean" in capsys.readouterr().err


def test_reference_only_needs_no_runs(tmp_path):
    out = tmp_path / "pf"
    assert main(["--reference-only", "--out", str(out)]) == 0
    assert (out / "reference" / "check_report.md").exists()
    assert len(list((out / "reference").glob("table*.csv"))) == 12
    assert not (out / "tables").exists()
