"""The decode stage: one source item → model-ready inputs for every space (runs in worker threads).

Pillow, PyAV and the tensor transforms release the GIL for most of their work, so a thread pool
overlaps decoding with the encode stage without pickling images between processes.

Each file is read once: the bytes are hashed as they are read, the media type is sniffed from the
first of them, and images and texts decode from the same bytes in memory (videos stream from disk
through PyAV, so they are hashed while read and not held in memory). JPEGs decode at a reduced DCT
scale when the largest model input is much smaller than the picture (`decode_image_sized`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from clipsearch.indexer.decode.images import decode_image_sized
from clipsearch.indexer.decode.text import chunk_text, decode_text
from clipsearch.indexer.decode.video import SamplingPolicy, decode_video
from clipsearch.indexer.failures import DecodeFailed
from clipsearch.indexer.sniff import SNIFF_BYTES, Sniffed, sniff_bytes
from clipsearch.indexer.sources import SourceItem, inline_text_hash

if TYPE_CHECKING:
    import numpy as np

    from clipsearch.indexer.encoders.base import Encoder

log = logging.getLogger(__name__)

MediaType = Literal["image", "video", "text"]
_HASH_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class DecodeLimits:
    max_image_pixels: int
    max_file_bytes: int
    max_video_seconds: float
    max_video_frames: int
    sampling: SamplingPolicy


@dataclass(frozen=True, slots=True)
class SpaceInputs:
    """What one space's encoder needs: preprocessed pixels (images, frames) or text passages."""

    pixels: np.ndarray | None = None
    passages: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Prepared:
    item: SourceItem
    media_type: MediaType
    content_hash: str
    #: True when the content hash matched an indexed asset: nothing to embed.
    unchanged: bool = False
    inputs: Mapping[str, SpaceInputs] = field(default_factory=dict)
    frame_times: tuple[float, ...] = ()
    text: str | None = None
    width: int | None = None
    height: int | None = None
    duration_sec: float | None = None
    failure: DecodeFailed | None = None

    @property
    def units(self) -> int:
        """Model inputs this item costs (for batching)."""
        return max(
            (len(v.passages) + (0 if v.pixels is None else len(v.pixels)) for v in self.inputs.values()),
            default=0,
        )


def guess_media_type(item: SourceItem) -> MediaType:
    """For records of items that failed before their content was seen."""
    if item.declared_kind in ("image", "video", "text"):
        return item.declared_kind  # type: ignore[return-value]
    if item.path is None:
        return "text"
    suffix = item.path.suffix.lower()
    if suffix in {".mp4", ".mov", ".webm", ".mkv", ".avi", ".m4v", ".mpg", ".mpeg", ".ts"}:
        return "video"
    if suffix in {".txt", ".md", ".text", ".rst"}:
        return "text"
    return "image"


def prepare(
    item: SourceItem,
    encoders: Mapping[str, Encoder],
    limits: DecodeLimits,
    *,
    indexed_hash: str | None = None,
) -> Prepared:
    """Decode `item` and preprocess it for each space; a bad input comes back with `failure` set.

    `indexed_hash`: the content hash of the already-indexed version; if the content still hashes the
    same (a touched but unchanged file), nothing is decoded.
    """
    media_type = guess_media_type(item)
    content_hash = ""
    try:
        if item.problem is not None:
            raise item.problem
        if item.path is None:
            content_hash = inline_text_hash(item.text or "", item.captions, item.metadata)
            content = _Content(content_hash, Sniffed("text", "utf8"), (item.text or "").encode("utf-8"))
        else:
            content = _read(item.path, limits.max_file_bytes)
            content_hash = content.sha256
        media_type = _media_type(item, content.sniffed, content.data)
        if indexed_hash is not None and content_hash == indexed_hash:
            return Prepared(item, media_type, content_hash, unchanged=True)
        if media_type == "image":
            return _prepare_image(item, content, encoders, limits)
        if media_type == "video":
            return _prepare_video(item, content_hash, encoders, limits)
        return _prepare_text(item, content, encoders)
    except DecodeFailed as failure:
        return Prepared(item, media_type, content_hash, failure=failure)


@dataclass(frozen=True, slots=True)
class _Content:
    sha256: str
    sniffed: Sniffed
    #: the whole file for images and texts (decoded from memory); None for videos (streamed).
    data: bytes | None


