"""Video with PyAV: sample frames by a policy, with timestamps, upright, within limits.

Policies: `fps:N` (N frames per second, default 1), `uniform:N` (N frames spread evenly over the
video, CLIP4Clip style) and `scenes` (shot changes by colour-histogram difference, one keyframe per
shot and one more for every `scene_keyframe_seconds` of a long shot).

Sparse targets are reached by seeking to the keyframe before each target instead of decoding
everything in between; dense targets decode straight through (seeking would decode the same GOP twice).
"""

from __future__ import annotations

import itertools
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from clipsearch.errors import InvalidRequest
from clipsearch.indexer.failures import DecodeFailed

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

log = logging.getLogger(__name__)

#: seek instead of decoding forward when the next target is this many seconds ahead.
SEEK_GAP_SECONDS = 2.0
#: frames per second looked at by shot-change detection.
SCENE_ANALYSIS_FPS = 6.0
#: a histogram difference (0..1, half the L1 distance) above this is a cut.
SCENE_CUT_THRESHOLD = 0.3
SCENE_MIN_SHOT_SECONDS = 0.4


@dataclass(frozen=True, slots=True)
class SamplingPolicy:
    kind: Literal["fps", "uniform", "scenes"]
    value: float = 0.0
    #: `scenes`: one extra keyframe per this many seconds of a long shot.
    scene_keyframe_seconds: float = 10.0

    @classmethod
    def parse(cls, text: str) -> SamplingPolicy:
        if text == "scenes":
            return cls("scenes")
        kind, _, arg = text.partition(":")
        try:
            value = float(arg)
        except ValueError:
            value = -1.0
        if kind in ("fps", "uniform") and value > 0 and math.isfinite(value):
            if kind == "uniform" and value != int(value):
                raise InvalidRequest(f"video sampling '{text}': uniform:N needs a whole number of frames")
            return cls(kind, value)  # type: ignore[arg-type]
        raise InvalidRequest(f"video sampling '{text}' must be 'fps:N', 'uniform:N' or 'scenes'")

    def __str__(self) -> str:
        if self.kind == "scenes":
            return "scenes"
        return f"{self.kind}:{int(self.value) if self.value == int(self.value) else self.value}"


@dataclass(frozen=True, slots=True)
class SampledFrame:
    t_sec: float
    image: Image.Image


@dataclass(frozen=True, slots=True)
class DecodedVideo:
    frames: tuple[SampledFrame, ...]
    #: seconds (declared by the container, else measured from packet timestamps).
    duration: float
    #: display size (after rotation).
    width: int
    height: int
    #: degrees counter-clockwise applied to make frames upright.
    rotation: int
    fps: float


def decode_video(
    path: Path,
    policy: SamplingPolicy,
    *,
    max_seconds: float,
    max_frames: int,
    short_side: int = 448,
) -> DecodedVideo:
    """Sample frames from the first video stream of `path` (MP4, MOV, WebM, MKV, AVI, animated GIF).

    Frames are scaled so their short side is at most `short_side` (CLIP models look at 224-336 px).
    """
    name = str(path)
    with _open(path) as container:
        stream = _video_stream(container, name)
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        duration = _declared_duration(container, stream)
    if duration is None or duration <= 0:
        duration = _measured_duration(path, name)
    if duration > max_seconds:
        raise DecodeFailed("too_long", f"{name}: {duration:.1f} s exceeds the limit of {max_seconds:.0f} s")
    if policy.kind == "scenes":
        targets = _scene_targets(path, name, duration, policy.scene_keyframe_seconds, max_seconds)
    elif policy.kind == "uniform":
        count = int(policy.value)
        targets = [(i + 0.5) * duration / count for i in range(count)]
    else:
        step = 1.0 / policy.value
        targets = [i * step for i in range(max(1, math.ceil(duration / step - 1e-9)))]
    if len(targets) > max_frames:
        log.info(
            "%s: %d sample times capped to %d (indexer.max_video_frames)", name, len(targets), max_frames
        )
        targets = [targets[int((i + 0.5) * len(targets) / max_frames)] for i in range(max_frames)]
    frames, rotation = _extract(path, name, targets, fps, duration, max_seconds, short_side)
    width, height = frames[0].image.size
    return DecodedVideo(tuple(frames), duration, width, height, rotation, fps)


# ---------------------------------------------------------------- opening and metadata


