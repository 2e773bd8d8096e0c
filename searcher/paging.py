"""Opaque page tokens: the next offset, bound to the query that produced it."""

from __future__ import annotations

import base64
import hashlib
import json
from array import array

from clipsearch.errors import InvalidRequest
from clipsearch.searcher.types import SearchQuery


def query_fingerprint(query: SearchQuery) -> str:
    """Stable hash of everything that decides the result list (not the page position)."""
    digest = hashlib.sha256()
    for part in (
        query.collection,
        query.text,
        query.item_id,
        query.language,
        ",".join(query.media_types),
        repr(query.min_score),
        query.filter,
        query.space,
        repr(query.rerank),
        repr(query.frame_scoring),
    ):
        digest.update(repr(part).encode())
    for blob in (query.image, query.video):
        digest.update(hashlib.sha256(blob).digest() if blob is not None else b"-")
    if query.vector is not None:  # the float32 bytes: repr() of 512 floats costs more than the search
        digest.update(array("f", query.vector).tobytes())
    return digest.hexdigest()[:16]


def encode_token(offset: int, query: SearchQuery) -> str:
    payload = json.dumps({"o": offset, "q": query_fingerprint(query)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_token(token: str, query: SearchQuery) -> int:
    try:
        padded = token + "=" * (-len(token) % 4)
        payload = json.loads(base64.urlsafe_b64decode(padded.encode()))
        offset = int(payload["o"])
        fingerprint = str(payload["q"])
    except (ValueError, KeyError, TypeError) as exc:
        raise InvalidRequest(f"page_token is not a token this server issued ({type(exc).__name__})") from None
    if offset < 0:
        raise InvalidRequest("page_token carries a negative offset")
    if fingerprint != query_fingerprint(query):
        raise InvalidRequest("page_token belongs to a different query; repeat the query it came from")
    return offset
