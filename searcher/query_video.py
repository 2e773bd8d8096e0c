"""A query video (bytes) → a few uniformly sampled RGB frames (PyAV), with limits checked first."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from clipsearch.errors import InvalidRequest

if TYPE_CHECKING:
    from PIL import Image


def sample_query_video(data: bytes, max_frames: int, max_seconds: float) -> list[Image.Image]:
    """Decode all frames' timestamps cheaply, keep `max_frames` spread uniformly over the clip."""
    import av

    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise InvalidRequest("video has no video stream")
            stream = container.streams.video[0]
            duration = _duration_seconds(container, stream)
            if duration is not None and duration > max_seconds:
                raise InvalidRequest(
                    f"video lasts {duration:.1f} s; the limit for a query is {max_seconds:.0f} s"
                )
            frames = [frame.to_image() for frame in container.decode(stream)]
    except InvalidRequest:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise InvalidRequest(f"video cannot be decoded: {exc}") from None
    if not frames:
        raise InvalidRequest("video has no decodable frames")
    if len(frames) <= max_frames:
        return [f.convert("RGB") for f in frames]
    step = len(frames) / max_frames
    return [frames[int(step * i + step / 2)].convert("RGB") for i in range(max_frames)]


def _duration_seconds(container: object, stream: object) -> float | None:
    duration = getattr(stream, "duration", None)
    time_base = getattr(stream, "time_base", None)
    if duration is not None and time_base is not None:
        return float(duration * time_base)
    total = getattr(container, "duration", None)
    return total / 1_000_000 if total else None
