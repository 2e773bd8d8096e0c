"""Shapes-world text→video through the real indexer and engine with the trained `models/shapes-base`.

Clips of one background template share their drifting distractors; each shows its own event object
for 10–20 % of the clip, and the query names that object. Frame scoring must beat holistic-only
ranking, and the best frame must fall inside the event window (floors looser than bench/rerank.py).
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from clipsearch.config import SHAPES_MODELS_DIR, Settings, load_settings

MODEL = SHAPES_MODELS_DIR / "shapes-base"

pytestmark = [
    pytest.mark.xdist_group("rerank-shapes"),
    pytest.mark.skipif(
        not (MODEL / "open_clip_config.json").exists(),
        reason="models/shapes-base is not trained yet (tools/train_shapes.py)",
    ),
]


@pytest.fixture(scope="module")
def shapes_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[dict[str, Any]]]:
    from clipsearch.indexer.runner import build_indices, index_collection
    from clipsearch.shapesworld.captions import object_phrase
    from clipsearch.shapesworld.video import sample_background_templates, sample_video, write_video
    from clipsearch.storage.db import Database

    root = tmp_path_factory.mktemp("rerank-shapes")
    media = root / "media"
    rng = random.Random(21)
    clips: list[dict[str, Any]] = []
    for template, background in enumerate(sample_background_templates(rng, 3)):
        taken: set[tuple[str, str, int, int]] = set()
        for k in range(6):
            spec = sample_video(rng, background, template, taken)
            path = media / f"t{template}-c{k}.mp4"
            write_video(spec, path)
            clips.append(
                {
                    "uri": str(path),
                    "window": (spec.start_sec, spec.end_sec),
                    "query": object_phrase(spec.event, "en"),
                }
            )
    settings = load_settings(
        None,
        environ={},
        overrides={
            "data_dir": str(root / "data"),
            "spaces": {"default": {"model": f"local-dir:{MODEL}", "device": "cpu"}},
            "collections": {
                "clips": {"spaces": ["default"], "sources": [{"path": str(media)}], "video_sampling": "fps:2"}
            },
            "indexer": {"decode_workers": 1, "prefetch_batches": 2},
        },
    )
    db = Database(settings.database_url)
    db.create_all()
    index_collection(settings, db, "clips")
    build_indices(settings, db, "clips", spec="Flat")
    db.dispose()
    return settings, clips


def test_frame_scoring_beats_holistic_on_event_queries(
    shapes_corpus: tuple[Settings, list[dict[str, Any]]],
) -> None:
    from clipsearch.searcher.app import build_engine
    from clipsearch.searcher.types import FrameScoringOptions, SearchQuery

    settings, clips = shapes_corpus
    engine = build_engine(settings)
    assert engine.refresh()
    holistic = fine = inside = 0
    for clip in clips:
        base = {"collection": "clips", "text": clip["query"], "media_types": ("video",), "top_k": 3}
        plain = engine.search(SearchQuery(**base, frame_scoring=FrameScoringOptions(enabled=False)))  # type: ignore[arg-type]
        holistic += plain.hits[0].item.uri == clip["uri"]
        top = engine.search(SearchQuery(**base)).hits[0]  # type: ignore[arg-type]
        if top.item.uri == clip["uri"]:
            fine += 1
            assert top.moment is not None
            start, end = clip["window"]
            inside += start - 0.5 <= top.moment.t_sec < end
    n = len(clips)
    assert fine / n >= holistic / n + 0.15, (fine, holistic, n)
    assert inside >= 0.8 * fine, (inside, fine)