def _open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except FileNotFoundError:
        raise DecodeFailed("not_found", f"{path} does not exist") from None
    except PermissionError as exc:
        raise DecodeFailed("unreadable", f"{path}: {exc.strerror}") from None
    except av.error.FFmpegError as exc:
        reason = "truncated" if _iso_box_truncated(path) else _reason_for(exc)
        raise DecodeFailed(reason, f"{path}: {_message(exc)}") from None


def _iso_box_truncated(path: Path) -> bool:
    """An MP4/MOV whose top-level boxes run past the end of the file was cut short."""
    try:
        with path.open("rb") as handle:
            size = path.stat().st_size
            offset = 0
            while offset + 8 <= size:
                handle.seek(offset)
                header = handle.read(16)
                length = int.from_bytes(header[:4], "big")
                if offset == 0 and header[4:8] != b"ftyp":
                    return False
                if length == 1 and len(header) >= 16:
                    length = int.from_bytes(header[8:16], "big")
                elif length == 0:
                    return False  # "extends to the end of the file"
                if length < 8:
                    return False
                offset += length
            return offset > size
    except OSError:
        return False


def _reason_for(exc: Exception) -> Literal["corrupt", "truncated", "unsupported"]:
    import av

    text = _message(exc).lower()
    if "moov atom not found" in text or "end of file" in text or isinstance(exc, av.error.EOFError):
        return "truncated"
    if isinstance(exc, av.error.InvalidDataError):
        return "corrupt"
    if isinstance(exc, av.error.PatchWelcomeError | av.error.DecoderNotFoundError):
        return "unsupported"
    return "corrupt"


def _message(exc: Exception) -> str:
    return getattr(exc, "strerror", None) or str(exc)


def _video_stream(container: Any, name: str) -> Any:
    streams = container.streams.video
    if not streams:
        raise DecodeFailed("no_video_stream", f"{name}: container has no video stream")
    stream = streams[0]
    stream.thread_type = "AUTO"
    return stream


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return float(container.duration) / 1_000_000  # AV_TIME_BASE
    return None


def _measured_duration(path: Path, name: str) -> float:
    """Duration from packet timestamps (no decoding) for containers that do not declare one."""
    import av

    end = 0.0
    with _open(path) as container:
        stream = _video_stream(container, name)
        base = float(stream.time_base or 0)
        start = float(stream.start_time or 0) * base
        try:
            for packet in container.demux(stream):
                if packet.pts is not None:
                    end = max(end, (packet.pts + (packet.duration or 0)) * base - start)
        except av.error.FFmpegError as exc:
            if end == 0:
                raise DecodeFailed(_reason_for(exc), f"{name}: {_message(exc)}") from None
    return end


# ---------------------------------------------------------------- frame extraction


def _extract(
    path: Path,
    name: str,
    targets: list[float],
    fps: float,
    duration: float,
    max_seconds: float,
    short_side: int,
) -> tuple[list[SampledFrame], int]:
    import av

    tolerance = 0.5 / fps if fps > 0 else 0.0
    frames: list[SampledFrame] = []
    rotation: int | None = None
    last_t = -math.inf
    with _open(path) as container:
        stream = _video_stream(container, name)
        base = float(stream.time_base or 0)
        start_pts = stream.start_time or 0
        seekable = base > 0 and container.format.name not in ("gif",)
        decoded: Iterator[Any] | None = None
        index = 0
        try:
            for target in targets:
                if seekable and target - max(last_t, 0.0) > SEEK_GAP_SECONDS:
                    try:
                        container.seek(int(target / base) + start_pts, stream=stream, backward=True)
                        decoded = None
                    except av.error.FFmpegError:
                        seekable = False
                if decoded is None:
                    decoded = container.decode(stream)
                chosen = None
                for frame in decoded:
                    index += 1
                    t = _frame_time(frame, base, start_pts, index, fps)
                    last_t = t
                    if t > max_seconds:
                        raise DecodeFailed("too_long", f"{name}: frames beyond {max_seconds:.0f} s")
                    if t + tolerance >= target:
                        chosen = (t, frame)
                        break
                if chosen is None:
                    break  # the stream ended before this target
                if rotation is None:
                    rotation = _rotation(chosen[1], stream)
                frames.append(SampledFrame(round(chosen[0], 3), _to_image(chosen[1], rotation, short_side)))
        except av.error.FFmpegError as exc:
            if not frames:
                raise DecodeFailed(_reason_for(exc), f"{name}: {_message(exc)}") from None
            log.warning("%s: decoding stopped at %.1f s: %s", name, last_t, _message(exc))
    if not frames:
        raise DecodeFailed("no_frames", f"{name}: no decodable video frame")
    if duration > 2.0 and last_t < 0.5 * duration and len(frames) < len(targets):
        raise DecodeFailed(
            "truncated", f"{name}: frames end at {max(last_t, 0):.1f} s of a declared {duration:.1f} s"
        )
    return frames, rotation or 0


