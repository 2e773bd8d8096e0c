"""The generator: determinism, splits, manifest contents, real video files with exact event windows."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from clipsearch.cli import app
from clipsearch.errors import InvalidRequest
from clipsearch.shapesworld import generate_corpus, load_manifest
from clipsearch.shapesworld.corpus import MANIFEST_NAME
from clipsearch.shapesworld.video import sample_frames
from clipsearch.shapesworld.vocab import COLOURS, HELD_OUT_PAIRS

COUNTS = {"images": 24, "videos": 6, "texts": 6, "long_scenes": 8}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    generate_corpus(root, seed=11, **COUNTS)
    return root


def test_same_seed_same_bytes_other_seed_other_corpus(corpus: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate_corpus(again, seed=11, **COUNTS)
    assert (again / MANIFEST_NAME).read_bytes() == (corpus / MANIFEST_NAME).read_bytes()
    for entry in load_manifest(corpus).select(type="image"):
        assert (again / entry.path).read_bytes() == (corpus / entry.path).read_bytes(), entry.path
    other = tmp_path / "other"
    generate_corpus(other, seed=12, **COUNTS)
    assert (other / MANIFEST_NAME).read_bytes() != (corpus / MANIFEST_NAME).read_bytes()


def test_manifest_lists_every_asset_with_captions_and_metadata(corpus: Path) -> None:
    manifest = load_manifest(corpus)
    kinds = [(e.type, e.metadata["kind"]) for e in manifest]
    assert kinds.count(("image", "short")) == 24
    assert kinds.count(("image", "long")) == 8
    assert kinds.count(("video", "video")) == 6
    assert sum(1 for t, _ in kinds if t == "text") == 6
    for entry in manifest:
        assert (corpus / entry.path).is_file(), entry.path
    for entry in manifest.select(type="image", kind="short"):
        assert set(entry.captions) == {"en", "de", "fr", "es"}
        assert entry.metadata["count"] == len(entry.metadata["objects"])
        assert set(entry.metadata["colours"]) <= set(COLOURS)
    for entry in manifest.select(type="image", kind="long"):
        assert entry.long_caption is not None and set(entry.long_caption) == {"en", "de", "fr", "es"}
        assert 8 <= entry.metadata["count"] <= 16
    docs = manifest.select(type="text")
    assert {d.metadata["kind"] for d in docs} == {"caption", "distractor"}
    caption_doc = next(d for d in docs if d.metadata["kind"] == "caption")
    about = next(e for e in manifest if e.id == caption_doc.metadata["about"])
    lang = caption_doc.metadata["language"]
    assert (corpus / caption_doc.path).read_text(encoding="utf-8").startswith(about.captions[lang])


def test_held_out_pairs_appear_only_in_the_test_split(corpus: Path, tmp_path: Path) -> None:
    manifest = generate_corpus(tmp_path / "split", images=200, videos=0, texts=0, long_scenes=0, seed=5)
    train = manifest.select(type="image", split="train")
    test = manifest.select(type="image", split="test")
    assert len(train) == len(test) == 100

    def pairs(entry: object) -> set[tuple[str, str]]:
        return {(o["colour"], o["shape"]) for o in entry.metadata["objects"]}  # type: ignore[attr-defined]

    assert not any(pairs(e) & HELD_OUT_PAIRS for e in train)
    assert sum(bool(pairs(e) & HELD_OUT_PAIRS) for e in test) >= 30
    assert len({e.captions["en"] for e in test}) == len(test), "test captions must be unique"


def test_videos_decode_and_show_the_event_object_exactly_in_its_window(corpus: Path) -> None:
    manifest = load_manifest(corpus)
    videos = manifest.select(type="video")
    assert {e.metadata["format"] for e in videos} == {"mp4", "webm", "gif"}
    for entry in videos:
        event = entry.event
        assert event is not None
        assert 6 <= event.duration_sec <= 12 and 4 <= event.fps <= 8
        share = (event.end_sec - event.start_sec) / event.duration_sec
        assert 0.08 <= share <= 0.22, share
        frames = sample_frames(corpus / entry.path, fps=event.fps)
        assert len(frames) == entry.metadata["n_frames"]
        obj = entry.metadata["event_object"]
        size = frames[0][1].width
        cx = int((obj["col"] + 0.5) * size / 3)
        cy = int((obj["row"] + 0.5) * size / 3)
        target = np.array(COLOURS[obj["colour"]], dtype=float)
        for t, image in frames:
            pixel = (
                np.asarray(image, dtype=float)[cy - 1 : cy + 2, cx - 1 : cx + 2].reshape(-1, 3).mean(axis=0)
            )
            shown = np.abs(pixel - target).max() < 60
            assert shown == event.contains(t), (entry.path, t, pixel, target)
    with av.open(str(corpus / videos[0].path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"


def test_bad_arguments_are_rejected(tmp_path: Path) -> None:
    with pytest.raises(InvalidRequest):
        generate_corpus(tmp_path, images=-1)
    with pytest.raises(InvalidRequest):
        generate_corpus(tmp_path, test_fraction=1.5)


def test_cli_demo_generate_writes_a_corpus(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    args = ["demo", "generate", "--out", str(out), "--images", "4", "--videos", "1", "--texts", "2"]
    result = CliRunner().invoke(app, [*args, "--long-scenes", "4", "--seed", "3", "--json"])
    assert result.exit_code == 0, result.output
    manifest = load_manifest(out)
    assert len(manifest) == 4 + 1 + 2 + 4
    assert '"assets": 11' in result.output


def test_video_event_carries_the_moment_caption_in_every_language(tmp_path: Path) -> None:
    generate_corpus(tmp_path, images=0, videos=2, texts=0, long_scenes=0, seed=3)
    for entry in load_manifest(tmp_path).select(type="video"):
        assert entry.event is not None
        assert set(entry.event.captions) == {"en", "de", "fr", "es"}
        # the moment caption names the event object and more of the frame than the phrase alone
        assert entry.captions["en"].removeprefix("a ") in entry.event.captions["en"]
        assert len(entry.event.captions["en"]) > len(entry.captions["en"])
