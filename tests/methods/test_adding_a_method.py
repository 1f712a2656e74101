"""docs/methods.md "Adding a method" is complete: the worked example in tests/methods/example_method.py
(a method defined only in a test file) is registered, listed by ``python -m methods``, covered by the
registry-parametrised conformance tests, and runs through the loss entry point, with no other edits."""

from __future__ import annotations

import subprocess
import sys

from methods import method_names
from tests.methods import test_conformance, test_hparams
from tests.methods.conftest import make_batch
from tests.methods.helpers import run_method


def test_example_is_registered_and_covered_by_conformance():
    assert "example_calm" in method_names()
    assert "example_calm" in test_conformance.ALL
    assert any(n == "example_calm" for n, _ in test_hparams.PAIRS)


def test_example_is_listed_by_the_cli():
    code = "import tests.methods.example_method, methods.__main__ as m; m.main(['example_calm'])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "example_calm" in out and "calm_frac" in out and "source: example" in out


def test_example_runs_through_the_entry_point():
    loss, *_ = run_method("example_calm", make_batch())
    assert loss.isfinite()
