"""Protobuf ↔ plain values, in one module: protobuf stays at the wire (DESIGN §5)."""

from __future__ import annotations

import json
import math
from typing import Any

from google.protobuf import json_format, struct_pb2

from clipsearch.errors import InvalidRequest
from clipsearch.proto.v1 import search_pb2 as pb
from clipsearch.searcher.types import (
    MEDIA_TYPES,
    CollectionDescription,
    Encoding,
    FrameScoringOptions,
    Hit,
    IndexVersionRef,
    ItemRecord,
    MediaType,
    RerankOptions,
    SearchQuery,
    SearchResult,
    VideoMoment,
)

_MEDIA_TO_PB = {"image": pb.MEDIA_TYPE_IMAGE, "video": pb.MEDIA_TYPE_VIDEO, "text": pb.MEDIA_TYPE_TEXT}
_MEDIA_FROM_PB: dict[int, MediaType] = {v: k for k, v in _MEDIA_TO_PB.items()}  # type: ignore[misc]
_LONG_TEXT_TO_PB = {
    "": pb.LONG_TEXT_HANDLING_UNSPECIFIED,
    "fitted": pb.LONG_TEXT_HANDLING_FITTED,
    "truncated": pb.LONG_TEXT_HANDLING_TRUNCATED,
    "chunked": pb.LONG_TEXT_HANDLING_CHUNKED,
}
LONG_TEXT_FROM_PB = {v: k for k, v in _LONG_TEXT_TO_PB.items()}


def media_from_pb(value: int) -> MediaType:
    try:
        return _MEDIA_FROM_PB[value]
    except KeyError:
        raise InvalidRequest(f"media_types: {value} is not a media type (use IMAGE, VIDEO or TEXT)") from None


def media_to_pb(value: str) -> int:
    return _MEDIA_TO_PB[value]


def search_query(request: pb.SearchRequest) -> SearchQuery:
    which = request.WhichOneof("query")
    if which is None:
        raise InvalidRequest("a query is required: set one of text, image, video, item_id or vector")
    vector: tuple[float, ...] | None = None
    if which == "vector":
        vector = tuple(request.vector.values)
        if not vector:
            raise InvalidRequest("vector.values is empty")
    rerank = request.rerank
    frames = request.frame_scoring
    if frames.HasField("alpha") and not (0.0 <= frames.alpha <= 1.0 and math.isfinite(frames.alpha)):
        raise InvalidRequest(f"frame_scoring.alpha must be in [0, 1] (got {frames.alpha})")
    if frames.HasField("delta") and not (frames.delta >= 0.0 and math.isfinite(frames.delta)):
        raise InvalidRequest(f"frame_scoring.delta must be >= 0 (got {frames.delta})")
    if frames.HasField("top_frames") and frames.top_frames > 100:
        raise InvalidRequest(f"frame_scoring.top_frames must be at most 100 (got {frames.top_frames})")
    if request.filter:
        try:
            json.loads(request.filter)
        except ValueError as exc:
            raise InvalidRequest(f"filter is not valid JSON: {exc}") from None
    return SearchQuery(
        collection=request.collection,
        text=request.text if which == "text" else None,
        image=request.image if which == "image" else None,
        video=request.video if which == "video" else None,
        item_id=request.item_id if which == "item_id" else None,
        vector=vector,
        language=request.language,
        media_types=tuple(media_from_pb(m) for m in request.media_types),
        top_k=request.top_k,
        offset=request.offset,
        page_token=request.page_token,
        min_score=request.min_score if request.HasField("min_score") else None,
        filter=request.filter,
        space=request.space,
        rerank=RerankOptions(
            enabled=rerank.enabled if rerank.HasField("enabled") else None,
            depth=rerank.depth,
            space=rerank.space,
        ),
        frame_scoring=FrameScoringOptions(
            enabled=frames.enabled if frames.HasField("enabled") else None,
            alpha=frames.alpha if frames.HasField("alpha") else None,
            top_frames=frames.top_frames if frames.HasField("top_frames") else None,
            delta=frames.delta if frames.HasField("delta") else None,
        ),
    )


def _struct(metadata: dict[str, Any]) -> struct_pb2.Struct:
    out = struct_pb2.Struct()
    try:
        out.update(metadata)  # metadata comes from a JSON column: usually JSON types already
    except (TypeError, ValueError):
        out.Clear()
        # JSON round trip: Struct accepts only JSON types (dates etc. become strings).
        out.update(json.loads(json.dumps(metadata, default=str)))
    return out


