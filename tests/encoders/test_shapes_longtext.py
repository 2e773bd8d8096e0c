"""Long captions on the shapes-world models: the long space beats the 77-token space (truncate or chunk)."""

from __future__ import annotations

import json

import pytest

from clipsearch.config import SHAPES_MODELS_DIR, SpaceSettings
from clipsearch.indexer.encoders import load_encoder

pytestmark = pytest.mark.skipif(
    not (SHAPES_MODELS_DIR / "shapes-long" / "open_clip_config.json").is_file(),
    reason="shapes models not built",
)


def _long_model_is_trained() -> bool:
    """A preliminary shapes-long (its own training metrics show no long-caption gain) cannot win yet."""
    info = json.loads((SHAPES_MODELS_DIR / "shapes-long" / "training.json").read_text())
    metrics = info.get("metrics", {})
    return float(metrics.get("val_long_t2i_r1", 0)) > float(metrics.get("base_val_long_t2i_r1", 0))


def test_long_space_wins_on_long_captions(tmp_path_factory: pytest.TempPathFactory) -> None:
    if not _long_model_is_trained():
        pytest.skip("models/shapes-long is preliminary (training.json: no long-caption gain over its base)")
    from clipsearch.shapesworld import generate_corpus
    from clipsearch.shapesworld.quality import long_caption_t2i

    manifest = generate_corpus(
        tmp_path_factory.mktemp("long"),
        images=0,
        videos=0,
        texts=0,
        long_scenes=48,
        seed=777,
        test_fraction=1.0,
    )

    def r1(model: str, policy: str) -> float:
        space = SpaceSettings(
            model=f"local-dir:{SHAPES_MODELS_DIR / model}",
            precision="fp32",
            backend="torch",
            long_text=policy,
        )
        encoder = load_encoder(model, space)
        return long_caption_t2i(encoder, manifest)["r1"]

    chunked = r1("shapes-base", "chunk")
    truncated = r1("shapes-base", "truncate")
    long = r1("shapes-long", "truncate")
    print(
        f"long-caption R@1: shapes-long {long:.3f}, shapes-base chunk {chunked:.3f}, truncate {truncated:.3f}"
    )
    assert long > chunked and long > truncated, (long, chunked, truncated)
