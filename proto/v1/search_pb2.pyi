from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MediaType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MEDIA_TYPE_UNSPECIFIED: _ClassVar[MediaType]
    MEDIA_TYPE_IMAGE: _ClassVar[MediaType]
    MEDIA_TYPE_VIDEO: _ClassVar[MediaType]
    MEDIA_TYPE_TEXT: _ClassVar[MediaType]

class LongTextHandling(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LONG_TEXT_HANDLING_UNSPECIFIED: _ClassVar[LongTextHandling]
    LONG_TEXT_HANDLING_FITTED: _ClassVar[LongTextHandling]
    LONG_TEXT_HANDLING_TRUNCATED: _ClassVar[LongTextHandling]
    LONG_TEXT_HANDLING_CHUNKED: _ClassVar[LongTextHandling]
MEDIA_TYPE_UNSPECIFIED: MediaType
MEDIA_TYPE_IMAGE: MediaType
MEDIA_TYPE_VIDEO: MediaType
MEDIA_TYPE_TEXT: MediaType
LONG_TEXT_HANDLING_UNSPECIFIED: LongTextHandling
LONG_TEXT_HANDLING_FITTED: LongTextHandling
LONG_TEXT_HANDLING_TRUNCATED: LongTextHandling
LONG_TEXT_HANDLING_CHUNKED: LongTextHandling

class Vector(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class RerankOptions(_message.Message):
    __slots__ = ("enabled", "depth", "space")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    depth: int
    space: str
    def __init__(self, enabled: _Optional[bool] = ..., depth: _Optional[int] = ..., space: _Optional[str] = ...) -> None: ...

class FrameScoringOptions(_message.Message):
    __slots__ = ("enabled", "alpha", "top_frames", "delta")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    ALPHA_FIELD_NUMBER: _ClassVar[int]
    TOP_FRAMES_FIELD_NUMBER: _ClassVar[int]
    DELTA_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    alpha: float
    top_frames: int
    delta: float
    def __init__(self, enabled: _Optional[bool] = ..., alpha: _Optional[float] = ..., top_frames: _Optional[int] = ..., delta: _Optional[float] = ...) -> None: ...

class SearchRequest(_message.Message):
    __slots__ = ("collection", "text", "image", "video", "item_id", "vector", "language", "media_types", "top_k", "page_token", "offset", "min_score", "filter", "space", "rerank", "frame_scoring")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    VIDEO_FIELD_NUMBER: _ClassVar[int]
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPES_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    OFFSET_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    FRAME_SCORING_FIELD_NUMBER: _ClassVar[int]
    collection: str
    text: str
    image: bytes
    video: bytes
    item_id: str
    vector: Vector
    language: str
    media_types: _containers.RepeatedScalarFieldContainer[MediaType]
    top_k: int
    page_token: str
    offset: int
    min_score: float
    filter: str
    space: str
    rerank: RerankOptions
    frame_scoring: FrameScoringOptions
    def __init__(self, collection: _Optional[str] = ..., text: _Optional[str] = ..., image: _Optional[bytes] = ..., video: _Optional[bytes] = ..., item_id: _Optional[str] = ..., vector: _Optional[_Union[Vector, _Mapping]] = ..., language: _Optional[str] = ..., media_types: _Optional[_Iterable[_Union[MediaType, str]]] = ..., top_k: _Optional[int] = ..., page_token: _Optional[str] = ..., offset: _Optional[int] = ..., min_score: _Optional[float] = ..., filter: _Optional[str] = ..., space: _Optional[str] = ..., rerank: _Optional[_Union[RerankOptions, _Mapping]] = ..., frame_scoring: _Optional[_Union[FrameScoringOptions, _Mapping]] = ...) -> None: ...

class ComponentScores(_message.Message):
    __slots__ = ("initial", "rerank", "frame")
    INITIAL_FIELD_NUMBER: _ClassVar[int]
    RERANK_FIELD_NUMBER: _ClassVar[int]
    FRAME_FIELD_NUMBER: _ClassVar[int]
    initial: float
    rerank: float
    frame: float
    def __init__(self, initial: _Optional[float] = ..., rerank: _Optional[float] = ..., frame: _Optional[float] = ...) -> None: ...

class FrameScore(_message.Message):
    __slots__ = ("t_sec", "score")
    T_SEC_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    t_sec: float
    score: float
    def __init__(self, t_sec: _Optional[float] = ..., score: _Optional[float] = ...) -> None: ...

class VideoMoment(_message.Message):
    __slots__ = ("t_sec", "segment_start_sec", "segment_end_sec", "top_frames")
    T_SEC_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_START_SEC_FIELD_NUMBER: _ClassVar[int]
    SEGMENT_END_SEC_FIELD_NUMBER: _ClassVar[int]
    TOP_FRAMES_FIELD_NUMBER: _ClassVar[int]
    t_sec: float
    segment_start_sec: float
    segment_end_sec: float
    top_frames: _containers.RepeatedCompositeFieldContainer[FrameScore]
    def __init__(self, t_sec: _Optional[float] = ..., segment_start_sec: _Optional[float] = ..., segment_end_sec: _Optional[float] = ..., top_frames: _Optional[_Iterable[_Union[FrameScore, _Mapping]]] = ...) -> None: ...

class Hit(_message.Message):
    __slots__ = ("id", "uri", "media_type", "score", "scores", "metadata", "text", "moment", "rank")
    ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    SCORES_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MOMENT_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    id: str
    uri: str
    media_type: MediaType
    score: float
    scores: ComponentScores
    metadata: _struct_pb2.Struct
    text: str
    moment: VideoMoment
    rank: int
    def __init__(self, id: _Optional[str] = ..., uri: _Optional[str] = ..., media_type: _Optional[_Union[MediaType, str]] = ..., score: _Optional[float] = ..., scores: _Optional[_Union[ComponentScores, _Mapping]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., text: _Optional[str] = ..., moment: _Optional[_Union[VideoMoment, _Mapping]] = ..., rank: _Optional[int] = ...) -> None: ...

class IndexVersionRef(_message.Message):
    __slots__ = ("collection", "space", "unit", "version", "size")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    collection: str
    space: str
    unit: str
    version: str
    size: int
    def __init__(self, collection: _Optional[str] = ..., space: _Optional[str] = ..., unit: _Optional[str] = ..., version: _Optional[str] = ..., size: _Optional[int] = ...) -> None: ...

class StageTiming(_message.Message):
    __slots__ = ("stage", "ms")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    MS_FIELD_NUMBER: _ClassVar[int]
    stage: str
    ms: float
    def __init__(self, stage: _Optional[str] = ..., ms: _Optional[float] = ...) -> None: ...

class SearchResponse(_message.Message):
    __slots__ = ("hits", "next_page_token", "space", "route_reason", "language", "long_text", "query_truncated", "index_versions", "timings", "request_id")
    HITS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_REASON_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    LONG_TEXT_FIELD_NUMBER: _ClassVar[int]
    QUERY_TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    INDEX_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    TIMINGS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    hits: _containers.RepeatedCompositeFieldContainer[Hit]
    next_page_token: str
    space: str
    route_reason: str
    language: str
    long_text: LongTextHandling
    query_truncated: bool
    index_versions: _containers.RepeatedCompositeFieldContainer[IndexVersionRef]
    timings: _containers.RepeatedCompositeFieldContainer[StageTiming]
    request_id: str
    def __init__(self, hits: _Optional[_Iterable[_Union[Hit, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., space: _Optional[str] = ..., route_reason: _Optional[str] = ..., language: _Optional[str] = ..., long_text: _Optional[_Union[LongTextHandling, str]] = ..., query_truncated: _Optional[bool] = ..., index_versions: _Optional[_Iterable[_Union[IndexVersionRef, _Mapping]]] = ..., timings: _Optional[_Iterable[_Union[StageTiming, _Mapping]]] = ..., request_id: _Optional[str] = ...) -> None: ...

class EncodeRequest(_message.Message):
    __slots__ = ("space", "text", "image", "collection", "language")
    SPACE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    space: str
    text: str
    image: bytes
    collection: str
    language: str
    def __init__(self, space: _Optional[str] = ..., text: _Optional[str] = ..., image: _Optional[bytes] = ..., collection: _Optional[str] = ..., language: _Optional[str] = ...) -> None: ...

class EncodeResponse(_message.Message):
    __slots__ = ("vector", "space", "fingerprint", "truncated")
    VECTOR_FIELD_NUMBER: _ClassVar[int]
    SPACE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    vector: _containers.RepeatedScalarFieldContainer[float]
    space: str
    fingerprint: str
    truncated: bool
    def __init__(self, vector: _Optional[_Iterable[float]] = ..., space: _Optional[str] = ..., fingerprint: _Optional[str] = ..., truncated: _Optional[bool] = ...) -> None: ...

class GetItemRequest(_message.Message):
    __slots__ = ("collection", "id")
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    ID_FIELD_NUMBER: _ClassVar[int]
    collection: str
    id: str
    def __init__(self, collection: _Optional[str] = ..., id: _Optional[str] = ...) -> None: ...

class Frame(_message.Message):
    __slots__ = ("t_sec",)
    T_SEC_FIELD_NUMBER: _ClassVar[int]
    t_sec: float
    def __init__(self, t_sec: _Optional[float] = ...) -> None: ...

class Item(_message.Message):
    __slots__ = ("id", "uri", "media_type", "metadata", "text", "duration_sec", "frames", "collection")
    ID_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    DURATION_SEC_FIELD_NUMBER: _ClassVar[int]
    FRAMES_FIELD_NUMBER: _ClassVar[int]
    COLLECTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    uri: str
    media_type: MediaType
    metadata: _struct_pb2.Struct
    text: str
    duration_sec: float
    frames: _containers.RepeatedCompositeFieldContainer[Frame]
    collection: str
    def __init__(self, id: _Optional[str] = ..., uri: _Optional[str] = ..., media_type: _Optional[_Union[MediaType, str]] = ..., metadata: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., text: _Optional[str] = ..., duration_sec: _Optional[float] = ..., frames: _Optional[_Iterable[_Union[Frame, _Mapping]]] = ..., collection: _Optional[str] = ...) -> None: ...

class GetItemResponse(_message.Message):
    __slots__ = ("item",)
    ITEM_FIELD_NUMBER: _ClassVar[int]
    item: Item
    def __init__(self, item: _Optional[_Union[Item, _Mapping]] = ...) -> None: ...

class ListCollectionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class SpaceInfo(_message.Message):
    __slots__ = ("name", "role", "model", "dim", "languages", "active_versions")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    DIM_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    name: str
    role: str
    model: str
    dim: int
    languages: _containers.RepeatedScalarFieldContainer[str]
    active_versions: _containers.RepeatedCompositeFieldContainer[IndexVersionRef]
    def __init__(self, name: _Optional[str] = ..., role: _Optional[str] = ..., model: _Optional[str] = ..., dim: _Optional[int] = ..., languages: _Optional[_Iterable[str]] = ..., active_versions: _Optional[_Iterable[_Union[IndexVersionRef, _Mapping]]] = ...) -> None: ...

class CollectionInfo(_message.Message):
    __slots__ = ("name", "spaces", "media_types")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPACES_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPES_FIELD_NUMBER: _ClassVar[int]
    name: str
    spaces: _containers.RepeatedCompositeFieldContainer[SpaceInfo]
    media_types: _containers.RepeatedScalarFieldContainer[MediaType]
    def __init__(self, name: _Optional[str] = ..., spaces: _Optional[_Iterable[_Union[SpaceInfo, _Mapping]]] = ..., media_types: _Optional[_Iterable[_Union[MediaType, str]]] = ...) -> None: ...

class ListCollectionsResponse(_message.Message):
    __slots__ = ("collections",)
    COLLECTIONS_FIELD_NUMBER: _ClassVar[int]
    collections: _containers.RepeatedCompositeFieldContainer[CollectionInfo]
    def __init__(self, collections: _Optional[_Iterable[_Union[CollectionInfo, _Mapping]]] = ...) -> None: ...
