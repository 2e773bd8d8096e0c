"""Media type by content (magic bytes), not by file extension.

A `.jpg` that is really a PNG decodes as a PNG; a `.mp4` that is really text is text; a file whose
bytes match nothing we can decode is `unknown` and is recorded as unsupported.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

MediaKind = Literal["image", "video", "text", "unknown", "empty"]

#: bytes read from the start of a file to decide its type (text checks look at this much too).
SNIFF_BYTES = 8192

# ISO-BMFF brands that hold still images (HEIF/AVIF): Pillow cannot decode them without plugins.
_IMAGE_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis"}
_QUICKTIME_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


@dataclass(frozen=True, slots=True)
class Sniffed:
    kind: MediaKind
    #: short format name (`jpeg`, `png`, `mp4`, `matroska`, `utf8`, ...); "" when unknown.
    format: str


def sniff_bytes(head: bytes) -> Sniffed:
    """Classify the first bytes of a file."""
    if not head:
        return Sniffed("empty", "")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniffed("image", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniffed("image", "png")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return Sniffed("image", "gif")
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return Sniffed("image", "webp")
    if head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return Sniffed("video", "avi")
    if head.startswith(b"BM") and len(head) >= 14:
        return Sniffed("image", "bmp")
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return Sniffed("image", "tiff")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return Sniffed("image", "heif")
        return Sniffed("video", "mov" if brand == b"qt  " else "mp4")
    if head[4:8] in _QUICKTIME_ATOMS:
        return Sniffed("video", "mov")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniffed("video", "webm" if b"webm" in head[:64] else "matroska")
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return Sniffed("video", "mpeg")
    if head[0] == 0x47 and len(head) > 188 and head[188] == 0x47:
        return Sniffed("video", "mpegts")
    if _looks_like_utf8_text(head):
        return Sniffed("text", "utf8")
    return Sniffed("unknown", "")


def sniff_file(path: Path) -> Sniffed:
    """Classify a file by its first bytes (raises OSError if it cannot be read)."""
    with path.open("rb") as handle:
        return sniff_bytes(handle.read(SNIFF_BYTES))


def _looks_like_utf8_text(head: bytes) -> bool:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if b"\x00" in head:
        return False
    # The sniff window may end inside a multi-byte character: allow up to 3 dangling bytes.
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\t\n\r\f\v")
        return controls <= max(1, len(text) // 100)
    return False
