"""Long captions on the shapes-world models: chunking beats truncation on the 77-token space, and the
long (248-token) space beats both once it is trained."""

from __future__ import annotations

import json
from typing import Any

import pytest

from clipsearch.config import SHAPES_MODELS_DIR, LongTextPolicy, SpaceSettings
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


@pytest.fixture(scope="module")
def long_corpus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from clipsearch.shapesworld import generate_corpus

    return generate_corpus(
        tmp_path_factory.mktemp("long"),
        images=0,
        videos=0,
        texts=0,
        long_scenes=48,
        seed=777,
        test_fraction=1.0,
    )


def r1(manifest: Any, model: str, policy: LongTextPolicy) -> float:
    from clipsearch.shapesworld.quality import long_caption_t2i

    space = SpaceSettings(
        model=f"local-dir:{SHAPES_MODELS_DIR / model}", precision="fp32", backend="torch", long_text=policy
    )
    return float(long_caption_t2i(load_encoder(model, space), manifest)["r1"])


def test_chunking_beats_truncation_on_a_77_token_space(long_corpus: Any) -> None:
    # Scenes of one family differ only past token 77: truncation cannot tell them apart, chunking can.
    chunked = r1(long_corpus, "shapes-base", "chunk")
    truncated = r1(long_corpus, "shapes-base", "truncate")
    print(f"shapes-base long-caption R@1: chunk {chunked:.3f}, truncate {truncated:.3f}")
    assert chunked > truncated, (chunked, truncated)


def test_long_space_wins_on_long_captions(long_corpus: Any) -> None:
    if not _long_model_is_trained():
        pytest.skip("models/shapes-long is preliminary (training.json: no long-caption gain over its base)")
    chunked = r1(long_corpus, "shapes-base", "chunk")
    truncated = r1(long_corpus, "shapes-base", "truncate")
    long = r1(long_corpus, "shapes-long", "truncate")
    print(
        f"long-caption R@1: shapes-long {long:.3f}, shapes-base chunk {chunked:.3f}, truncate {truncated:.3f}"
    )
    assert long > chunked and long > truncated, (long, chunked, truncated)
