"""Client SDK for the clipsearch gRPC API: `SearchClient` (sync) and `AsyncSearchClient` (asyncio).

Both return plain frozen dataclasses (no protobuf in user code) and raise the clipsearch error
hierarchy (`InvalidRequest`, `NotFound`, `ResourceExhausted`, ...) with the server's message.

    with SearchClient("localhost:50051", token="…", tls_ca="ca.pem") as client:
        result = client.search("a red circle", collection="photos", top_k=5)
        for hit in result.hits:
            print(hit.score, hit.uri, hit.moment)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio

from clipsearch import errors
from clipsearch.proto.v1 import search_pb2 as pb
from clipsearch.proto.v1 import search_pb2_grpc as pb_grpc


@dataclass(frozen=True, slots=True)
class FrameScore:
    t_sec: float
    score: float


@dataclass(frozen=True, slots=True)
class VideoMoment:
    t_sec: float
    segment_start_sec: float
    segment_end_sec: float
    top_frames: tuple[FrameScore, ...]


@dataclass(frozen=True, slots=True)
class SearchHit:
    id: str
    uri: str
    media_type: str
    score: float
    rank: int
    text: str
    metadata: dict[str, Any]
    initial_score: float | None
    rerank_score: float | None
    frame_score: float | None
    moment: VideoMoment | None


@dataclass(frozen=True, slots=True)
class IndexVersion:
    collection: str
    space: str
    unit: str
    version: str
    size: int


@dataclass(frozen=True, slots=True)
class SearchResult:
    hits: tuple[SearchHit, ...]
    next_page_token: str
    space: str
    route_reason: str
    language: str
    long_text: str
    query_truncated: bool
    index_versions: tuple[IndexVersion, ...]
    timings_ms: dict[str, float]
    request_id: str


@dataclass(frozen=True, slots=True)
class Embedding:
    vector: tuple[float, ...]
    space: str
    fingerprint: str
    truncated: bool


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    collection: str
    uri: str
    media_type: str
    text: str
    metadata: dict[str, Any]
    duration_sec: float
    frame_times: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class SpaceInfo:
    name: str
    role: str
    model: str
    dim: int
    languages: tuple[str, ...]
    active_versions: tuple[IndexVersion, ...]


@dataclass(frozen=True, slots=True)
class CollectionInfo:
    name: str
    spaces: tuple[SpaceInfo, ...]
    media_types: tuple[str, ...]


_MEDIA_NAMES = {pb.MEDIA_TYPE_IMAGE: "image", pb.MEDIA_TYPE_VIDEO: "video", pb.MEDIA_TYPE_TEXT: "text"}
_MEDIA_CODES = {name: code for code, name in _MEDIA_NAMES.items()}
_LONG_TEXT = {
    pb.LONG_TEXT_HANDLING_UNSPECIFIED: "",
    pb.LONG_TEXT_HANDLING_FITTED: "fitted",
    pb.LONG_TEXT_HANDLING_TRUNCATED: "truncated",
    pb.LONG_TEXT_HANDLING_CHUNKED: "chunked",
}
_ERRORS: dict[grpc.StatusCode, type[errors.ClipsearchError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidRequest,
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.ABORTED: errors.Conflict,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
    grpc.StatusCode.DEADLINE_EXCEEDED: errors.DeadlineExceeded,
    grpc.StatusCode.UNAUTHENTICATED: errors.Unauthenticated,
    grpc.StatusCode.PERMISSION_DENIED: errors.PermissionDenied,
    grpc.StatusCode.UNAVAILABLE: errors.Unavailable,
    grpc.StatusCode.DATA_LOSS: errors.DataCorrupt,
}


class RpcError(errors.ClipsearchError):
    """A status code with no closer match in the clipsearch hierarchy (INTERNAL, UNKNOWN, ...)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(f"{code.name}: {message}")
        self.code = code


