"""Short video clips: a shared background scene with drifting distractors and one brief event object.

The event object is visible only inside `[start_sec, end_sec)` (10–20 % of the clip). Clips are
grouped by background template, so their mean-of-frames vectors look alike and only a frame-level
score finds the moment that matches an event query.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from PIL import Image, ImageDraw

from clipsearch.errors import InvalidRequest
from clipsearch.shapesworld.scene import Scene, ShapeObject, draw_object, random_object, sample_short_scene
from clipsearch.shapesworld.vocab import BACKGROUNDS, COLOURS, SHAPES

#: container -> (codec, pixel format); the first is the default.
VIDEO_FORMATS: dict[str, tuple[str, str]] = {
    "mp4": ("libx264", "yuv420p"),
    "webm": ("libvpx-vp9", "yuv420p"),
    "gif": ("gif", "rgb8"),
}


@dataclass(frozen=True, slots=True)
class VideoSpec:
    """What a clip shows and when; `background` holds the distractors (drawn in every frame)."""

    background: Scene
    template: int
    event: ShapeObject
    duration_sec: float
    fps: int
    start_sec: float
    end_sec: float

    @property
    def n_frames(self) -> int:
        return round(self.duration_sec * self.fps)

    def event_visible(self, t_sec: float) -> bool:
        return self.start_sec <= t_sec < self.end_sec


def sample_background_templates(rng: random.Random, count: int, distractors: int = 1) -> list[Scene]:
    """Background scenes with `distractors` objects each, shared by many clips.

    One distractor by default: with the event object on screen a frame is then a two-object scene,
    the kind the shapes models were trained on.
    """
    return [sample_short_scene(rng, held_out=None, n_objects=distractors) for _ in range(count)]


def sample_video(
    rng: random.Random, background: Scene, template: int, taken: set[tuple[str, str]]
) -> VideoSpec:
    """A clip on `background` whose event object has a colour×shape no other clip's has (`taken`,
    updated), so every event query has one right clip; once all pairs are used they repeat."""
    occupied = {(o.row, o.col) for o in background.objects}
    distractors = {(o.colour, o.shape) for o in background.objects}
    free = [(r, c) for r in range(3) for c in range(3) if (r, c) not in occupied]
    if len(taken) >= len(COLOURS) * len(SHAPES) - len(distractors):
        taken.clear()
    while True:
        row, col = rng.choice(free)
        event = random_object(rng, row, col, allow_held_out=True, size="medium", jitter=0.04)
        key = (event.colour, event.shape)
        if key not in distractors and key not in taken:
            taken.add(key)
            break
    fps = rng.choice((4, 5))
    duration = float(rng.choice((6, 8, 10, 12)))
    n_frames = round(duration * fps)
    # visible for 10–20 % of the clip, on whole frames so the ground truth is exact
    visible = max(2, round(n_frames * rng.uniform(0.10, 0.20)))
    first = rng.randrange(1, n_frames - visible - 1)
    return VideoSpec(
        background=background,
        template=template,
        event=event,
        duration_sec=duration,
        fps=fps,
        start_sec=first / fps,
        end_sec=(first + visible) / fps,
    )


def render_frame(spec: VideoSpec, index: int, size: int = 128) -> Image.Image:
    """Frame `index`: distractors drift on a slow orbit; the event object shows inside its window."""
    t = index / spec.fps
    image = Image.new("RGB", (size, size), BACKGROUNDS[spec.background.background])
    draw = ImageDraw.Draw(image)
    for k, obj in enumerate(spec.background.objects):
        phase = 2 * math.pi * (t / spec.duration_sec) + k
        moved = ShapeObject(
            obj.colour, obj.shape, obj.size, obj.row, obj.col, 0.08 * math.cos(phase), 0.08 * math.sin(phase)
        )
        draw_object(draw, moved, 3, size)
    if spec.event_visible(t):
        draw_object(draw, spec.event, 3, size)
    return image


def frames(spec: VideoSpec, size: int = 128) -> Iterator[Image.Image]:
    for index in range(spec.n_frames):
        yield render_frame(spec, index, size)


def write_video(spec: VideoSpec, path: Path, size: int = 128) -> None:
    """Encode the clip with PyAV; the container follows the suffix (.mp4, .webm, .gif)."""
    import av

    container_kind = path.suffix.lstrip(".").lower()
    if container_kind not in VIDEO_FORMATS:
        raise InvalidRequest(
            f"unsupported video suffix {path.suffix!r} (use one of {', '.join(VIDEO_FORMATS)})"
        )
    codec, pix_fmt = VIDEO_FORMATS[container_kind]
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=Fraction(spec.fps))
        assert isinstance(stream, av.VideoStream)
        stream.width = size
        stream.height = size
        stream.pix_fmt = pix_fmt
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "veryfast"}
        elif codec == "libvpx-vp9":
            stream.options = {"crf": "20", "b": "0", "deadline": "realtime"}
        for index, image in enumerate(frames(spec, size)):
            frame = av.VideoFrame.from_image(image)
            frame.pts = index
            frame.time_base = Fraction(1, spec.fps)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def sample_frames(path: Path, fps: float = 2.0) -> list[tuple[float, Image.Image]]:
    """Decode a video file and keep about `fps` frames per second, with their timestamps (seconds)."""
    import av

    out: list[tuple[float, Image.Image]] = []
    next_t = 0.0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.pts is None or frame.time_base is None:
                continue
            t = float(frame.pts * frame.time_base)
            if t + 1e-6 >= next_t:
                out.append((t, frame.to_image().convert("RGB")))
                next_t = t + 1.0 / fps
    return out
