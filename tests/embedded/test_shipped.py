"""The shipped base models (data/models/): loaded by default without a build, checksummed, refused
with a clear error when damaged, and reproduced bit for bit by a rebuild on the machine kind that
built them."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

from core.embedded import model as M
from tests.embedded.conftest import compose, smoke

SHIPPED = {"tiny": (), "tiny-smoke": ("preset=smoke",)}


def _meta(name: str) -> dict:
    return json.loads((M.SHIPPED_ROOT / name / "meta.json").read_text())


def _same_machine_kind(meta: dict) -> bool:
    return meta["cpu"] == M.cpu_name() and meta["torch"] == torch.__version__


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_shipped_files_match_their_checksum_and_the_default_configs(name):
    d = M.SHIPPED_ROOT / name
    meta = _meta(name)
    blob = (d / "model.safetensors").read_bytes()
    assert hashlib.sha256(blob).hexdigest() == meta["sha256"]
    assert len(blob) < 2 * 1024 * 1024
    assert (d / "PROVENANCE.md").exists() and meta["build"]["command"] and len(meta["build"]["commit"]) == 40
    spec = M.ModelSpec.from_cfg(compose(*SHIPPED[name]).model)
    assert meta["key"] == spec.key() and M.shipped_dir(spec) == d  # what the default config loads
    assert meta["spec"] == {k: getattr(spec, k) for k in meta["spec"]}
    assert json.loads((d / "tokenizer.json").read_text())["tokens"] == list(M.task.TOKENIZER.tokens)


def test_default_loads_the_shipped_weights_without_building(monkeypatch, cache_dir):
    monkeypatch.setattr(M, "sft", lambda *a, **k: pytest.fail("built instead of loading the shipped model"))
    for name, overrides in SHIPPED.items():
        spec = M.ModelSpec.from_cfg(compose(*overrides).model)
        model = M.base_model(spec, progress=False)
        assert M.weights_sha256(model) == _meta(name)["sha256"]
        assert M.base_model_info(spec)["source"] == "shipped"
        assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()  # still tied
    assert not (cache_dir / "base" / M.ModelSpec.from_cfg(compose().model).key() / "model.pt").exists()


def test_shipped_folder_loads_with_transformers():
    """config.json + model.safetensors are a Hugging Face checkpoint: the same logits as base_model."""
    from transformers import Qwen2ForCausalLM

    d = M.SHIPPED_ROOT / "tiny-smoke"
    hf = Qwen2ForCausalLM.from_pretrained(d).eval()
    ours = M.base_model(M.ModelSpec.from_cfg(smoke().model), progress=False)
    ids = torch.tensor([[M.task.TOKENIZER.bos_id] + M.task.TOKENIZER.encode("1+2+3\n")])
    with torch.no_grad():
        torch.testing.assert_close(hf(input_ids=ids).logits, ours(input_ids=ids).logits)


def test_damaged_shipped_model_is_one_clear_error(tmp_path, monkeypatch):
    root = tmp_path / "models"
    shutil.copytree(M.SHIPPED_ROOT / "tiny-smoke", root / "tiny-smoke")
    monkeypatch.setattr(M, "SHIPPED_ROOT", root)
    path = root / "tiny-smoke" / "model.safetensors"
    path.write_bytes(path.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(RuntimeError, match="checkout is damaged.*model.rebuild=true"):
        M.base_model(M.ModelSpec.from_cfg(smoke().model), progress=False)


def test_rebuild_uses_the_recipe_and_reproduces_the_shipped_smoke_model(cache_dir):
    """model.rebuild=true builds from the recipe into the cache (the shipped copy untouched); on the
    machine kind that built the shipped weights the build is bit-identical to them."""
    spec = M.ModelSpec.from_cfg(smoke("model.rebuild=true").model)
    model = M.base_model(spec, progress=False, rebuild=True)
    info = M.base_model_info(spec, rebuild=True)
    assert info["source"] == "cache" and Path(info["dir"]).parent.parent == cache_dir
    meta = _meta("tiny-smoke")
    if not _same_machine_kind(meta):
        pytest.skip(f"built on {meta['cpu']} / torch {meta['torch']}; this machine is {M.cpu_name()}: "
                    "float results may differ across machine kinds")
    assert M.weights_sha256(model) == meta["sha256"]
    # the cache's model.pt is bit-identical too (torch.save names its zip archive after the file written)
    assert info["sha256"] == meta["build"]["cache_sha256_model_pt"]


# The tiny model's rebuild (1000 SFT steps, ~5-10 minutes) is too long for the test suite (CI runs every
# test): it is the documented check `python -m core.embedded --rebuild --check` (docs/embedded.md).