def _raise(exc: grpc.RpcError) -> None:
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    kind = _ERRORS.get(code)
    error = kind(details) if kind is not None else RpcError(code, details)
    error.status_code = code  # type: ignore[attr-defined]
    raise error from None


def search_request(
    collection: str,
    text: str | None = None,
    *,
    image: bytes | None = None,
    video: bytes | None = None,
    item_id: str | None = None,
    vector: Sequence[float] | None = None,
    top_k: int = 0,
    offset: int = 0,
    page_token: str = "",
    language: str = "",
    media_types: Sequence[str] = (),
    min_score: float | None = None,
    filter: str = "",
    space: str = "",
    rerank: bool | None = None,
    rerank_depth: int = 0,
    frame_scoring: bool | None = None,
    frame_alpha: float | None = None,
    rerank_space: str = "",
    top_frames: int | None = None,
    frame_delta: float | None = None,
) -> pb.SearchRequest:
    request = pb.SearchRequest(
        collection=collection,
        top_k=top_k,
        offset=offset,
        page_token=page_token,
        language=language,
        filter=filter,
        space=space,
    )
    if text is not None:
        request.text = text
    if image is not None:
        request.image = image
    if video is not None:
        request.video = video
    if item_id is not None:
        request.item_id = item_id
    if vector is not None:
        request.vector.values.extend(float(x) for x in vector)
    for media in media_types:
        if media not in _MEDIA_CODES:
            raise errors.InvalidRequest(f"unknown media type {media!r} (use image, video or text)")
        request.media_types.append(_MEDIA_CODES[media])  # type: ignore[arg-type]
    if min_score is not None:
        request.min_score = min_score
    if rerank is not None:
        request.rerank.enabled = rerank
    request.rerank.depth = rerank_depth
    if frame_scoring is not None:
        request.frame_scoring.enabled = frame_scoring
    if frame_alpha is not None:
        request.frame_scoring.alpha = frame_alpha
    request.rerank.space = rerank_space
    if top_frames is not None:
        request.frame_scoring.top_frames = top_frames
    if frame_delta is not None:
        request.frame_scoring.delta = frame_delta
    return request


def _metadata(struct: Any) -> dict[str, Any]:
    return {key: _value(value) for key, value in struct.fields.items()}


def _value(value: Any) -> Any:
    """A protobuf `Value` as plain Python (as json_format would give, without its overhead)."""
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = float(value.number_value)
        return int(number) if number.is_integer() and abs(number) < 2**53 else number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return bool(value.bool_value)
    if kind == "struct_value":
        return _metadata(value.struct_value)
    if kind == "list_value":
        return [_value(v) for v in value.list_value.values]
    return None


def _version(ref: pb.IndexVersionRef) -> IndexVersion:
    return IndexVersion(ref.collection, ref.space, ref.unit, ref.version, ref.size)


def _result(response: pb.SearchResponse) -> SearchResult:
    hits = []
    for hit in response.hits:
        moment = None
        if hit.HasField("moment"):
            moment = VideoMoment(
                hit.moment.t_sec,
                hit.moment.segment_start_sec,
                hit.moment.segment_end_sec,
                tuple(FrameScore(f.t_sec, f.score) for f in hit.moment.top_frames),
            )
        scores = hit.scores
        hits.append(
            SearchHit(
                id=hit.id,
                uri=hit.uri,
                media_type=_MEDIA_NAMES.get(hit.media_type, "unspecified"),
                score=hit.score,
                rank=hit.rank,
                text=hit.text,
                metadata=_metadata(hit.metadata),
                initial_score=scores.initial if scores.HasField("initial") else None,
                rerank_score=scores.rerank if scores.HasField("rerank") else None,
                frame_score=scores.frame if scores.HasField("frame") else None,
                moment=moment,
            )
        )
    return SearchResult(
        hits=tuple(hits),
        next_page_token=response.next_page_token,
        space=response.space,
        route_reason=response.route_reason,
        language=response.language,
        long_text=_LONG_TEXT.get(response.long_text, ""),
        query_truncated=response.query_truncated,
        index_versions=tuple(_version(v) for v in response.index_versions),
        timings_ms={t.stage: t.ms for t in response.timings},
        request_id=response.request_id,
    )


