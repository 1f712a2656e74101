"""No registered method name in core/ or analysis/ code (issue 17): what a trainer, a report or a figure
needs from a method is an attribute of its class (``LossMethod.uses_covariance``, ``selection_metrics``,
``paper_order``, ``color``, ``baseline``, ``scale_rules``, ...), read through the registry or the
torch-free ``methods/catalog.py``. Read from the source: every string constant of every ``.py`` file
under ``core/`` and ``analysis/`` (docstrings and comments excluded) is compared with the registry's
names, so a new method needs no edit outside ``methods/``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import methods

REPO = Path(__file__).resolve().parents[2]

_PAPER = ("reproduces the paper's tables, figures or claims, which name their columns, panels and "
          "comparisons by method (a paper artefact, not a property of the method)")

#: (file, name) pairs that genuinely stay, each with why
ALLOWED: dict[tuple[str, str], str] = {
    **{("analysis/paper.py", n): _PAPER for n in ("grpo", "en", "adv", "mask", "clip", "cov", "high_en", "sent",
                                                   "low", "low_cov")},
    **{("analysis/fig_curves.py", n): _PAPER + " (the methods each figure of the paper draws)"
       for n in ("grpo", "en", "mask", "sent", "low", "low_cov")},
    **{("analysis/fig_passk.py", n): _PAPER + " (Fig. 3 draws GRPO and SENT)" for n in ("grpo", "sent")},
    ("analysis/cells.py", "sent"): _PAPER + "; Table VII's default arm is SENT's own setting",
    ("analysis/select.py", "grpo"): _PAPER + "; Table IX's 'w/ Cur' column is GRPO with the curriculum",
    ("analysis/select.py", "sent"): _PAPER + "; Tables VI/VII vary SENT's stages and hyperparameters",
    ("analysis/select.py", "low_cov"): _PAPER + "; Table VI's 'No Curriculum' row is low_cov",
    ("analysis/fig_tokens.py", "low"): "the token set kind 'low' (token_stats.jsonl's low_entropy_tokens), not a method",
    ("analysis/load.py", "low"): "the token set kind 'low' (token_stats.jsonl's low_entropy_tokens), not a method",
    ("analysis/load.py", "cov"): "the histogram kind 'cov' (token_stats.jsonl's cov_hist), not a method",
    ("core/verl/config.py", "grpo"): "verl's algorithm.adv_estimator value (verl's GRPO advantage estimator, which "
                                     "every method trains with: SENT §V-A), not the harness method",
    ("core/verl/plugin.py", "mask"): "the key of the response-mask tensor in a selection dump, not a method",
    ("core/verl/plugin.py", "grpo"): "HarnessPolicyLossConfig.method's dataclass default: verl instantiates its "
                                     "policy-loss config from YAML before the harness sets the method",
}


def _constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def _hits() -> dict[tuple[str, str], list[int]]:
    names = set(methods.method_names())
    out: dict[tuple[str, str], list[int]] = {}
    for top in ("core", "analysis"):
        for path in sorted((REPO / top).rglob("*.py")):
            rel = path.relative_to(REPO).as_posix()
            for line, value in _constants(path):
                if value in names:
                    out.setdefault((rel, value), []).append(line)
    return out


def test_no_method_name_in_core_or_analysis():
    bad = {k: v for k, v in _hits().items() if k not in ALLOWED}
    assert not bad, ("method names in core/ or analysis/ code (make it an attribute of the method class, "
                     "read through the registry or methods/catalog.py): " +
                     "; ".join(f"{f}:{lines} {name!r}" for (f, name), lines in sorted(bad.items())))


def test_the_allow_list_has_no_stale_entry():
    hits = _hits()
    stale = sorted(k for k in ALLOWED if k not in hits)
    assert not stale, f"allowed but no longer present (remove them from ALLOWED): {stale}"


def test_the_scan_sees_a_name_and_skips_docstrings(tmp_path):
    f = tmp_path / "m.py"
    f.write_text('"""grpo in a docstring"""\n# sent in a comment\ndef f():\n    """en"""\n    return "mask"\n')
    assert [v for _, v in _constants(f)] == ["mask"]
