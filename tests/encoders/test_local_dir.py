"""Loading `local-dir:` models and the encode API, checked against open_clip called directly in fp32."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from clipsearch.config import SpaceSettings
from clipsearch.errors import ConfigError, InvalidRequest, ModelUnavailable
from clipsearch.indexer.encoders import Encoder, load_encoder


def _space(model_dir: Path, **kw: Any) -> SpaceSettings:
    return SpaceSettings(
        model=f"local-dir:{model_dir}", precision="fp32", backend="torch", device="cpu", **kw
    )


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    sizes = [(40, 50), (64, 31), (32, 32)]
    return [Image.fromarray((rng.random((h, w, 3)) * 255).astype(np.uint8)) for h, w in sizes]


def _open_clip_direct(model_dir: Path) -> tuple[Any, Any, Any]:
    import open_clip

    model, _, preprocess = open_clip.create_model_and_transforms(f"local-dir:{model_dir}")
    tokenizer = open_clip.get_tokenizer(f"local-dir:{model_dir}")
    return model.eval(), preprocess, tokenizer


def test_base_matches_open_clip_exactly(tiny_base: Path) -> None:
    enc = load_encoder("default", _space(tiny_base))
    assert isinstance(enc, Encoder)
    model, preprocess, tokenizer = _open_clip_direct(tiny_base)
    images = _images()
    ours = np.stack([enc.preprocess_image(img) for img in images])
    theirs = torch.stack([preprocess(img) for img in images])  # type: ignore[operator]
    assert ours.dtype == np.float32
    assert np.abs(ours - theirs.numpy()).max() <= 1e-5
    texts = ["a red circle", "two blue squares above a green triangle."]
    with torch.no_grad():
        ref_img = torch.nn.functional.normalize(model.encode_image(theirs), dim=-1).numpy()
        ref_txt = torch.nn.functional.normalize(model.encode_text(tokenizer(texts)), dim=-1).numpy()  # type: ignore[operator]
    img_vec = enc.encode_images(images)
    txt_vec = enc.encode_texts(texts)
    assert img_vec.dtype == np.float32 and img_vec.shape == (3, enc.info.dim)
    assert np.abs(img_vec - ref_img).max() <= 1e-5
    assert np.abs(txt_vec - ref_txt).max() <= 1e-5
    np.testing.assert_allclose(np.linalg.norm(txt_vec, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(enc.encode_frames(images), img_vec, atol=1e-6)
    np.testing.assert_allclose(enc.encode_preprocessed(ours), img_vec, atol=1e-6)


def test_info_describes_space(tiny_long: Path) -> None:
    enc = load_encoder("long", _space(tiny_long, role="long"))
    info = enc.info
    assert (info.space, info.dim, info.context_length, info.precision, info.backend, info.device) == (
        "long",
        32,
        248,
        "fp32",
        "torch",
        "cpu",
    )
    assert info.role == "long" and info.fingerprint.startswith("fp1-")


def test_multilingual_relative_paths_resolved_against_model_dir(
    tiny_multilingual: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # relative `text_tower` must not be looked up in the cwd
    enc = load_encoder("multilingual", _space(tiny_multilingual))
    texts = ["ein roter Kreis", "un cercle rouge", "a red circle"]
    first = enc.encode_texts(texts)
    # eval mode: HF towers have dropout, so a train-mode model would not repeat itself.
    np.testing.assert_array_equal(first, enc.encode_texts(texts))
    # Reference: open_clip on a copy whose config holds absolute paths.
    copy_dir = tmp_path / "abs"
    shutil.copytree(tiny_multilingual, copy_dir)
    config = json.loads((copy_dir / "open_clip_config.json").read_text())
    config["model_cfg"]["text_cfg"]["hf_model_name"] = str(copy_dir / "text_tower")
    config["model_cfg"]["text_cfg"]["hf_model_pretrained"] = False
    (copy_dir / "open_clip_config.json").write_text(json.dumps(config))
    model, _, tokenizer = _open_clip_direct(copy_dir)
    with torch.no_grad():
        ref = torch.nn.functional.normalize(model.encode_text(tokenizer(texts)), dim=-1).numpy()  # type: ignore[operator]
    assert np.abs(first - ref).max() <= 1e-5
    assert enc.info.context_length == 64


def test_small_vocab_builtin_text_tower(tiny_small_vocab: Path) -> None:
    enc = load_encoder("s", _space(tiny_small_vocab))
    vectors = enc.encode_texts(["a red circle", "a blue square"])
    assert vectors.shape == (2, 32)
    assert float(vectors[0] @ vectors[1]) < 0.9999  # different texts, different vectors
    assert enc.count_tokens("a red circle") == len(enc._tokenizer._impl.tokenizer("a red circle").input_ids)  # type: ignore[attr-defined]


def test_count_tokens_and_truncation_flags(tiny_base: Path) -> None:
    enc = load_encoder("default", _space(tiny_base))
    assert enc.count_tokens("a red circle") == 5  # <start> a red circle <end>
    long_text = " ".join(["word"] * 100)
    assert enc.count_tokens(long_text) == 102
    result = enc.encode_texts_detailed(["short", long_text])
    assert result.truncated == (False, True) and result.chunks == (1, 1)
    # Truncation keeps the first 75 words: the vector equals that of the cut text.
    cut = " ".join(["word"] * 75)
    np.testing.assert_allclose(result.vectors[1], enc.encode_texts([cut])[0], atol=1e-6)


def test_batches_are_independent_of_batch_size(tiny_base: Path) -> None:
    big = load_encoder("a", _space(tiny_base, batch_size=64))
    small = load_encoder("b", _space(tiny_base, batch_size=2))
    images = _images() * 2
    np.testing.assert_allclose(big.encode_images(images), small.encode_images(images), atol=1e-5)
    texts = [f"text number {i}" for i in range(5)]
    np.testing.assert_allclose(big.encode_texts(texts), small.encode_texts(texts), atol=1e-5)


def test_empty_and_bad_inputs(tiny_base: Path) -> None:
    enc = load_encoder("default", _space(tiny_base))
    assert enc.encode_images([]).shape == (0, 32)
    assert enc.encode_texts([]).shape == (0, 32)
    with pytest.raises(InvalidRequest):
        enc.encode_texts("not a list")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        enc.encode_preprocessed(np.zeros((1, 3, 8, 8), dtype=np.float32))


def test_missing_dir_and_weights_are_one_line_errors(tmp_path: Path, tiny_base: Path) -> None:
    with pytest.raises(ModelUnavailable, match="not found") as err:
        load_encoder("default", _space(tmp_path / "nope"))
    assert "\n" not in str(err.value)
    no_weights = tmp_path / "noweights"
    no_weights.mkdir()
    shutil.copy(tiny_base / "open_clip_config.json", no_weights)
    with pytest.raises(ModelUnavailable, match="no weights"):
        load_encoder("default", _space(no_weights))
    with pytest.raises(ConfigError, match="tag"):
        load_encoder("default", _space(tiny_base, pretrained="laion2b_s34b_b79k"))


def test_fp16_on_cpu_is_a_config_error(tiny_base: Path) -> None:
    with pytest.raises(ConfigError, match="fp16"):
        load_encoder("default", SpaceSettings(model=f"local-dir:{tiny_base}", precision="fp16", device="cpu"))


def test_language_code_needs_a_tokenizer_that_takes_one(tiny_multilingual: Path) -> None:
    with pytest.raises(ConfigError, match="source-language"):
        load_encoder("m", _space(tiny_multilingual, language="deu_Latn"))


@pytest.mark.parametrize("model", ["shapes-base", "shapes-multilingual"])
def test_fast_token_count_equals_the_tokenizers_own(model: str) -> None:
    """Routing counts through a private copy of the Rust backend; it must agree with the full
    transformers call (specials included, no truncation) on short, long and non-Latin texts, also
    after the shared tokenizer was last used with truncation and padding on."""
    models = Path(__file__).resolve().parents[2] / "models"
    enc = load_encoder("m", _space(models / model))
    enc.encode_texts(["warm the shared tokenizer up with padding and truncation"])
    hf = enc._tokenizer._impl  # type: ignore[attr-defined]
    texts = [
        "a red circle",
        "ein roter Kreis oben links &amp; ein blauer Stern",
        "  un   cercle   rouge\n\tà droite  ",
        "赤い丸と青い四角",
        " ".join(["word"] * 300),
    ]
    for text in texts:
        expected = len(hf.tokenizer(hf.clean_fn(text), truncation=False, verbose=False).input_ids)
        assert enc.count_tokens(text) == expected, text
    assert enc.count_tokens(texts[-1]) > enc.info.context_length
