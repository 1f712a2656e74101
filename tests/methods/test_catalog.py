"""methods/catalog.py (torch-free, from the source) agrees with the imported registry."""

import dataclasses
import importlib.util
import sys
import textwrap

import pytest

import methods
from methods.registry import REGISTRY


def _catalog_module():
    path = __import__("pathlib").Path(methods.__file__).parent / "catalog.py"
    spec = importlib.util.spec_from_file_location("catalog_under_test", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_catalog_equals_the_registry():
    cat = _catalog_module().catalog()
    shipped = {n: c for n, c in REGISTRY.items() if c.__module__.startswith("methods.")}  # not test-only ones
    assert set(cat) == set(shipped)
    for name, cls in shipped.items():
        info = cat[name]
        assert info.label == (cls.label or f"w/ {name}"), name
        assert (info.paper, info.default_curriculum, info.needs_ref, info.needs_entropy, info.version) == \
            (cls.paper, cls.default_curriculum, cls.needs_ref, cls.needs_entropy, cls.version), name
        assert (info.uses_covariance, info.selection_metrics, info.paper_order, info.color, info.baseline) == \
            (cls.uses_covariance, cls.selection_metrics, cls.paper_order, cls.color, cls.baseline), name
        assert info.defaults == {f.name: f.default for f in dataclasses.fields(cls.params_cls)}, name


def test_labels_of_the_paper_methods():
    cat = _catalog_module().catalog()
    assert cat["sent"].label == "w/ SENT" and cat["grpo"].label == "GRPO" and cat["low_cov"].label == "w/ Low_Cov"
    assert cat["low_cov"].default_curriculum == "none" and cat["sent"].default_curriculum == "semantic_entropy"


def test_a_new_method_file_is_labelled_without_a_list_to_edit(tmp_path):
    mod = _catalog_module()
    src = (__import__("pathlib").Path(methods.__file__).parent)
    for f in ("base.py", "grpo.py", "sent.py"):
        (tmp_path / f).write_text((src / f).read_text())
    (tmp_path / "newone.py").write_text(textwrap.dedent('''
        from methods.registry import register
        from methods.sent import Sent

        @register
        class NewOne(Sent):
            name = "new_one"
            needs_ref = False

        @register
        class Unlabelled(NewOne):
            name = "unlabelled"
            label = ""
    '''))
    cat = mod.catalog(tmp_path)
    assert cat["new_one"].label == "w/ SENT"  # inherited, as Python would
    assert cat["new_one"].needs_ref is False and cat["new_one"].default_curriculum == "semantic_entropy"
    assert cat["unlabelled"].label == "w/ unlabelled"
    (tmp_path / "bad.py").write_text("from methods.registry import register\n@register\nclass B:\n    name = 'b' + 'x'\n")
    with pytest.raises(ValueError, match="literal"):
        mod.catalog(tmp_path)