def _item(item: pb.Item) -> Item:
    return Item(
        id=item.id,
        collection=item.collection,
        uri=item.uri,
        media_type=_MEDIA_NAMES.get(item.media_type, "unspecified"),
        text=item.text,
        metadata=_metadata(item.metadata),
        duration_sec=item.duration_sec,
        frame_times=tuple(f.t_sec for f in item.frames),
    )


def _collections(response: pb.ListCollectionsResponse) -> list[CollectionInfo]:
    return [
        CollectionInfo(
            name=c.name,
            spaces=tuple(
                SpaceInfo(
                    s.name,
                    s.role,
                    s.model,
                    s.dim,
                    tuple(s.languages),
                    tuple(_version(v) for v in s.active_versions),
                )
                for s in c.spaces
            ),
            media_types=tuple(_MEDIA_NAMES.get(m, "unspecified") for m in c.media_types),
        )
        for c in response.collections
    ]


def _encode_request(
    text: str | None, image: bytes | None, space: str, collection: str, language: str
) -> pb.EncodeRequest:
    request = pb.EncodeRequest(space=space, collection=collection, language=language)
    if text is not None:
        request.text = text
    if image is not None:
        request.image = image
    return request


def _channel_options(max_message_mb: int) -> list[tuple[str, int]]:
    size = max_message_mb * 1024 * 1024
    return [("grpc.max_send_message_length", size), ("grpc.max_receive_message_length", size)]


PemSource = str | Path | bytes


def _pem(value: PemSource, what: str) -> bytes:
    """PEM bytes as given, or read from a file path."""
    if isinstance(value, bytes):
        data = value
    else:
        try:
            data = Path(value).read_bytes()
        except OSError as exc:
            raise errors.InvalidRequest(f"{what}: cannot read {value}: {exc.strerror}") from None
    if b"-----BEGIN " not in data:
        raise errors.InvalidRequest(f"{what}: not PEM data")
    return data


def _credentials(
    credentials: grpc.ChannelCredentials | None,
    tls_ca: PemSource | None,
    tls_cert: PemSource | None,
    tls_key: PemSource | None,
) -> grpc.ChannelCredentials | None:
    """TLS credentials from PEM files/bytes (CA to trust; client cert + key for mutual TLS)."""
    if tls_ca is None and tls_cert is None and tls_key is None:
        return credentials
    if credentials is not None:
        raise errors.InvalidRequest("give either credentials or tls_ca/tls_cert/tls_key, not both")
    if (tls_cert is None) != (tls_key is None):
        raise errors.InvalidRequest("tls_cert and tls_key must be given together (mutual TLS)")
    return grpc.ssl_channel_credentials(
        root_certificates=_pem(tls_ca, "tls_ca") if tls_ca is not None else None,  # None = system roots
        private_key=_pem(tls_key, "tls_key") if tls_key is not None else None,
        certificate_chain=_pem(tls_cert, "tls_cert") if tls_cert is not None else None,
    )


def _call_metadata(metadata: Sequence[tuple[str, str]], token: str | None) -> tuple[tuple[str, str], ...]:
    if not token:
        return tuple(metadata)
    if any(key.lower() == "authorization" for key, _ in metadata):
        raise errors.InvalidRequest("give either token or an authorization metadata entry, not both")
    return (*metadata, ("authorization", f"Bearer {token}"))


