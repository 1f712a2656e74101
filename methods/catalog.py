"""Method metadata without importing torch: each registered method's name, label and flags, read from
the method files' source.

``analysis/`` needs the methods' printed labels and properties but must import neither torch nor
verl, and importing the ``methods`` package imports torch (every method file does). This module uses
only the standard library: it parses every ``methods/*.py`` with ``ast``, finds the classes decorated
with ``@register``, and resolves their literal class attributes (``name``, ``label``, ``paper``,
``default_curriculum``, ``needs_ref``, ``needs_entropy``, ``version``) through their base classes in
this package, ``LossMethod``'s defaults included. A new method file is picked up with no list to edit.

Load it without running ``methods/__init__.py`` (which would import torch)::

    spec = importlib.util.spec_from_file_location("methods_catalog", <methods dir>/catalog.py)

(``analysis.paper.method_catalog`` does this). ``tests/methods/test_catalog.py`` checks that the
catalog equals the imported registry's class attributes for every method.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ATTRS = ("name", "label", "paper", "default_curriculum", "needs_ref", "needs_entropy", "version", "uses_covariance",
         "selection_metrics", "paper_order", "color", "baseline")
SKIP = {"__init__", "__main__", "catalog"}


@dataclass(frozen=True)
class MethodInfo:
    name: str
    label: str  # as tables and figures print it; ``LossMethod.label`` or ``default_label``
    paper: str
    default_curriculum: str
    needs_ref: bool
    needs_entropy: bool
    version: int
    module: str
    uses_covariance: bool = False
    selection_metrics: tuple[str, ...] = ()
    paper_order: int | None = None  # its row in the paper's tables (SENT Table I); None: not a paper row
    color: str = ""  # its fixed colour in figures ("": the figure palette's)
    baseline: bool = False  # the method every other is compared with (GRPO)
    defaults: dict = field(default_factory=dict)  # its hyperparameters' paper defaults ({field: value})

    def sort_key(self) -> tuple:
        """The paper's row order, then the other methods by name."""
        return (self.paper_order if self.paper_order is not None else float("inf"), self.name)


def default_label(name: str) -> str:
    """The label of a method that sets none: ``w/ <name>`` (the paper's style, e.g. "w/ En")."""
    return f"w/ {name}"


def _classes(path: Path) -> dict[str, dict]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = {}
    for node in tree.body:
        if not isinstance(node, ast.ClassDef):
            continue
        attrs, fields = {}, {}
        for st in node.body:
            target = value = None
            if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                target, value = st.targets[0].id, st.value
            elif isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name) and st.value is not None:
                target, value = st.target.id, st.value
            if target == "params_cls" and isinstance(value, ast.Name):
                attrs[target] = value.id  # resolved to its class's field defaults below
            elif isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "hp" \
                    and value.args:  # a hyperparameter field: hp(default, source, doc, ...)
                fields[target] = ast.literal_eval(value.args[0])
            elif target in ATTRS:
                try:
                    attrs[target] = ast.literal_eval(value)
                except ValueError:
                    attrs[target] = _NonLiteral(ast.unparse(value))
        bases = [b.id if isinstance(b, ast.Name) else b.attr for b in node.bases
                 if isinstance(b, (ast.Name, ast.Attribute))]
        registered = any((isinstance(d, ast.Name) and d.id == "register")
                         or (isinstance(d, ast.Attribute) and d.attr == "register") for d in node.decorator_list)
        out[node.name] = {"bases": bases, "attrs": attrs, "fields": fields, "registered": registered,
                          "module": path.stem}
    return out


@dataclass(frozen=True)
class _NonLiteral:
    source: str


def catalog(directory: Path | str = HERE) -> dict[str, MethodInfo]:
    """``{name: MethodInfo}`` of every ``@register``-ed class under ``directory``."""
    classes: dict[str, dict] = {}
    for path in sorted(Path(directory).glob("*.py")):
        if path.stem in SKIP:
            continue
        for cname, info in _classes(path).items():
            classes.setdefault(cname, info)  # the first definition by file name wins (as an import would not)

    def resolve(cname: str, seen=(), part: str = "attrs") -> dict:
        info = classes.get(cname)
        if info is None or cname in seen:
            return {}
        merged: dict = {}
        for b in reversed(info["bases"]):  # left-most base wins, as in a simple MRO
            merged.update(resolve(b, (*seen, cname), part))
        merged.update(info[part])
        return merged

    out = {}
    for cname, info in classes.items():
        if not info["registered"]:
            continue
        a = resolve(cname)
        params = a.pop("params_cls", None)
        bad = {k: v.source for k, v in a.items() if isinstance(v, _NonLiteral)}
        name = a.get("name")
        if bad or not isinstance(name, str):
            raise ValueError(f"methods/{info['module']}.py: class {cname} must set its class attributes "
                             f"{', '.join(sorted(bad)) or 'name'} to literal values (the torch-free method "
                             f"catalog reads them from the source); got {bad or name!r}")
        out[name] = MethodInfo(name=name, label=a.get("label") or default_label(name), paper=a.get("paper", ""),
                               default_curriculum=a.get("default_curriculum", "none"),
                               needs_ref=bool(a.get("needs_ref", False)),
                               needs_entropy=bool(a.get("needs_entropy", True)), version=int(a.get("version", 1)),
                               module=info["module"], uses_covariance=bool(a.get("uses_covariance", False)),
                               selection_metrics=tuple(a.get("selection_metrics", ())),
                               paper_order=a.get("paper_order"), color=a.get("color", ""),
                               baseline=bool(a.get("baseline", False)),
                               defaults=resolve(params, part="fields") if params else {})
    return out
