"""Real media files for indexer tests, written with Pillow and PyAV (small, fast, deterministic)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

COLOURS = [(230, 30, 30), (30, 200, 40), (40, 60, 230), (240, 220, 20), (200, 40, 200), (20, 210, 210)]


def write_image(
    path: Path,
    colour: tuple[int, int, int] = (200, 30, 30),
    size: tuple[int, int] = (64, 48),
    fmt: str | None = None,
) -> Path:
    """A solid image with a white square in the top-left corner (so orientation is visible)."""
    image = Image.new("RGB", size, colour)
    image.paste((255, 255, 255), (0, 0, max(2, size[0] // 4), max(2, size[1] // 4)))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)
    return path


def write_video(
    path: Path,
    colours: Sequence[tuple[int, int, int]],
    *,
    seconds_per_colour: float = 1.0,
    fps: int = 10,
    size: tuple[int, int] = (64, 48),
    codec: str = "libx264",
    rotation: int | None = None,
    gop: int | None = None,
    marker: bool = True,
    container_format: str | None = None,
) -> Path:
    """A video of solid-colour shots (one per colour), optionally with display-rotation metadata.

    With `marker`, a white block sits in the top-left corner of every frame.
    """
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    with av.open(str(path), mode="w", format=container_format) as container:
        pix_fmt = "rgb8" if codec == "gif" else "yuv420p"
        stream: Any = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        if gop is not None:
            stream.codec_context.gop_size = gop
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for colour in colours:
            frame_pixels = np.empty((height, width, 3), dtype=np.uint8)
            frame_pixels[:] = colour
            if marker:
                frame_pixels[: height // 4, : width // 4] = 255
            for _ in range(round(seconds_per_colour * fps)):
                frame = av.VideoFrame.from_ndarray(frame_pixels, format="rgb24")
                for packet in stream.encode(frame):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_audio_only(path: Path) -> Path:
    """An MP4/M4A-like container with only an audio stream."""
    import av

    with av.open(str(path), mode="w", format="mp4") as container:
        stream: Any = container.add_stream("aac", rate=8000)
        samples = np.zeros((1, 1024), dtype=np.float32)
        for _ in range(8):
            frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            frame.sample_rate = 8000
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_animated_gif(path: Path, colours: Sequence[tuple[int, int, int]], frame_ms: int = 200) -> Path:
    frames = [Image.new("RGB", (40, 30), colour) for colour in colours]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0)
    return path


def dominant(image: Image.Image) -> tuple[int, int, int]:
    """The colour at the centre of the bottom-right quarter (away from the marker)."""
    width, height = image.size
    r, g, b = image.convert("RGB").getpixel((width * 3 // 4, height * 3 // 4))  # type: ignore[misc]
    return int(r), int(g), int(b)


def close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))