def _read(path: Path, max_bytes: int) -> _Content:
    """One pass over the file: sniff its head, hash everything, keep the bytes unless it is a video."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:
                raise DecodeFailed("too_large", f"{path}: {size} bytes exceeds the limit of {max_bytes}")
            head = handle.read(SNIFF_BYTES)
            if not head:
                raise DecodeFailed("empty", f"{path}: zero bytes")
            sniffed = sniff_bytes(head)
            digest = hashlib.sha256(head)
            if sniffed.kind == "video":
                while chunk := handle.read(_HASH_CHUNK):
                    digest.update(chunk)
                return _Content(digest.hexdigest(), sniffed, None)
            rest = handle.read(max_bytes + 1 - len(head))
            if len(head) + len(rest) > max_bytes:  # grew while being read
                raise DecodeFailed("too_large", f"{path}: more than the limit of {max_bytes} bytes")
            digest.update(rest)
            return _Content(digest.hexdigest(), sniffed, head + rest)
    except FileNotFoundError:
        raise DecodeFailed("not_found", f"{path} does not exist") from None
    except OSError as exc:
        raise DecodeFailed("unreadable", f"{path}: {exc.strerror}") from None


def _media_type(item: SourceItem, sniffed: Sniffed, data: bytes | None) -> MediaType:
    if item.path is None:
        return "text"
    if sniffed.kind == "empty":
        raise DecodeFailed("empty", f"{item.path}: zero bytes")
    declared = item.declared_kind
    if sniffed.format == "gif" and declared != "image" and (declared == "video" or _is_animated(data)):
        return "video"  # an animated GIF is a clip: sampled into frames (a manifest may say "image")
    if declared == "text" and sniffed.kind != "text":
        raise DecodeFailed("unsupported", f"{item.path}: declared text but the content is {sniffed.kind}")
    if sniffed.kind == "unknown":
        raise DecodeFailed(
            "unsupported", f"{item.path}: content matches no supported image, video or text format"
        )
    if sniffed.format == "heif":
        raise DecodeFailed("unsupported", f"{item.path}: HEIF/AVIF images are not supported")
    return sniffed.kind  # type: ignore[return-value]


def _is_animated(data: bytes | None) -> bool:
    if data is None:
        return False
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            return bool(getattr(image, "is_animated", False))
    except Exception:  # a damaged GIF is left to the image decoder, which names the failure
        return False


def _model_side(encoders: Mapping[str, Encoder]) -> int:
    """The largest input side any space needs (0 = unknown: decode in full)."""
    sides = [max(getattr(enc, "image_shape", (0, 0, 0))[1:]) for enc in encoders.values()]
    return 0 if not sides or min(sides) <= 0 else max(sides)


def _prepare_image(
    item: SourceItem, content: _Content, encoders: Mapping[str, Encoder], limits: DecodeLimits
) -> Prepared:
    assert content.data is not None
    decoded = decode_image_sized(content.data, limits.max_image_pixels, min_side=_model_side(encoders))
    inputs = {
        name: SpaceInputs(pixels=_stack([enc.preprocess_image(decoded.image)]))
        for name, enc in encoders.items()
    }
    return Prepared(item, "image", content.sha256, inputs=inputs, width=decoded.width, height=decoded.height)


def _prepare_video(
    item: SourceItem,
    content_hash: str,
    encoders: Mapping[str, Encoder],
    limits: DecodeLimits,
) -> Prepared:
    assert item.path is not None
    video = decode_video(
        Path(item.path),
        limits.sampling,
        max_seconds=limits.max_video_seconds,
        max_frames=limits.max_video_frames,
    )
    inputs = {
        name: SpaceInputs(pixels=_stack([enc.preprocess_image(f.image) for f in video.frames]))
        for name, enc in encoders.items()
    }
    return Prepared(
        item,
        "video",
        content_hash,
        inputs=inputs,
        frame_times=tuple(f.t_sec for f in video.frames),
        width=video.width,
        height=video.height,
        duration_sec=video.duration,
    )


def _prepare_text(item: SourceItem, content: _Content, encoders: Mapping[str, Encoder]) -> Prepared:
    assert content.data is not None
    text = decode_text(content.data, item.key if item.path is None else str(item.path))
    inputs = {
        name: SpaceInputs(passages=tuple(chunk_text(text, enc.count_tokens, max(enc.info.context_length, 3))))
        for name, enc in encoders.items()
    }
    return Prepared(item, "text", content.sha256, inputs=inputs, text=text)


def _stack(arrays: list[Any]) -> np.ndarray:
    import numpy as np

    return np.stack(arrays).astype(np.float32, copy=False)
