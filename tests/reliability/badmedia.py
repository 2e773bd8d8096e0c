"""Generates a corpus of bad (and a few good) media files, each with what the indexer must do with it.

Every file is made here, from scratch, with Pillow / PyAV / plain bytes: nothing is downloaded or
committed. `write_corpus(root)` returns one `MediaCase` per file: either the failure reasons that are
acceptable for it (`clipsearch.indexer.failures.FailureReason`) or the media type it must be indexed as.

Unreadable files: the tests run as root in CI, where `chmod 000` does not stop reads. There the
"unreadable" cases are a FIFO (a directory entry that is not a regular file; reading it would block)
and a dangling symlink; `chmod 000` is added only when the process really cannot read such a file.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

#: duration of the "long video" case; the tests configure `max_video_seconds` below this.
LONG_VIDEO_SECONDS = 40
#: `indexer.max_video_seconds` the tests use with this corpus.
VIDEO_LIMIT_SECONDS = 20.0
#: `indexer.max_image_pixels` the tests use with this corpus (the bomb claims far more).
IMAGE_PIXEL_LIMIT = 40_000_000


@dataclass(frozen=True, slots=True)
class MediaCase:
    #: path relative to the corpus root (forward slashes).
    name: str
    #: one line for the report.
    description: str
    #: acceptable failure reasons; empty = the file is good and must be indexed.
    reasons: frozenset[str] = frozenset()
    #: for good files: the media type it must be indexed as ("image", "video", "text").
    kind: str = ""
    #: False when the file cannot be a row of the item table (no regular file behind the name): the
    #: indexer must still record it as failed, keyed by its path.
    regular: bool = True

    @property
    def good(self) -> bool:
        return not self.reasons


def _gradient(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = rng.integers(0, 255, size=3)
    img = np.stack([(x * 3 + base[0]) % 256, (y * 5 + base[1]) % 256, ((x + y) * 2 + base[2]) % 256], axis=-1)
    return img.astype(np.uint8)


def image_bytes(fmt: str, width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(_gradient(width, height, seed)).save(buffer, format=fmt)
    return buffer.getvalue()


def video_bytes(
    seconds: float, fps: int = 4, size: int = 32, *, frames: bool = True, audio_only: bool = False
) -> bytes:
    """An MP4 (mpeg4 video, or only an AAC audio stream) written with PyAV into memory."""
    import av

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        if audio_only:
            stream: Any = container.add_stream("aac", rate=16000)
            stream.layout = "mono"
            samples = int(seconds * 16000)
            tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start : start + 1024].reshape(1, -1)
                frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                frame.sample_rate = 16000
                frame.pts = start
                frame.time_base = Fraction(1, 16000)
                for packet in stream.encode(frame):
                    container.mux(packet)
            for packet in stream.encode(None):
                container.mux(packet)
        else:
            video: Any = container.add_stream("mpeg4", rate=fps)
            video.width = size
            video.height = size
            video.pix_fmt = "yuv420p"
            if frames:
                for i in range(int(seconds * fps)):
                    image = av.VideoFrame.from_ndarray(_gradient(size, size, i), format="rgb24")
                    for packet in video.encode(image):
                        container.mux(packet)
            for packet in video.encode(None):
                container.mux(packet)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A valid-looking PNG header claiming `width`x`height` with a tiny (wrong) pixel stream."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def _corrupt_middle(data: bytes, seed: int = 7) -> bytes:
    """Keep the header (first 64 bytes) and the end, overwrite the middle with noise."""
    rng = np.random.default_rng(seed)
    middle = len(data) // 2
    noise = rng.integers(0, 256, size=len(data) - 64 - 16, dtype=np.uint8).tobytes()
    return data[:64] + noise[: middle - 64] + noise[middle - 64 :] + data[-16:]


def process_can_read_mode_000() -> bool:
    """True for root (CAP_DAC_OVERRIDE): `chmod 000` then does not make a file unreadable."""
    return os.geteuid() == 0


def write_corpus(root: Path) -> list[MediaCase]:
    """Write the corpus under `root` (created) and return its cases."""
    root.mkdir(parents=True, exist_ok=True)
    cases: list[MediaCase] = []

    def put(
        name: str, data: bytes, description: str, reasons: set[str] | None = None, kind: str = ""
    ) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        cases.append(MediaCase(name, description, frozenset(reasons or ()), kind))

    jpeg, png, webp = (image_bytes(f, seed=i) for i, f in enumerate(("JPEG", "PNG", "WEBP")))
    mp4 = video_bytes(3.0)

    # Good files: must be indexed, with the media type their content says.
    put("good/photo.jpg", jpeg, "valid JPEG", kind="image")
    put("good/drawing.png", png, "valid PNG", kind="image")
    put("good/picture.webp", webp, "valid WebP", kind="image")
    put("good/clip.mp4", mp4, "valid MP4 (3 s, mpeg4)", kind="video")
    put("good/note.txt", b"A red circle on a blue square.\n", "valid UTF-8 text", kind="text")
    put(
        "good/wide.png",
        image_bytes("PNG", 20000, 1, seed=5),
        "extreme aspect ratio 20000x1 PNG",
        kind="image",
    )
    put(
        "good/tall.jpg",
        image_bytes("JPEG", 2, 3000, seed=6),
        "extreme aspect ratio 2x3000 JPEG",
        kind="image",
    )
    # Content decides the type, not the extension: these are good files under misleading names.
    put(
        "misnamed/really_png.mp4",
        image_bytes("PNG", seed=8),
        "PNG named .mp4 (indexed as image)",
        kind="image",
    )
    put(
        "misnamed/really_text.jpg",
        b"plain words in a .jpg file\n",
        "text named .jpg (indexed as text)",
        kind="text",
    )
    put("misnamed/really_mp4.png", video_bytes(2.0), "MP4 named .png (indexed as video)", kind="video")

    # Damaged images.
    put("bad/truncated.jpg", jpeg[: len(jpeg) // 2], "JPEG cut in half", {"truncated", "corrupt"})
    put("bad/truncated.png", png[: len(png) // 2], "PNG cut in half", {"truncated", "corrupt"})
    put("bad/truncated.webp", webp[: len(webp) // 2], "WebP cut in half", {"truncated", "corrupt"})
    put("bad/corrupt.jpg", _corrupt_middle(jpeg), "JPEG with noise in the middle", {"corrupt", "truncated"})
    put("bad/corrupt.png", _corrupt_middle(png), "PNG with noise in the middle", {"corrupt", "truncated"})
    put("bad/corrupt.webp", _corrupt_middle(webp), "WebP with noise in the middle", {"corrupt", "truncated"})
    put("bad/header_only.jpg", jpeg[:20], "JPEG: first 20 bytes only", {"truncated", "corrupt"})
    put("bad/empty.jpg", b"", "zero-byte .jpg", {"empty"})
    put("bad/empty.mp4", b"", "zero-byte .mp4", {"empty"})
    put("bad/empty.txt", b"", "zero-byte .txt", {"empty"})
    put(
        "bad/bomb.png",
        png_claiming(100_000, 100_000),
        "PNG header claiming 100000x100000 pixels",
        {"decompression_bomb"},
    )
    put(
        "bad/random.bin",
        np.random.default_rng(3).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
        "4 KiB of random bytes",
        {"unsupported"},
    )

    # Damaged or unusual video.
    put(
        "bad/corrupt.mp4",
        mp4[:40] + _corrupt_middle(mp4)[40:],
        "MP4 with noise after the ftyp box",
        {"corrupt", "truncated", "no_frames", "no_video_stream"},
    )
    put(
        "bad/truncated.mp4", mp4[: len(mp4) // 3], "MP4 cut to a third", {"corrupt", "truncated", "no_frames"}
    )
    put(
        "bad/audio_only.mp4",
        video_bytes(1.0, audio_only=True),
        "MP4 with only an AAC audio stream",
        {"no_video_stream"},
    )
    put(
        "bad/zero_frames.mp4",
        video_bytes(0, frames=False),
        "MP4 with a video stream and no frames",
        {"no_frames", "corrupt", "empty"},
    )
    put(
        "bad/too_long.mp4",
        video_bytes(LONG_VIDEO_SECONDS, fps=1, size=16),
        f"{LONG_VIDEO_SECONDS} s video over a {VIDEO_LIMIT_SECONDS:.0f} s limit",
        {"too_long"},
    )

    # Text.
    put(
        "bad/latin1.txt",
        "café crème brûlée, naïve résumé\n".encode("latin-1"),
        "Latin-1 text (invalid UTF-8)",
        {"encoding", "unsupported"},
    )
    put(
        "bad/broken_utf8.txt",
        b"valid start " + b"\xc3\x28" + b" invalid two-byte sequence\n",
        "invalid UTF-8 sequence in text",
        {"encoding", "unsupported"},
    )
    put("bad/whitespace.txt", b"  \n\t \n", "text with only whitespace", {"empty"})
    put(
        "bad/nul_bytes.txt",
        b"text\x00with\x00nul bytes" * 20,
        "text with NUL bytes (binary)",
        {"unsupported"},
    )

    # Names that are not regular readable files.
    links = root / "links"
    links.mkdir(exist_ok=True)
    (links / "loop_a.jpg").symlink_to("loop_b.jpg")
    (links / "loop_b.jpg").symlink_to("loop_a.jpg")
    cases.append(
        MediaCase(
            "links/loop_a.jpg",
            "symlink loop (a -> b -> a)",
            frozenset({"unreadable", "not_found"}),
            regular=False,
        )
    )
    cases.append(
        MediaCase(
            "links/loop_b.jpg",
            "symlink loop (b -> a -> b)",
            frozenset({"unreadable", "not_found"}),
            regular=False,
        )
    )
    (links / "dangling.png").symlink_to("does-not-exist.png")
    cases.append(
        MediaCase(
            "links/dangling.png", "dangling symlink", frozenset({"not_found", "unreadable"}), regular=False
        )
    )
    # A directory link back to its parent: the walk must end and index the file inside once.
    (links / "self").symlink_to(".", target_is_directory=True)
    fifo = root / "special" / "pipe.jpg"
    fifo.parent.mkdir(exist_ok=True)
    os.mkfifo(fifo)
    cases.append(
        MediaCase(
            "special/pipe.jpg",
            "FIFO named .jpg (reading would block)",
            frozenset({"unreadable", "unsupported"}),
            regular=False,
        )
    )
    if not process_can_read_mode_000():
        put("special/no_permission.jpg", jpeg, "JPEG with mode 000", {"unreadable"})
        (root / "special" / "no_permission.jpg").chmod(0)
    return cases


def good_cases(cases: list[MediaCase]) -> list[MediaCase]:
    return [case for case in cases if case.good]


def bad_cases(cases: list[MediaCase]) -> list[MediaCase]:
    return [case for case in cases if not case.good]
