"""Why an input could not be indexed: one typed reason per failure, recorded and listed, never fatal to a run."""

from __future__ import annotations

from typing import Literal, get_args

from clipsearch.errors import InvalidRequest

FailureReason = Literal[
    "not_found",  # the file vanished between discovery and decoding
    "unreadable",  # permission denied or another OS error while reading
    "empty",  # zero bytes, or a text with no visible characters
    "too_large",  # bigger than indexer.max_file_bytes
    "unsupported",  # content matches no format we decode (or a format we cannot decode)
    "corrupt",  # the format is recognised but the data is damaged
    "truncated",  # the data ends early
    "decompression_bomb",  # more pixels than indexer.max_image_pixels
    "too_long",  # a video longer than indexer.max_video_seconds
    "no_video_stream",  # a media container without a video stream
    "no_frames",  # a video stream that yields no decodable frame
    "encoding",  # a text that is not valid UTF-8
    "bad_manifest_row",  # a manifest line/row that cannot be parsed or names nothing
    "encode_error",  # the model failed on this input
]

FAILURE_REASONS: tuple[str, ...] = get_args(FailureReason)


class DecodeFailed(InvalidRequest):
    """One input is bad; `reason` is machine-readable, the message says what was wrong."""

    def __init__(self, reason: FailureReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: FailureReason = reason
        self.detail = detail