def _frame_time(frame: Any, base: float, start_pts: int, index: int, fps: float) -> float:
    if frame.pts is not None and base > 0:
        return max(0.0, (frame.pts - start_pts) * base)
    return (index - 1) / fps if fps > 0 else 0.0


def _rotation(frame: Any, stream: Any) -> int:
    """Degrees counter-clockwise that make the frame upright (display matrix, else the `rotate` tag)."""
    angle = 0.0
    try:
        angle = float(frame.rotation or 0)
    except (AttributeError, ValueError):
        angle = 0.0
    if angle == 0:
        tag = (stream.metadata or {}).get("rotate")
        if tag:
            try:
                angle = -float(tag)  # the tag is clockwise
            except ValueError:
                angle = 0.0
    return round(angle / 90.0) * 90 % 360


def _to_image(frame: Any, rotation: int, short_side: int) -> Image.Image:
    from PIL import Image

    width, height = frame.width, frame.height
    scale = min(1.0, short_side / max(1, min(width, height)))
    if scale < 1.0:
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    image: Image.Image = frame.to_image(width=width, height=height)
    if image.mode != "RGB":
        image = image.convert("RGB")
    transpose = {
        90: Image.Transpose.ROTATE_90,
        180: Image.Transpose.ROTATE_180,
        270: Image.Transpose.ROTATE_270,
    }
    if rotation in transpose:
        image = image.transpose(transpose[rotation])
    return image


# ---------------------------------------------------------------- shot detection


def _scene_targets(
    path: Path, name: str, duration: float, per_seconds: float, max_seconds: float
) -> list[float]:
    """Sample times for `scenes`: the middle of each shot, plus one per `per_seconds` of long shots."""
    cuts = detect_shot_changes(path, name, max_seconds)
    bounds = [0.0, *cuts, max(duration, cuts[-1] + 1e-3 if cuts else duration)]
    targets: list[float] = []
    for start, end in itertools.pairwise(bounds):
        length = max(end - start, 1e-3)
        count = max(1, math.ceil(length / per_seconds))
        targets.extend(start + (i + 0.5) * length / count for i in range(count))
    return targets


def detect_shot_changes(path: Path, name: str, max_seconds: float = math.inf) -> list[float]:
    """Times (s) where a new shot starts: large jumps between colour histograms of nearby frames."""
    import av

    cuts: list[float] = []
    previous: np.ndarray | None = None
    next_look = 0.0
    last_cut = 0.0
    with _open(path) as container:
        stream = _video_stream(container, name)
        base = float(stream.time_base or 0)
        start_pts = stream.start_time or 0
        fps = float(stream.average_rate or stream.guessed_rate or 0.0)
        try:
            for index, frame in enumerate(container.decode(stream), start=1):
                t = _frame_time(frame, base, start_pts, index, fps)
                if t > max_seconds:
                    raise DecodeFailed("too_long", f"{name}: frames beyond {max_seconds:.0f} s")
                if t + 1e-6 < next_look:
                    continue
                next_look = t + 1.0 / SCENE_ANALYSIS_FPS
                histogram = _histogram(frame)
                if previous is not None:
                    difference = 0.5 * float(abs(histogram - previous).sum())
                    if difference > SCENE_CUT_THRESHOLD and t - last_cut >= SCENE_MIN_SHOT_SECONDS:
                        cuts.append(round(t, 3))
                        last_cut = t
                previous = histogram
        except av.error.FFmpegError as exc:
            if previous is None:
                raise DecodeFailed(_reason_for(exc), f"{name}: {_message(exc)}") from None
    return cuts


def _histogram(frame: Any) -> np.ndarray:
    """A normalised 3×16-bin RGB histogram of a 64×36 thumbnail (sums to 1)."""
    import numpy as np

    pixels = frame.to_ndarray(width=64, height=36, format="rgb24").reshape(-1, 3)
    bins = (pixels >> 4).astype(np.int64)  # 16 levels per channel
    counts = np.concatenate([np.bincount(bins[:, c], minlength=16) for c in range(3)]).astype(np.float64)
    result: np.ndarray = counts / counts.sum()
    return result
