"""`generate_corpus`: images, long-caption scenes, videos and text documents plus a JSONL manifest.

Layout under `out_dir`:

    images/img-00000.png     short scenes (train and test split)
    long/long-00000.png      long-caption scenes, in families of 4 that differ only in the bottom row
    videos/vid-00000.mp4     clips (.mp4 mostly, some .webm and .gif) with one event window each
    texts/doc-00000.txt      caption documents and distractor paragraphs
    manifest.jsonl           one line per asset (see `ManifestEntry`)

Everything is a pure function of `seed` (and the counts): the same call writes the same files.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from clipsearch.errors import DataCorrupt, InvalidRequest, NotFound
from clipsearch.shapesworld.captions import captions_all_languages, object_phrase
from clipsearch.shapesworld.scene import (
    Scene,
    reading_order,
    render_scene,
    sample_long_family,
    sample_split_scene,
)
from clipsearch.shapesworld.texts import caption_document, distractor_paragraph
from clipsearch.shapesworld.video import VideoSpec, sample_background_templates, sample_video, write_video
from clipsearch.shapesworld.vocab import LANGUAGES

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.jsonl"
LONG_FAMILY_SIZE = 4
VIDEOS_PER_TEMPLATE = 6


@dataclass(frozen=True, slots=True)
class EventWindow:
    """When a clip's event object is on screen: `[start_sec, end_sec)`.

    `captions` (language -> caption) describe the whole frame while the event is on screen, in the
    models' training style: the natural query for "find the moment" (the object phrase alone in the
    entry's `captions` names less of what is visible).
    """

    start_sec: float
    end_sec: float
    duration_sec: float
    fps: int
    captions: dict[str, str] = field(default_factory=dict)

    def contains(self, t_sec: float) -> bool:
        return self.start_sec <= t_sec < self.end_sec


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One asset. `captions` maps language -> caption (for videos: the event query)."""

    id: str
    type: str  # "image" | "video" | "text"
    path: str  # relative to the corpus root
    split: str  # "train" | "test"
    captions: dict[str, str] = field(default_factory=dict)
    long_caption: dict[str, str] | None = None
    event: EventWindow | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, line: str) -> ManifestEntry:
        data = json.loads(line)
        event = data.get("event")
        return cls(
            id=data["id"],
            type=data["type"],
            path=data["path"],
            split=data["split"],
            captions=data.get("captions") or {},
            long_caption=data.get("long_caption"),
            event=EventWindow(**event) if event else None,
            metadata=data.get("metadata") or {},
        )


@dataclass(frozen=True, slots=True)
class CorpusManifest:
    root: Path
    entries: tuple[ManifestEntry, ...]

    def select(
        self, type: str | None = None, split: str | None = None, kind: str | None = None
    ) -> list[ManifestEntry]:
        return [
            e
            for e in self.entries
            if (type is None or e.type == type)
            and (split is None or e.split == split)
            and (kind is None or e.metadata.get("kind") == kind)
        ]

    def path(self, entry: ManifestEntry) -> Path:
        return self.root / entry.path

    def __iter__(self) -> Iterator[ManifestEntry]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)


def load_manifest(root_or_file: str | Path) -> CorpusManifest:
    path = Path(root_or_file)
    if path.is_dir():
        path = path / MANIFEST_NAME
    if not path.is_file():
        raise NotFound(f"no shapes-world manifest at {path}")
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(ManifestEntry.from_json(line))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataCorrupt(f"{path}:{number}: not a manifest entry ({exc})") from None
    return CorpusManifest(path.parent, tuple(entries))


def _scene_metadata(scene: Scene, kind: str) -> dict[str, Any]:
    return {
        "kind": kind,
        "count": len(scene.objects),
        "colours": sorted({o.colour for o in scene.objects}),
        "shapes": sorted({o.shape for o in scene.objects}),
        "sizes": sorted({o.size for o in scene.objects}),
        "background": scene.background,
        "held_out_pair": scene.has_held_out_pair,
        "objects": [
            {"colour": o.colour, "shape": o.shape, "size": o.size, "row": o.row, "col": o.col}
            for o in scene.objects
        ],
    }


def _video_suffix(index: int) -> str:
    # mostly MP4 (H.264); every sixth clip WebM (VP9) and every sixth GIF
    return {4: "webm", 5: "gif"}.get(index % 6, "mp4")


