"""Still images with Pillow: EXIF orientation, RGB, and a pixel limit checked before decoding."""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from clipsearch.indexer.failures import DecodeFailed

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

_ORIENTATION = 0x0112
#: EXIF orientations that rotate by 90 or 270 degrees.
_QUARTER_TURNS = (5, 6, 7, 8)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """An upright RGB image plus the stored image's own size (before any reduced-size decode)."""

    image: Image.Image
    width: int
    height: int


def decode_image(source: Path | bytes, max_pixels: int) -> Image.Image:
    """Decode the first frame of a JPEG/PNG/WebP/GIF/BMP/TIFF image into an upright RGB image.

    The pixel count is read from the header and checked against `max_pixels` before any pixel is
    decoded, so a decompression bomb costs nothing.
    """
    return decode_image_sized(source, max_pixels).image


def decode_image_sized(source: Path | bytes, max_pixels: int, *, min_side: int = 0) -> DecodedImage:
    """`decode_image`, optionally letting JPEG decode at a reduced scale (libjpeg DCT scaling).

    With `min_side` > 0 a JPEG is decoded at the smallest 1/2, 1/4 or 1/8 scale that keeps both
    sides at least `min_side` pixels (Pillow's `draft`): when the model only needs 224 or 64 pixels
    this is several times faster and the later resize never upsamples. Other formats decode in full.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = str(source) if isinstance(source, Path) else "<bytes>"
    try:
        with warnings.catch_warnings():
            # We apply our own limit; Pillow's global one only warns below 2x and raises above.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            handle = Image.open(source if isinstance(source, Path) else io.BytesIO(source))
            with handle as img:
                width, height = img.size
                if width <= 0 or height <= 0:
                    raise DecodeFailed("empty", f"{name}: image has no pixels ({width}x{height})")
                if width * height > max_pixels:
                    raise DecodeFailed(
                        "decompression_bomb",
                        f"{name}: {width}x{height} = {width * height} pixels exceeds the limit of {max_pixels}",
                    )
                img.seek(0)
                if min_side > 0 and img.format == "JPEG":
                    img.draft("RGB", (min_side, min_side))
                img.load()
                if img.getexif().get(_ORIENTATION, 1) in _QUARTER_TURNS:
                    width, height = height, width  # the upright image has its sides swapped
                upright = ImageOps.exif_transpose(img) or img
                return DecodedImage(_to_rgb(upright), width, height)
    except DecodeFailed:
        raise
    except Image.DecompressionBombError as exc:
        raise DecodeFailed("decompression_bomb", f"{name}: {exc}") from None
    except UnidentifiedImageError:
        if _sniffed_image(source):
            raise DecodeFailed("corrupt", f"{name}: image header is damaged") from None
        raise DecodeFailed("unsupported", f"{name}: not an image format Pillow can decode") from None
    except FileNotFoundError:
        raise DecodeFailed("not_found", f"{name} does not exist") from None
    except PermissionError as exc:
        raise DecodeFailed("unreadable", f"{name}: {exc.strerror}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        message = str(exc)
        lowered = message.lower()
        truncated = "truncated" in lowered or "broken data stream" in lowered or isinstance(exc, EOFError)
        reason = "truncated" if truncated else "corrupt"
        raise DecodeFailed(reason, f"{name}: {message or type(exc).__name__}") from None


def _to_rgb(img: Image.Image) -> Image.Image:
    """RGB; transparent pixels become white (not the black that a plain convert would leave)."""
    from PIL import Image

    if img.mode == "RGB":
        return img.copy()
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # High bit-depth grey: scale to 8 bits instead of clipping.
        import numpy as np

        array = np.asarray(img, dtype=np.float32)
        top = float(array.max()) or 1.0
        img = Image.fromarray((array * (255.0 / top)).clip(0, 255).astype(np.uint8), mode="L")
    return img.convert("RGB")


def _sniffed_image(source: Path | bytes) -> bool:
    """Whether the bytes start like an image format we decode (then failing to open means damage)."""
    from clipsearch.indexer.sniff import SNIFF_BYTES, sniff_bytes

    if isinstance(source, bytes):
        head = source[:SNIFF_BYTES]
    else:
        try:
            with source.open("rb") as handle:
                head = handle.read(SNIFF_BYTES)
        except OSError:
            return False
    sniffed = sniff_bytes(head)
    return sniffed.kind == "image" and sniffed.format != "heif"
