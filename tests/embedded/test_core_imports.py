"""core/ imports neither the entry point (``sweep.py``) nor ``analysis/`` (issue 17): read from the source,
every ``import`` / ``from ... import`` of every module under ``core/``, at any depth (lazy imports too)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FORBIDDEN = ("sweep", "analysis")


def _imports(path: Path) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
    return out


def test_core_imports_neither_sweep_nor_analysis():
    bad = [f"{p.relative_to(REPO)}:{line} imports {mod}" for p in sorted((REPO / "core").rglob("*.py"))
           for line, mod in _imports(p) if mod.split(".")[0] in FORBIDDEN]
    assert not bad, "; ".join(bad)