def generate_corpus(
    out_dir: str | Path,
    images: int = 200,
    videos: int = 12,
    texts: int = 20,
    long_scenes: int = 16,
    seed: int = 0,
    test_fraction: float = 0.5,
    image_size: int = 128,
) -> CorpusManifest:
    """Write a shapes-world corpus and its manifest; returns the manifest.

    Short images are split train/test by `test_fraction` (test scenes hold out colour×shape pairs,
    see `vocab.HELD_OUT_PAIRS`); long scenes and videos are evaluation assets (split "test").
    """
    if min(images, videos, texts, long_scenes) < 0:
        raise InvalidRequest("counts must be >= 0")
    if not 0.0 <= test_fraction <= 1.0:
        raise InvalidRequest("test_fraction must be within [0, 1]")
    if image_size < 32 or image_size % 2:
        raise InvalidRequest("image_size must be an even number >= 32")
    root = Path(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    entries: list[ManifestEntry] = []

    n_test = round(images * test_fraction)
    seen_test: set[str] = set()
    test_images: list[ManifestEntry] = []
    for i in range(images):
        split = "test" if i >= images - n_test else "train"
        while True:
            scene = sample_split_scene(rng, split)
            captions = captions_all_languages(scene)
            # test captions are unique, so every text query has exactly one right image
            if split == "train" or captions["en"] not in seen_test:
                break
        if split == "test":
            seen_test.add(captions["en"])
        rel = f"images/img-{i:05d}.png"
        _save(scene, root, rel, image_size)
        entry = ManifestEntry(
            f"img-{i:05d}", "image", rel, split, captions, None, None, _scene_metadata(scene, "short")
        )
        entries.append(entry)
        if split == "test":
            test_images.append(entry)

    families = -(-long_scenes // LONG_FAMILY_SIZE) if long_scenes else 0
    index = 0
    for family in range(families):
        for scene in sample_long_family(rng, LONG_FAMILY_SIZE, allow_held_out=True):
            if index >= long_scenes:
                break
            rel = f"long/long-{index:05d}.png"
            _save(scene, root, rel, image_size)
            long_meta = _scene_metadata(scene, "long") | {"family": f"fam-{family:04d}"}
            long_caps = captions_all_languages(scene, long=True)
            entries.append(
                ManifestEntry(f"long-{index:05d}", "image", rel, "test", {}, long_caps, None, long_meta)
            )
            index += 1

    templates = sample_background_templates(rng, max(1, -(-videos // VIDEOS_PER_TEMPLATE))) if videos else []
    taken: set[tuple[str, str]] = set()
    for i in range(videos):
        template = i % len(templates)
        spec = sample_video(rng, templates[template], template, taken)
        rel = f"videos/vid-{i:05d}.{_video_suffix(i)}"
        write_video(spec, root / rel, image_size)
        entries.append(_video_entry(f"vid-{i:05d}", rel, spec))

    for i in range(texts):
        rel = f"texts/doc-{i:05d}.txt"
        (root / "texts").mkdir(parents=True, exist_ok=True)
        if i % 2 == 0 and test_images:
            about = test_images[(i // 2) % len(test_images)]
            lang = LANGUAGES[(i // 2) % len(LANGUAGES)]
            body = caption_document(about.captions[lang], Path(about.path).name)
            meta: dict[str, Any] = {"kind": "caption", "about": about.id, "language": lang}
            captions = {lang: about.captions[lang]}
        else:
            body = distractor_paragraph(rng)
            meta = {"kind": "distractor", "language": "en"}
            captions = {}
        (root / rel).write_text(body, encoding="utf-8")
        entries.append(ManifestEntry(f"doc-{i:05d}", "text", rel, "test", captions, None, None, meta))

    manifest = CorpusManifest(root, tuple(entries))
    with open(root / MANIFEST_NAME, "w", encoding="utf-8") as handle:
        for entry in entries:
            handle.write(entry.to_json() + "\n")
    log.info("wrote %d assets to %s", len(entries), root)
    return manifest


def _save(scene: Scene, root: Path, rel: str, size: int) -> None:
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    render_scene(scene, size).save(target)


def _video_entry(asset_id: str, rel: str, spec: VideoSpec) -> ManifestEntry:
    captions = {lang: object_phrase(spec.event, lang) for lang in LANGUAGES}
    meta = {
        "kind": "video",
        "template": spec.template,
        "event_object": {"colour": spec.event.colour, "shape": spec.event.shape, "size": spec.event.size,
                         "row": spec.event.row, "col": spec.event.col},
        "distractors": [{"colour": o.colour, "shape": o.shape} for o in spec.background.objects],
        "background": spec.background.background,
        "format": Path(rel).suffix.lstrip("."),
        "n_frames": spec.n_frames,
    }  # fmt: skip
    moment = Scene(reading_order((*spec.background.objects, spec.event)), spec.background.background)
    event = EventWindow(
        spec.start_sec, spec.end_sec, spec.duration_sec, spec.fps, captions_all_languages(moment)
    )
    return ManifestEntry(asset_id, "video", rel, "test", captions, None, event, meta)
