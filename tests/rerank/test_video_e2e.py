"""Real media end to end: shapes-world scenes → PyAV videos → indexer → engine → the matching moment.

The model is a tiny random-weight open_clip model (the shapes-world models stand in for it once they
are trained): it cannot read text, but it maps the same picture to (nearly) the same vector, so an
image query showing a video's short event finds that video and the event's time through frame scoring.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clipsearch.config import Settings, load_settings
from helpers.tiny_models import write_tiny_model

pytestmark = pytest.mark.xdist_group("rerank-video")

FPS = 4
SECONDS = 10
EVENT_SECONDS = 2


def write_video(path: Path, scenes: list[Any]) -> None:
    import av

    from clipsearch.shapesworld.scene import render_scene

    with av.open(str(path), mode="w") as container:
        stream: Any = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 128, 128, "yuv420p"
        for scene in scenes:
            pixels = np.asarray(render_scene(scene, 128).convert("RGB"))
            for _ in range(FPS):
                for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


@pytest.fixture(scope="module")
def video_corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[dict[str, Any]]]:
    from clipsearch.indexer.runner import build_indices, index_collection
    from clipsearch.shapesworld.scene import Scene, random_object, reading_order
    from clipsearch.storage.db import Database

    root = tmp_path_factory.mktemp("rerank-video")
    model = write_tiny_model(root / "tiny", "base", dtype="float32")
    media = root / "media"
    media.mkdir()
    rng = random.Random(4)
    videos: list[dict[str, Any]] = []
    for group in range(2):
        cells = rng.sample([(r, c) for r in range(3) for c in range(3)], 5)
        base = random_object(rng, *cells[0], allow_held_out=True, size="large")
        background = ("black", "teal")[group]
        for member in range(4):
            event = random_object(rng, *cells[1 + member], allow_held_out=True, size="large")
            start = rng.randrange(0, SECONDS - EVENT_SECONDS + 1)
            plain = Scene(objects=(base,), background=background)
            moment = Scene(objects=reading_order([base, event]), background=background)
            scenes = [moment if start <= s < start + EVENT_SECONDS else plain for s in range(SECONDS)]
            path = media / f"g{group}-v{member}.mp4"
            write_video(path, scenes)
            videos.append({"uri": str(path), "start": float(start), "moment": moment})
    settings = load_settings(
        None,
        environ={},
        overrides={
            "data_dir": str(root / "data"),
            "spaces": {"default": {"model": f"local-dir:{model}", "precision": "fp32", "backend": "torch"}},
            "collections": {
                "clips": {"spaces": ["default"], "sources": [{"path": str(media)}], "video_sampling": "fps:1"}
            },
            "indexer": {"decode_workers": 1, "prefetch_batches": 2},
        },
    )
    db = Database(settings.database_url)
    db.create_all()
    index_collection(settings, db, "clips")
    build_indices(settings, db, "clips", spec="Flat")
    db.dispose()
    return settings, videos


def test_image_of_the_event_finds_the_video_and_its_moment(
    video_corpus: tuple[Settings, list[dict[str, Any]]],
) -> None:
    from clipsearch.searcher.app import build_engine
    from clipsearch.searcher.types import FrameScoringOptions, SearchQuery
    from clipsearch.shapesworld.scene import render_scene

    settings, videos = video_corpus
    engine = build_engine(settings)
    assert engine.refresh()
    fine = holistic = inside = 0
    for video in videos:
        buffer = io.BytesIO()
        render_scene(video["moment"], 128).save(buffer, format="PNG")
        query = SearchQuery(collection="clips", image=buffer.getvalue(), media_types=("video",), top_k=3)
        plain = engine.search(
            SearchQuery(
                collection="clips",
                image=buffer.getvalue(),
                media_types=("video",),
                top_k=3,
                frame_scoring=FrameScoringOptions(enabled=False),
            )
        )
        holistic += plain.hits[0].item.uri == video["uri"]
        result = engine.search(query)
        top = result.hits[0]
        assert top.moment is not None and top.frame is not None
        assert [t.stage for t in result.timings if t.stage in ("rerank", "frames")] == ["rerank", "frames"]
        if top.item.uri == video["uri"]:
            fine += 1
            # Frames are sampled at 1 fps: the event covers t in [start, start + EVENT_SECONDS).
            inside += video["start"] - 0.5 <= top.moment.t_sec < video["start"] + EVENT_SECONDS
    assert fine >= len(videos) - 1, (fine, holistic)
    assert fine >= holistic
    assert inside >= fine - 1, (inside, fine)
