"""Retrieval-quality measurements on a shapes-world corpus (used by bench/quality.py and the tests).

Every function takes an encoder with the `Encoder` batch methods (`encode_images`,
`encode_texts`, `encode_frames`: L2-normalised float32 rows) and a `CorpusManifest`, and
evaluates on the held-out (test) split only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image

from clipsearch.errors import InvalidRequest
from clipsearch.shapesworld.corpus import CorpusManifest, ManifestEntry
from clipsearch.shapesworld.video import sample_frames


class SupportsEncode(Protocol):
    def encode_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_frames(self, frames: Sequence[Image.Image]) -> np.ndarray: ...

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray: ...


@dataclass(frozen=True, slots=True)
class VideoFrames:
    """Sampled frames of one clip: timestamps and their (normalised) vectors."""

    entry: ManifestEntry
    times: np.ndarray
    vectors: np.ndarray

    @property
    def holistic(self) -> np.ndarray:
        """Mean of the frame vectors, re-normalised (CLIP4Clip meanP)."""
        mean = self.vectors.mean(axis=0)
        return mean / max(float(np.linalg.norm(mean)), 1e-12)


def recall_at_k(
    similarity: np.ndarray, targets: Sequence[int], ks: Sequence[int] = (1, 5, 10)
) -> dict[int, float]:
    """Fraction of queries (rows) whose target column ranks within the top k."""
    sim = np.asarray(similarity, dtype=np.float64)
    target = np.asarray(targets)
    if sim.ndim != 2 or len(target) != sim.shape[0]:
        raise InvalidRequest("similarity must be queries × gallery with one target per query")
    target_scores = sim[np.arange(len(target)), target]
    # rank = how many gallery items score strictly higher than the target (ties favour the target)
    ranks = (sim > target_scores[:, None]).sum(axis=1)
    return {k: float((ranks < k).mean()) for k in ks}


def _load_images(manifest: CorpusManifest, entries: Sequence[ManifestEntry]) -> list[Image.Image]:
    images = []
    for entry in entries:
        with Image.open(manifest.path(entry)) as image:
            images.append(image.convert("RGB"))
    return images


def held_out_short_images(manifest: CorpusManifest) -> list[ManifestEntry]:
    entries = manifest.select(type="image", split="test", kind="short")
    if not entries:
        raise InvalidRequest(f"corpus {manifest.root} has no test-split short images")
    return entries


def short_retrieval(
    encoder: SupportsEncode, manifest: CorpusManifest, lang: str = "en", ks: Sequence[int] = (1, 5, 10)
) -> dict[str, dict[int, float]]:
    """Text→image and image→text recall on the test split's short captions."""
    entries = held_out_short_images(manifest)
    images = encoder.encode_images(_load_images(manifest, entries))
    texts = encoder.encode_texts([e.captions[lang] for e in entries])
    sim = texts @ images.T
    targets = list(range(len(entries)))
    return {"t2i": recall_at_k(sim, targets, ks), "i2t": recall_at_k(sim.T, targets, ks)}


def per_language_t2i(
    encoder: SupportsEncode, manifest: CorpusManifest, languages: Sequence[str] = ("en", "de", "fr", "es")
) -> dict[str, float]:
    """Text→image R@1 with the same test images queried in each language."""
    entries = held_out_short_images(manifest)
    images = encoder.encode_images(_load_images(manifest, entries))
    targets = list(range(len(entries)))
    out = {}
    for lang in languages:
        texts = encoder.encode_texts([e.captions[lang] for e in entries])
        out[lang] = recall_at_k(texts @ images.T, targets, (1,))[1]
    return out


def long_caption_t2i(encoder: SupportsEncode, manifest: CorpusManifest, lang: str = "en") -> dict[str, float]:
    """Text→image R@1 with full long captions over the long scenes (members of a family differ
    only past token 77); also the within-family chance level."""
    entries = manifest.select(type="image", split="test", kind="long")
    if not entries:
        raise InvalidRequest(f"corpus {manifest.root} has no long-caption scenes")
    images = encoder.encode_images(_load_images(manifest, entries))
    texts = encoder.encode_texts([(e.long_caption or {})[lang] for e in entries])
    targets = list(range(len(entries)))
    family_sizes: dict[str, int] = {}
    for e in entries:
        family_sizes[e.metadata["family"]] = family_sizes.get(e.metadata["family"], 0) + 1
    chance = float(np.mean([1.0 / family_sizes[e.metadata["family"]] for e in entries]))
    return {"r1": recall_at_k(texts @ images.T, targets, (1,))[1], "family_chance": chance, "n": len(entries)}


def video_frames(encoder: SupportsEncode, manifest: CorpusManifest, fps: float = 2.0) -> list[VideoFrames]:
    """Decode every test video with PyAV at about `fps` and encode its frames."""
    out = []
    for entry in manifest.select(type="video", split="test"):
        sampled = sample_frames(manifest.path(entry), fps)
        if not sampled:
            raise InvalidRequest(f"video {entry.path} has no decodable frames")
        vectors = encoder.encode_frames([image for _, image in sampled])
        out.append(VideoFrames(entry, np.array([t for t, _ in sampled]), vectors))
    return out


def video_retrieval(
    encoder: SupportsEncode, videos: Sequence[VideoFrames], lang: str = "en"
) -> dict[str, float]:
    """Event queries against holistic (mean-of-frames) vectors: R@1/R@5, plus how often the best
    frame of the right video (max cosine) falls inside its event window."""
    if not videos:
        raise InvalidRequest("no videos to evaluate")
    queries = encoder.encode_texts([v.entry.captions[lang] for v in videos])
    holistic = np.stack([v.holistic for v in videos])
    recall = recall_at_k(queries @ holistic.T, list(range(len(videos))), (1, 5))
    in_window = []
    for query, video in zip(queries, videos, strict=True):
        best = int(np.argmax(video.vectors @ query))
        event = video.entry.event
        in_window.append(event is not None and event.contains(float(video.times[best])))
    return {
        "r1": recall[1],
        "r5": recall[5],
        "best_frame_in_window": float(np.mean(in_window)),
        "n": len(videos),
    }


def frame_max_retrieval(
    encoder: SupportsEncode, videos: Sequence[VideoFrames], lang: str = "en"
) -> dict[str, float]:
    """Reference only: R@1 when videos are ranked by their best frame (max cosine) alone."""
    queries = encoder.encode_texts([v.entry.captions[lang] for v in videos])
    sim = np.stack([(v.vectors @ queries.T).max(axis=0) for v in videos], axis=1)
    recall = recall_at_k(sim, list(range(len(videos))), (1, 5))
    return {"r1": recall[1], "r5": recall[5]}