class SearchClient:
    """Blocking client.

    `token`: bearer token sent with every call (when the server has auth on). `tls_ca`: the CA to
    trust (PEM path or bytes) turns TLS on; `tls_cert` + `tls_key` add a client certificate (mutual
    TLS). `metadata` is sent with every call too; `credentials` takes ready-made channel credentials.
    """

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls_ca: PemSource | None = None,
        tls_cert: PemSource | None = None,
        tls_key: PemSource | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout: float | None = 30.0,
        max_message_mb: int = 32,
    ) -> None:
        options = _channel_options(max_message_mb)
        credentials = _credentials(credentials, tls_ca, tls_cert, tls_key)
        self._metadata = _call_metadata(metadata, token)
        self._channel = (
            grpc.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.insecure_channel(target, options=options)
        )
        self._stub = pb_grpc.SearchServiceStub(self._channel)
        self._timeout = timeout

    def __enter__(self) -> SearchClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()

    def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return method(request, timeout=timeout or self._timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            _raise(exc)

    def search(self, text: str | None = None, *, collection: str, **kwargs: Any) -> SearchResult:
        """`search(text, collection=..., top_k=...)` or `search(collection=..., image=bytes)`;
        keyword arguments as in `search_request`, plus `timeout` (seconds)."""
        timeout = kwargs.pop("timeout", None)
        request = search_request(collection, text, **kwargs)
        return _result(self._call(self._stub.Search, request, timeout))

    def search_request(self, request: pb.SearchRequest, timeout: float | None = None) -> SearchResult:
        return _result(self._call(self._stub.Search, request, timeout))

    def encode(
        self,
        text: str | None = None,
        *,
        image: bytes | None = None,
        space: str = "",
        collection: str = "",
        language: str = "",
    ) -> Embedding:
        response = self._call(
            self._stub.Encode, _encode_request(text, image, space, collection, language), None
        )
        return Embedding(tuple(response.vector), response.space, response.fingerprint, response.truncated)

    def get_item(self, collection: str, item_id: str) -> Item:
        response = self._call(self._stub.GetItem, pb.GetItemRequest(collection=collection, id=item_id), None)
        return _item(response.item)

    def list_collections(self) -> list[CollectionInfo]:
        return _collections(self._call(self._stub.ListCollections, pb.ListCollectionsRequest(), None))


class AsyncSearchClient:
    """asyncio client with the same methods as `SearchClient` (awaitable)."""

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls_ca: PemSource | None = None,
        tls_cert: PemSource | None = None,
        tls_key: PemSource | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        metadata: Sequence[tuple[str, str]] = (),
        timeout: float | None = 30.0,
        max_message_mb: int = 32,
    ) -> None:
        options = _channel_options(max_message_mb)
        credentials = _credentials(credentials, tls_ca, tls_cert, tls_key)
        self._metadata = _call_metadata(metadata, token)
        self._channel = (
            grpc.aio.secure_channel(target, credentials, options=options)
            if credentials is not None
            else grpc.aio.insecure_channel(target, options=options)
        )
        self._stub = pb_grpc.SearchServiceStub(self._channel)
        self._timeout = timeout

    async def __aenter__(self) -> AsyncSearchClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()

    async def _call(self, method: Any, request: Any, timeout: float | None) -> Any:
        try:
            return await method(request, timeout=timeout or self._timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            _raise(exc)

    async def search(self, text: str | None = None, *, collection: str, **kwargs: Any) -> SearchResult:
        timeout = kwargs.pop("timeout", None)
        request = search_request(collection, text, **kwargs)
        return _result(await self._call(self._stub.Search, request, timeout))

    async def encode(
        self,
        text: str | None = None,
        *,
        image: bytes | None = None,
        space: str = "",
        collection: str = "",
        language: str = "",
    ) -> Embedding:
        response = await self._call(
            self._stub.Encode, _encode_request(text, image, space, collection, language), None
        )
        return Embedding(tuple(response.vector), response.space, response.fingerprint, response.truncated)

    async def get_item(self, collection: str, item_id: str) -> Item:
        response = await self._call(
            self._stub.GetItem, pb.GetItemRequest(collection=collection, id=item_id), None
        )
        return _item(response.item)

    async def list_collections(self) -> list[CollectionInfo]:
        return _collections(await self._call(self._stub.ListCollections, pb.ListCollectionsRequest(), None))
