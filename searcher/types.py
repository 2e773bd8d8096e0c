"""Plain values of the search core (no protobuf, no SQLAlchemy): queries, candidates, hits, results.

The pipeline is `route → encode → candidates → rerank → frames → hydrate`; each stage takes and returns
a list of `Candidate`, so later stages (reranking, frame scoring) plug in without touching the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

MediaType = Literal["image", "video", "text"]
MEDIA_TYPES: tuple[MediaType, ...] = ("image", "video", "text")
Unit = Literal["item", "frame"]
QueryKind = Literal["text", "image", "video", "item", "vector"]
LongTextHandling = Literal["", "fitted", "truncated", "chunked"]


@dataclass(frozen=True, slots=True)
class RerankOptions:
    #: None = the server default (`search.rerank`).
    enabled: bool | None = None
    #: 0 = the server default (`search.rerank_depth`).
    depth: int = 0
    #: "" = the collection's rerank space, else the answering space.
    space: str = ""


@dataclass(frozen=True, slots=True)
class FrameScoringOptions:
    enabled: bool | None = None
    alpha: float | None = None
    top_frames: int | None = None
    delta: float | None = None


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """One search; exactly one of text/image/video/item_id/vector is set."""

    collection: str
    text: str | None = None
    image: bytes | None = None
    video: bytes | None = None
    item_id: str | None = None
    vector: tuple[float, ...] | None = None
    language: str = ""
    media_types: tuple[MediaType, ...] = ()
    top_k: int = 0
    offset: int = 0
    page_token: str = ""
    min_score: float | None = None
    filter: str = ""
    space: str = ""
    rerank: RerankOptions = RerankOptions()
    frame_scoring: FrameScoringOptions = FrameScoringOptions()

    @property
    def kind(self) -> QueryKind:
        set_fields = [
            name
            for name, value in (
                ("text", self.text),
                ("image", self.image),
                ("video", self.video),
                ("item", self.item_id),
                ("vector", self.vector),
            )
            if value is not None
        ]
        if len(set_fields) != 1:
            from clipsearch.errors import InvalidRequest

            raise InvalidRequest(
                "exactly one of text, image, video, item_id or vector must be set"
                + (f" (got {', '.join(set_fields)})" if set_fields else " (got none)")
            )
        return set_fields[0]  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class FrameScore:
    t_sec: float
    score: float


@dataclass(frozen=True, slots=True)
class VideoMoment:
    t_sec: float
    segment_start_sec: float
    segment_end_sec: float
    top_frames: tuple[FrameScore, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    """An item on its way through the pipeline; `score` is what the next stage ranks by."""

    item_id: int
    media_type: MediaType
    score: float
    initial: float
    rerank: float | None = None
    frame: float | None = None
    moment: VideoMoment | None = None


@dataclass(frozen=True, slots=True)
class ItemRecord:
    """An item as hydrated from the database."""

    item_id: int
    collection: str
    uri: str
    media_type: MediaType
    text: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    duration_sec: float = 0.0
    frame_times: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class Hit:
    item: ItemRecord
    rank: int
    score: float
    initial: float | None = None
    rerank: float | None = None
    frame: float | None = None
    moment: VideoMoment | None = None


@dataclass(frozen=True, slots=True)
class IndexVersionRef:
    collection: str
    space: str
    unit: Unit
    version: str
    size: int = 0


@dataclass(frozen=True, slots=True)
class StageTiming:
    stage: str
    ms: float


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: tuple[Hit, ...]
    next_page_token: str
    space: str
    route_reason: str
    language: str
    long_text: LongTextHandling
    query_truncated: bool
    index_versions: tuple[IndexVersionRef, ...]
    timings: tuple[StageTiming, ...]


@dataclass(frozen=True, slots=True)
class Encoding:
    vector: tuple[float, ...]
    space: str
    fingerprint: str
    truncated: bool


@dataclass(frozen=True, slots=True)
class SpaceDescription:
    name: str
    role: str
    model: str
    dim: int
    languages: tuple[str, ...]
    active_versions: tuple[IndexVersionRef, ...]


@dataclass(frozen=True, slots=True)
class CollectionDescription:
    name: str
    spaces: tuple[SpaceDescription, ...]
    media_types: tuple[MediaType, ...]
