"""A small real corpus (PNG images, H.264 videos, text files) indexed by the real indexer with real
encoders in three spaces, for the end-to-end gRPC tests.

Images are coloured shapes on dark backgrounds; every video is three one-second solid-colour shots,
so "which shot" is a well-defined answer for a frame; texts are short documents (well inside every
space's context), so the indexer embeds each as one piece.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from clipsearch.config import Settings, load_settings

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30),
    "green": (40, 190, 60),
    "blue": (40, 90, 250),
    "yellow": (250, 230, 40),
    "purple": (150, 50, 210),
    "white": (245, 245, 245),
}
SHAPES = ("circle", "square", "triangle")
TEXTS = {
    "circle.txt": "a red circle in the middle of a dark picture",
    "square.txt": "a green square at the top left",
    "triangle.txt": "a blue triangle at the bottom right of the image",
    "star.txt": "two yellow stars next to a white cross",
    "sunset.txt": "the sun sets over the sea and the sky turns orange",
}
#: video name → its three shots' colours (one second each).
VIDEOS = {
    "rgb.mp4": ("red", "green", "blue"),
    "ypw.mp4": ("yellow", "purple", "white"),
}
VIDEO_FPS = 10
VIDEO_SIZE = 64


@dataclass(frozen=True, slots=True)
class RealCorpus:
    root: Path
    settings: Settings
    images: dict[str, Path]  # name → file
    videos: dict[str, Path]
    texts: dict[str, Path]


def draw_shape(colour: str, shape: str, background: tuple[int, int, int], size: int = 64) -> Image.Image:
    image = Image.new("RGB", (size, size), background)
    draw = ImageDraw.Draw(image)
    box = (size * 0.2, size * 0.2, size * 0.8, size * 0.8)
    fill = COLOURS[colour]
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    else:
        draw.polygon(
            [(size * 0.5, size * 0.15), (size * 0.85, size * 0.8), (size * 0.15, size * 0.8)], fill=fill
        )
    return image


def shot_frame(colour: str) -> Image.Image:
    """The picture a shot of `colour` shows (solid colour, white marker in the corner)."""
    pixels = np.empty((VIDEO_SIZE, VIDEO_SIZE, 3), dtype=np.uint8)
    pixels[:] = COLOURS[colour]
    pixels[: VIDEO_SIZE // 4, : VIDEO_SIZE // 4] = 255
    return Image.fromarray(pixels)


def write_video(path: Path, colours: tuple[str, ...]) -> Path:
    import av

    with av.open(str(path), mode="w") as container:
        stream: Any = container.add_stream("libx264", rate=VIDEO_FPS)
        stream.width = stream.height = VIDEO_SIZE
        stream.pix_fmt = "yuv420p"
        for colour in colours:
            frame = av.VideoFrame.from_ndarray(np.asarray(shot_frame(colour)), format="rgb24")
            for _ in range(VIDEO_FPS):
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_files(root: Path) -> tuple[dict[str, Path], dict[str, Path], dict[str, Path]]:
    images: dict[str, Path] = {}
    backgrounds = [(15, 15, 18), (70, 70, 75), (15, 60, 65)]
    (root / "images").mkdir(parents=True)
    for i, (colour, shape) in enumerate([(c, s) for c in ("red", "green", "blue", "yellow") for s in SHAPES]):
        name = f"{colour}_{shape}.png"
        draw_shape(colour, shape, backgrounds[i % len(backgrounds)]).save(root / "images" / name)
        images[name] = root / "images" / name
    (root / "videos").mkdir()
    videos = {name: write_video(root / "videos" / name, shots) for name, shots in VIDEOS.items()}
    (root / "texts").mkdir()
    texts: dict[str, Path] = {}
    for name, content in TEXTS.items():
        (root / "texts" / name).write_text(content, encoding="utf-8")
        texts[name] = root / "texts" / name
    return images, videos, texts


def corpus_settings(root: Path, models: dict[str, Path], **search: Any) -> Settings:
    """Three spaces (default 77 tokens, long 248, multilingual) over the corpus folder."""
    spaces: dict[str, Any] = {
        name: {
            "model": f"local-dir:{models[name]}",
            "precision": "fp32",
            "backend": "torch",
            "device": "cpu",
            "role": name,
            **({"languages": ["en", "de", "fr", "es"]} if name == "multilingual" else {}),
        }
        for name in ("default", "long", "multilingual")
    }
    overrides: dict[str, Any] = {
        "data_dir": str(root / "data"),
        "spaces": spaces,
        "collections": {
            "media": {
                "spaces": ["default", "long", "multilingual"],
                "sources": [{"path": str(root / "files")}],
                "video_sampling": "fps:2",
                "index": "Flat",
            }
        },
        # float32 vectors: identical inputs must score 1.0, not 1.0 ± fp16 rounding.
        "indexer": {"decode_workers": 1, "prefetch_batches": 2, "vector_dtype": "float32"},
        "server": {"port": 0, "index_poll_seconds": 0.5, "grace_seconds": 1.0, "workers": 4},
        "search": search,
    }
    return load_settings(None, environ={}, overrides=overrides)


def build_real_corpus(root: Path, models: dict[str, Path]) -> RealCorpus:
    """Write the files, index them in every space with the real pipeline, build + activate indices."""
    from clipsearch.indexer.runner import build_indices, index_collection
    from clipsearch.storage.db import Database

    images, videos, texts = write_files(root / "files")
    settings = corpus_settings(root, models)
    db = Database(settings.database_url)
    db.upgrade()
    try:
        summary = index_collection(settings, db, "media")
        expected = len(images) + len(videos) + len(texts)
        assert not summary.failed and summary.indexed == expected, summary.as_dict()
        outcomes = build_indices(settings, db, "media")
        # Three spaces × (item, frame) indices, every one past the recall gate.
        assert sorted((o.space, o.unit, o.status) for o in outcomes) == [
            (space, unit, "activated")
            for space in ("default", "long", "multilingual")
            for unit in ("frame", "item")
        ], [o.as_dict() for o in outcomes]
    finally:
        db.dispose()
    return RealCorpus(root, settings, images, videos, texts)
