"""The packages' layering rules, read from the source (issue 17).

Every ``import`` and ``from ... import`` of every ``.py`` file under ``core/``, ``analysis/`` and
``methods/`` is read with ``ast``, at module level and inside functions (lazy imports) alike, plus
``importlib.import_module("...")`` / ``__import__("...")`` calls with a literal name. Relative
imports are resolved against the file's package. ``from a import b`` counts as importing ``a.b``
(``b`` may be a submodule), so ``from core import verl`` is an import of ``core.verl``.

Each rule is one test case; a failure names the file, the line and the rule broken. Beside the
rules: every module under ``core/`` has a docstring, and no file under ``core/`` or ``analysis/`` is
over ``HARD_CAP`` lines (a warning names those over ``SOFT_CAP``: the style guide's ~400).
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "analysis", "methods")
SOFT_CAP, HARD_CAP = 400, 600


@dataclass(frozen=True)
class Import:
    file: str  # relative to the repository root
    line: int
    target: str  # absolute dotted name


def _module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _resolve(path: Path, level: int, module: str | None, root: Path = ROOT) -> str:
    """The absolute module of ``from <level dots><module> import ...`` in ``path``."""
    if not level:
        return module or ""
    pkg = _module_name(path, root).split(".")
    if path.name != "__init__.py":
        pkg = pkg[:-1]  # a module's relative imports start from its package
    base = pkg[:len(pkg) - (level - 1)] if level > 1 else pkg
    return ".".join(base + ([module] if module else []))


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(root).as_posix()
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [Import(rel, node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = _resolve(path, node.level, node.module, root)
            out += [Import(rel, node.lineno, mod if a.name == "*" else f"{mod}.{a.name}") for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                and isinstance(node.args[0].value, str):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            if name in ("import_module", "__import__"):
                out.append(Import(rel, node.lineno, node.args[0].value))
    return out


@lru_cache(maxsize=None)
def _files(package: str) -> tuple[Path, ...]:
    return tuple(sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts))


def _under(target: str, module: str) -> bool:
    return target == module or target.startswith(module + ".")


@dataclass(frozen=True)
class Rule:
    id: str
    text: str
    where: str  # folder (relative to the root) whose files the rule constrains
    forbidden: tuple[str, ...]  # modules (and their submodules) those files may not import
    allowed: tuple[str, ...] = ()  # exceptions inside a forbidden module

    def broken_by(self, imp: Import) -> bool:
        return any(_under(imp.target, f) for f in self.forbidden) and \
            not any(_under(imp.target, a) for a in self.allowed)


RULES = (
    Rule("a", "nothing under core/, analysis/, methods/ imports sweep", "", ("sweep",)),
    Rule("b", "nothing under core/ imports analysis", "core", ("analysis",)),
    Rule("c", "analysis/ imports no torch, verl, vllm or transformers; from core only core.metrics and "
              "core.runlog (torch-free), from methods only methods.catalog", "analysis",
         ("torch", "verl", "vllm", "transformers", "core", "methods"),
         ("core.metrics", "core.runlog", "methods.catalog")),
    Rule("d", "methods/ imports nothing from core or analysis", "methods", ("core", "analysis")),
    Rule("e", "core/eval/ imports none of core.verl, core.embedded, core.curriculum", "core/eval",
         ("core.verl", "core.embedded", "core.curriculum")),
    Rule("f", "core/curriculum/ imports neither core.verl nor core.embedded", "core/curriculum",
         ("core.verl", "core.embedded")),
    Rule("g", "core/embedded/ imports nothing from core.verl", "core/embedded", ("core.verl",)),
)

# rules knowingly broken, with the reason (none: every rule holds)
PENDING: dict[str, str] = {}


def _rule_files(rule: Rule) -> list[Path]:
    if not rule.where:
        return [p for pkg in PACKAGES for p in _files(pkg)]
    top, *rest = rule.where.split("/")
    folder = ROOT / rule.where
    return [p for p in _files(top) if not rest or folder in p.parents]


def _case(rule: Rule):
    marks = [pytest.mark.xfail(strict=True, reason=PENDING[rule.id])] if rule.id in PENDING else []
    return pytest.param(rule, id=f"rule_{rule.id}", marks=marks)


@pytest.mark.parametrize("rule", [_case(r) for r in RULES])
def test_layering_rule(rule: Rule):
    broken = [imp for p in _rule_files(rule) for imp in imports_of(p) if rule.broken_by(imp)]
    assert not broken, f"layering rule ({rule.id}) broken: {rule.text}\n" + "\n".join(
        f"  {imp.file}:{imp.line}: imports {imp.target}" for imp in broken)


def test_reader_sees_lazy_relative_and_dynamic_imports(tmp_path):
    """A rule that cannot see an import proves nothing: function-level, relative (``from ..verl``,
    ``from . import``) and ``importlib.import_module`` imports are all read, with their lines."""
    pkg = tmp_path / "core" / "eval"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import cli\n")
    (pkg / "cli.py").write_text("import json\n\n\ndef f():\n    from ..verl import backend\n    import sweep\n"
                                "    importlib.import_module('core.embedded.trainer')\n"
                                "    from core.metrics import pass_at_k\n")
    got = {(i.file, i.line, i.target) for p in (pkg / "__init__.py", pkg / "cli.py") for i in imports_of(p, tmp_path)}
    assert got == {("core/eval/__init__.py", 1, "core.eval.cli"), ("core/eval/cli.py", 1, "json"),
                   ("core/eval/cli.py", 5, "core.verl.backend"), ("core/eval/cli.py", 6, "sweep"),
                   ("core/eval/cli.py", 7, "core.embedded.trainer"), ("core/eval/cli.py", 8, "core.metrics.pass_at_k")}
    rule_e = next(r for r in RULES if r.id == "e")
    assert sorted(i.line for i in imports_of(pkg / "cli.py", tmp_path) if rule_e.broken_by(i)) == [5, 7]
    rule_c = next(r for r in RULES if r.id == "c")
    assert not rule_c.broken_by(Import("analysis/x.py", 1, "core.metrics.pass_at_k"))
    assert rule_c.broken_by(Import("analysis/x.py", 1, "core.metricsx"))
    assert rule_c.broken_by(Import("analysis/x.py", 1, "methods.sent"))


def test_core_modules_have_docstrings():
    missing = [p.relative_to(ROOT).as_posix() for p in _files("core")
               if not ast.get_docstring(ast.parse(p.read_text(encoding="utf-8")))]
    assert not missing, ("every module under core/ (package __init__ files included) says what it owns and what "
                         "it may import in its docstring; missing: " + ", ".join(missing))


def test_file_sizes():
    sizes = {p.relative_to(ROOT).as_posix(): sum(1 for _ in open(p, encoding="utf-8"))
             for pkg in ("core", "analysis") for p in _files(pkg)}
    over_soft = sorted(f"{f} ({n})" for f, n in sizes.items() if SOFT_CAP < n <= HARD_CAP)
    if over_soft:
        warnings.warn(f"over ~{SOFT_CAP} lines (split by concern unless one concern needs more): "
                      + ", ".join(over_soft), stacklevel=1)
    over = sorted(f"{f} ({n} lines)" for f, n in sizes.items() if n > HARD_CAP)
    assert not over, f"files over the hard cap of {HARD_CAP} lines: " + ", ".join(over)
