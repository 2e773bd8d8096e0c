"""Zoo names, tags, hf-hub ids and local weight files: every loading path, offline."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from clipsearch.config import SpaceSettings
from clipsearch.errors import ConfigError, ModelUnavailable
from clipsearch.indexer.encoders import load_encoder
from clipsearch.indexer.encoders.resolve import _cached_tag_weights, resolve_model
from helpers.tiny_models import tiny_model_cfg


@pytest.fixture(scope="module")
def tiny_arch(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny architecture registered in open_clip's zoo, as if it were `ViT-B-32`."""
    import open_clip

    name = "clipsearch-test-tiny"
    path = tmp_path_factory.mktemp("arch") / f"{name}.json"
    path.write_text(json.dumps(tiny_model_cfg("base")))
    open_clip.add_model_config(path)
    return name


def _cpu(**kw: object) -> SpaceSettings:
    return SpaceSettings(precision="fp32", backend="torch", device="cpu", **kw)  # type: ignore[arg-type]


def test_uncached_tag_fails_fast_naming_model_cache_and_fix(tmp_path: Path) -> None:
    space = _cpu(model="ViT-B-32", pretrained="laion2b_s34b_b79k")
    with pytest.raises(ModelUnavailable) as err:
        load_encoder("default", space, hub_cache_dir=tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert "ViT-B-32" in message and "laion2b_s34b_b79k" in message and str(tmp_path) in message
    assert "clipsearch models pull" in message and "pretrained" in message


def test_unknown_names_and_tags_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an open_clip model"):
        resolve_model(_cpu(model="ViT-Q-99"), cache_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"unknown pretrained tag 'nope'.*laion2b"):
        resolve_model(_cpu(model="ViT-B-32", pretrained="nope"), cache_dir=tmp_path)
    with pytest.raises(ModelUnavailable, match="not found"):
        resolve_model(_cpu(model="ViT-B-32", pretrained=str(tmp_path / "missing.safetensors")))


def test_multilingual_zoo_towers_need_their_hf_files(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="xlm-roberta-base"):
        resolve_model(_cpu(model="xlm-roberta-base-ViT-B-32"), cache_dir=tmp_path)
    with pytest.raises(ConfigError, match="language"):
        resolve_model(_cpu(model="nllb-clip-base"), cache_dir=tmp_path)


def _fake_hub_cache(cache: Path, repo_id: str, files: dict[str, Path]) -> None:
    """The Hugging Face cache layout: models--org--name/{refs/main, snapshots/<rev>/file}."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / "0123456789abcdef"
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0123456789abcdef")
    for name, src in files.items():
        shutil.copy(src, snapshot / name)


def test_cached_tag_weights_found_without_network(tmp_path: Path) -> None:
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    _fake_hub_cache(tmp_path / "hub", "org/model", {"open_clip_model.safetensors": weights})
    found = _cached_tag_weights({"hf_hub": "org/model/"}, tmp_path / "hub", allow_download=False)
    assert found is not None and found.name == "open_clip_model.safetensors"
    assert _cached_tag_weights({"hf_hub": "org/other/"}, tmp_path / "hub", allow_download=False) is None
    (tmp_path / "clip").mkdir()
    (tmp_path / "clip" / "ViT-B-32.pt").write_bytes(b"x")
    url_cfg = {"url": "https://example.invalid/abc/ViT-B-32.pt"}
    assert (
        _cached_tag_weights(url_cfg, tmp_path / "clip", allow_download=False)
        == tmp_path / "clip" / "ViT-B-32.pt"
    )


def test_hf_hub_model_loads_from_cache_and_fails_clearly_when_absent(tiny_base: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hub"
    files = {n: tiny_base / n for n in ("open_clip_config.json", "open_clip_model.safetensors")}
    _fake_hub_cache(cache, "clipsearch/tiny", files)
    enc = load_encoder("default", _cpu(model="hf-hub:clipsearch/tiny"), hub_cache_dir=cache)
    ref = load_encoder("default", _cpu(model=f"local-dir:{tiny_base}"))
    np.testing.assert_allclose(enc.encode_texts(["a cat"]), ref.encode_texts(["a cat"]), atol=1e-6)
    assert enc.info.fingerprint == ref.info.fingerprint  # same weights, same config: same vectors
    with pytest.raises(ModelUnavailable, match=r"hf-hub:clipsearch/absent.*models pull"):
        load_encoder("default", _cpu(model="hf-hub:clipsearch/absent"), hub_cache_dir=cache)


@pytest.mark.parametrize("suffix", [".pt", ".bin", ".safetensors"])
def test_local_checkpoint_into_zoo_architecture(
    tiny_arch: str, tiny_base: Path, tmp_path: Path, suffix: str
) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(tiny_base / "open_clip_model.safetensors"))
    path = tmp_path / f"weights{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(
            {"state_dict": {f"module.{k}": v for k, v in state.items()}}, path
        )  # training-style wrapper
    enc = load_encoder("default", _cpu(model=tiny_arch, pretrained=str(path)))
    ref = load_encoder("default", _cpu(model=f"local-dir:{tiny_base}"))
    np.testing.assert_allclose(
        enc.encode_texts(["a red circle"]), ref.encode_texts(["a red circle"]), atol=1e-6
    )
    assert enc.info.fingerprint == ref.info.fingerprint


def test_checkpoint_for_another_architecture_is_rejected(tiny_arch: str, tiny_multilingual: Path) -> None:
    weights = tiny_multilingual / "open_clip_model.safetensors"
    with pytest.raises(ModelUnavailable, match="do not fit"):
        load_encoder("default", _cpu(model=tiny_arch, pretrained=str(weights)))


def test_context_longer_than_checkpoint_is_rejected(tiny_base: Path) -> None:
    with pytest.raises(ModelUnavailable, match="77 text positions"):
        load_encoder("default", _cpu(model=f"local-dir:{tiny_base}", context_length=248))
    short = load_encoder("default", _cpu(model=f"local-dir:{tiny_base}", context_length=32))
    full = load_encoder("default", _cpu(model=f"local-dir:{tiny_base}"))
    assert short.info.context_length == 32
    # A causal text tower never looks past the end token: short texts encode identically.
    np.testing.assert_allclose(
        short.encode_texts(["a red circle"]), full.encode_texts(["a red circle"]), atol=1e-5
    )
    assert short.info.fingerprint != full.info.fingerprint


def test_fingerprint_tracks_what_changes_vectors(tiny_base: Path, tmp_path: Path) -> None:
    base = load_encoder("default", _cpu(model=f"local-dir:{tiny_base}"))
    moved = tmp_path / "moved"
    shutil.copytree(tiny_base, moved)
    assert load_encoder("x", _cpu(model=f"local-dir:{moved}")).info.fingerprint == base.info.fingerprint
    bf16 = load_encoder("x", SpaceSettings(model=f"local-dir:{moved}", precision="bf16", backend="torch"))
    assert bf16.info.fingerprint == base.info.fingerprint  # parity-checked precisions share an index
    chunk = load_encoder("x", _cpu(model=f"local-dir:{moved}", long_text="chunk"))
    assert chunk.info.fingerprint != base.info.fingerprint
    config = json.loads((moved / "open_clip_config.json").read_text())
    config["preprocess_cfg"]["interpolation"] = "bilinear"
    (moved / "open_clip_config.json").write_text(json.dumps(config))
    assert load_encoder("x", _cpu(model=f"local-dir:{moved}")).info.fingerprint != base.info.fingerprint
    other = tmp_path / "other"
    from helpers.tiny_models import write_tiny_model

    write_tiny_model(other, "base", seed=99)
    assert load_encoder("x", _cpu(model=f"local-dir:{other}")).info.fingerprint != base.info.fingerprint