def _moment(moment: VideoMoment) -> pb.VideoMoment:
    return pb.VideoMoment(
        t_sec=moment.t_sec,
        segment_start_sec=moment.segment_start_sec,
        segment_end_sec=moment.segment_end_sec,
        top_frames=[pb.FrameScore(t_sec=f.t_sec, score=f.score) for f in moment.top_frames],
    )


#: records whose Hit part (`_item_part`) is kept; the cache is simply cleared when full.
ITEM_PARTS_MAX = 8192
# id(record) → (record, its item part). Holding the record keeps its id from being reused.
_item_parts: dict[int, tuple[ItemRecord, pb.Hit]] = {}


def _item_part(item: ItemRecord) -> pb.Hit:
    """A Hit with only the item's fields set, built once per hydrated record: metadata → Struct is
    most of a response's Python cost, and under load the same records (from the searcher's item
    cache) come back in hit after hit. Dict reads and writes are atomic, so any thread may call it."""
    cached = _item_parts.get(id(item))
    if cached is not None:  # two live objects never share an id
        return cached[1]
    part = pb.Hit(
        id=str(item.item_id),
        uri=item.uri,
        media_type=media_to_pb(item.media_type),
        metadata=_struct(item.metadata),
        text=item.text,
    )
    if len(_item_parts) >= ITEM_PARTS_MAX:
        _item_parts.clear()
    _item_parts[id(item)] = (item, part)
    return part


def _fill_hit(message: pb.Hit, hit: Hit) -> None:
    message.CopyFrom(_item_part(hit.item))  # one C-level copy instead of rebuilding the Struct
    message.score = hit.score
    message.rank = hit.rank
    if hit.initial is not None:
        message.scores.initial = hit.initial
    if hit.rerank is not None:
        message.scores.rerank = hit.rerank
    if hit.frame is not None:
        message.scores.frame = hit.frame
    if hit.moment is not None:
        message.moment.CopyFrom(_moment(hit.moment))


def _version(ref: IndexVersionRef) -> pb.IndexVersionRef:
    return pb.IndexVersionRef(
        collection=ref.collection, space=ref.space, unit=ref.unit, version=ref.version, size=ref.size
    )


def search_response(result: SearchResult, request_id: str) -> pb.SearchResponse:
    response = pb.SearchResponse(
        next_page_token=result.next_page_token,
        space=result.space,
        route_reason=result.route_reason,
        language=result.language,
        long_text=_LONG_TEXT_TO_PB[result.long_text],
        query_truncated=result.query_truncated,
        index_versions=[_version(r) for r in result.index_versions],
        timings=[pb.StageTiming(stage=t.stage, ms=t.ms) for t in result.timings],
        request_id=request_id,
    )
    for hit in result.hits:
        _fill_hit(response.hits.add(), hit)
    return response


def encode_response(encoding: Encoding) -> pb.EncodeResponse:
    return pb.EncodeResponse(
        vector=encoding.vector,
        space=encoding.space,
        fingerprint=encoding.fingerprint,
        truncated=encoding.truncated,
    )


def item_message(item: ItemRecord) -> pb.Item:
    return pb.Item(
        id=str(item.item_id),
        uri=item.uri,
        media_type=media_to_pb(item.media_type),
        metadata=_struct(item.metadata),
        text=item.text,
        duration_sec=item.duration_sec,
        frames=[pb.Frame(t_sec=t) for t in item.frame_times],
        collection=item.collection,
    )


def collections_response(collections: list[CollectionDescription]) -> pb.ListCollectionsResponse:
    return pb.ListCollectionsResponse(
        collections=[
            pb.CollectionInfo(
                name=c.name,
                spaces=[
                    pb.SpaceInfo(
                        name=s.name,
                        role=s.role,
                        model=s.model,
                        dim=s.dim,
                        languages=list(s.languages),
                        active_versions=[_version(r) for r in s.active_versions],
                    )
                    for s in c.spaces
                ],
                media_types=[media_to_pb(m) for m in c.media_types],
            )
            for c in collections
        ]
    )


def struct_to_dict(message: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(message)


__all__ = ["MEDIA_TYPES"]
