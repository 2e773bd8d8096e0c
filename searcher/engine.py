"""The search core (no gRPC): validate → route → encode → candidates → stages → fuse → page → hydrate.

Batches first: `search_many` answers a batch (one model call per space, one FAISS search per index,
one hydration read), `search` is a batch of one. The server runs the batch's two halves,
`encode_batch` and `finish_batch`, on two pipelined threads.

Metadata filters: the filter is resolved to the set of matching item ids by SQL (storage's filter
language), then the ANN search over-fetches and keeps only allowed ids (`searcher/candidates.py`).
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

from clipsearch.config import Settings
from clipsearch.errors import ClipsearchError, InvalidRequest, NotFound
from clipsearch.searcher import paging
from clipsearch.searcher.candidates import CandidateRequest, fetch_candidates
from clipsearch.searcher.catalog import Catalog
from clipsearch.searcher.encoders import EncoderLoader, EncoderPool
from clipsearch.searcher.indexes import IndexManager, IndexSnapshot
from clipsearch.searcher.routing import LanguageDetector, Route, SpaceProfile, route_other, route_text
from clipsearch.searcher.stages import Stage, StageContext, fuse_media_lists
from clipsearch.searcher.types import (
    MEDIA_TYPES,
    Candidate,
    CollectionDescription,
    Encoding,
    Hit,
    IndexVersionRef,
    ItemRecord,
    LongTextHandling,
    MediaType,
    QueryKind,
    SearchQuery,
    SearchResult,
    SpaceDescription,
    StageTiming,
)

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

log = logging.getLogger(__name__)

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+")
#: frames sampled from a query video (embedded as their mean).
QUERY_VIDEO_FRAMES = 8


@dataclass(frozen=True, slots=True)
class QueryVector:
    vector: np.ndarray
    truncated: bool = False
    handling: LongTextHandling = ""


@dataclass(slots=True)
class PreparedQuery:
    """A validated, routed query waiting for its vector."""

    query: SearchQuery
    kind: QueryKind
    route: Route
    top_k: int
    offset: int
    media_types: tuple[MediaType, ...]
    timings: list[StageTiming] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DecodedImage:
    """A query image decoded before batching (the server decodes in parallel), with its decode time."""

    image: Image.Image
    ms: float


@dataclass(slots=True)
class EncodedBatch:
    """A batch between `encode_batch` and `finish_batch`: the queries with vectors, and the outcome
    so far of every query (None = still running, else its result or its error)."""

    ready: list[tuple[int, PreparedQuery, QueryVector]]
    outcomes: list[SearchResult | Exception | None]


@dataclass(frozen=True, slots=True)
class _Page:
    """One query between ranking and hydration: the page's candidates, whether more follow."""

    position: int
    prepared: PreparedQuery
    qv: QueryVector
    index_ref: IndexVersionRef
    hits: list[Candidate]
    more: bool


class Stopwatch:
    def __init__(self, timings: list[StageTiming]) -> None:
        self._timings = timings
        self._start = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self._timings.append(StageTiming(stage, (now - self._start) * 1000.0))
        self._start = now


class SearchEngine:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        *,
        encoder_loader: EncoderLoader | None = None,
        stages: Sequence[Stage] | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.encoders = EncoderPool(settings, encoder_loader)
        if stages is None:
            from clipsearch.searcher.rerank.stages import default_stages

            stages = default_stages(settings.data_dir)
        self.stages: tuple[Stage, ...] = tuple(stages)
        languages = [code for space in settings.spaces.values() for code in space.languages]
        self.detector = LanguageDetector(languages)
        self.indexes = IndexManager(catalog, settings.collections, self._expected_fingerprint)

    # ---- lifecycle ---------------------------------------------------------------------------

    def refresh(self) -> list[str]:
        """Swap in newly activated index versions (and drop cached hydrations of changed items);
        returns a description of each version swapped."""
        self.catalog.forget_changed_items()
        return [f"{r.collection}/{r.space}/{r.unit}@{r.version}" for r in self.indexes.refresh()]

    def warm_up(self) -> None:
        """Load every configured encoder now (instead of on the first query)."""
        for name in self._used_spaces():
            try:
                self.encoders.get(name)
            except ClipsearchError as exc:
                # Vector and item queries still work; text/image queries in this space answer UNAVAILABLE.
                log.error("space %s: encoder unavailable: %s", name, exc)

    def _used_spaces(self) -> list[str]:
        seen: dict[str, None] = {}
        for collection in self.settings.collections.values():
            for space in collection.spaces:
                seen[space] = None
        return list(seen)

    def _expected_fingerprint(self, space: str) -> str | None:
        encoder = self.encoders.loaded().get(space)
        return encoder.info.fingerprint if encoder is not None else None

    # ---- one call, in process ----------------------------------------------------------------

    def search(self, query: SearchQuery) -> SearchResult:
        (outcome,) = self.search_many([query])
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def search_many(
        self,
        queries: Sequence[SearchQuery],
        images: Sequence[DecodedImage | None] | None = None,
        on_encode: Callable[[str, int], None] | None = None,
    ) -> list[SearchResult | Exception]:
        """Answer a batch of queries; each one's error is its own outcome and never fails the others.

        Batches first (a single query is a batch of one): each query is validated and routed on its
        own, then the texts (and images) of each space are encoded in one model call, queries on the
        same index share one FAISS search, and the hits of the whole batch are hydrated together.
        `images` may carry already decoded query images (by position); `on_encode(kind, n)` is told
        the size of every batched model call. A stage's timing is the time of the batched step.
        """
        return self.finish_batch(self.encode_batch(queries, images, on_encode))

    def encode_batch(
        self,
        queries: Sequence[SearchQuery],
        images: Sequence[DecodedImage | None] | None = None,
        on_encode: Callable[[str, int], None] | None = None,
    ) -> EncodedBatch:
        """The first half of `search_many`: validate, route and encode (the model's part)."""
        outcomes: list[SearchResult | Exception | None] = [None] * len(queries)
        prepared: dict[int, PreparedQuery] = {}
        for position, query in enumerate(queries):
            try:
                prepared[position] = self.prepare(query)
            except Exception as exc:
                outcomes[position] = exc
        vectors = self._query_vectors(prepared, images, outcomes, on_encode)
        ready = [(position, prepared[position], vectors[position]) for position in sorted(vectors)]
        return EncodedBatch(ready, outcomes)

    def finish_batch(self, batch: EncodedBatch) -> list[SearchResult | Exception]:
        """The second half of `search_many`: candidates, stages, hydration (the index's part). The
        server runs it on another thread than `encode_batch`, so one batch's search overlaps the
        next one's model call."""
        self._execute_many(batch.ready, batch.outcomes)
        return [RuntimeError("query not answered") if o is None else o for o in batch.outcomes]

    def _query_vectors(
        self,
        prepared: dict[int, PreparedQuery],
        images: Sequence[DecodedImage | None] | None,
        outcomes: list[SearchResult | Exception | None],
        on_encode: Callable[[str, int], None] | None,
    ) -> dict[int, QueryVector]:
        """The query vector of every prepared query (failures go to `outcomes`): one model call per
        space for the texts and one for the images; other kinds one by one."""
        vectors: dict[int, QueryVector] = {}
        texts: dict[str, list[int]] = {}
        pictures: dict[str, list[tuple[int, Image.Image]]] = {}
        for position, query in prepared.items():
            try:
                if query.kind == "text":
                    texts.setdefault(query.route.space, []).append(position)
                elif query.kind == "image":
                    decoded = images[position] if images is not None else None
                    if decoded is None:  # not decoded before batching
                        decoded = self.decode_query_image(query.query.image or b"")
                    query.timings.append(StageTiming("decode", decoded.ms))
                    pictures.setdefault(query.route.space, []).append((position, decoded.image))
                else:
                    vectors[position] = self._single_vector(query)
            except Exception as exc:
                outcomes[position] = exc
        for space, positions in texts.items():
            batch = [(prepared[p].query.text or "", prepared[p].route.long_text) for p in positions]
            self._encode_group(
                positions, prepared, vectors, outcomes, partial(self.encode_texts, space, batch)
            )
            if on_encode is not None:
                on_encode("text", len(positions))
        for space, members in pictures.items():
            shown = [image for _, image in members]
            encode = partial(self._image_query_vectors, space, shown)
            self._encode_group([p for p, _ in members], prepared, vectors, outcomes, encode)
            if on_encode is not None:
                on_encode("image", len(members))
        return vectors

    @staticmethod
    def _encode_group(
        positions: list[int],
        prepared: dict[int, PreparedQuery],
        vectors: dict[int, QueryVector],
        outcomes: list[SearchResult | Exception | None],
        encode: Callable[[], list[QueryVector]],
    ) -> None:
        """One model call for a group of queries; its failure is every member's outcome."""
        started = time.perf_counter()
        try:
            encoded = encode()
        except Exception as exc:
            for position in positions:
                outcomes[position] = exc
            return
        elapsed = (time.perf_counter() - started) * 1000
        for position, vector in zip(positions, encoded, strict=True):
            prepared[position].timings.append(StageTiming("encode", elapsed))
            vectors[position] = vector

    # ---- the steps ---------------------------------------------------------------------------

    def profiles(self, collection: str) -> list[SpaceProfile]:
        names = self.settings.collection(collection).spaces
        profiles = []
        for name in names:
            space = self.settings.space(name)
            encoder = self.encoders.get(name)
            profiles.append(
                SpaceProfile(name, space.role, encoder.info.context_length, tuple(space.languages))
            )
        return profiles

    def prepare(self, query: SearchQuery) -> PreparedQuery:
        timings: list[StageTiming] = []
        watch = Stopwatch(timings)
        kind = query.kind
        limits = self.settings.limits
        search = self.settings.search
        if not query.collection:
            raise InvalidRequest("collection is required")
        collection = self.settings.collection(query.collection)
        top_k = query.top_k or search.default_top_k
        max_top_k = min(search.max_top_k, limits.max_page_size)
        if not 1 <= top_k <= max_top_k:
            raise InvalidRequest(f"top_k must be between 1 and {max_top_k} (got {top_k})")
        offset = paging.decode_token(query.page_token, query) if query.page_token else query.offset
        if offset < 0 or offset + top_k > search.max_top_k * 10:
            raise InvalidRequest(
                f"offset + top_k must stay below {search.max_top_k * 10} (got {offset + top_k})"
            )
        if query.min_score is not None and not math.isfinite(query.min_score):
            raise InvalidRequest("min_score must be a finite number")
        present = self._media_present(query.collection)
        media_types = tuple(dict.fromkeys(query.media_types)) or tuple(t for t in MEDIA_TYPES if t in present)
        for media in media_types:
            if media not in MEDIA_TYPES:
                raise InvalidRequest(f"unknown media type {media!r} (use image, video or text)")
        if query.space and query.space not in collection.spaces:
            raise InvalidRequest(
                f"space '{query.space}' is not a space of collection '{query.collection}' "
                f"(spaces: {', '.join(collection.spaces)})"
            )
        if kind == "text":
            text = (query.text or "").strip()
            if not text:
                raise InvalidRequest("query text is empty")
            if len(text) > limits.max_query_chars:
                raise InvalidRequest(
                    f"query text has {len(text)} characters; the limit is {limits.max_query_chars}"
                )
            route = route_text(
                text,
                self.profiles(query.collection),
                self._count_tokens,
                self.detector,
                search.long_text_policy,
                language=query.language,
                explicit_space=query.space,
            )
        else:
            profiles = [SpaceProfile(name, self.settings.space(name).role, 0) for name in collection.spaces]
            route = route_other(
                profiles, "item" if kind == "item" else "media" if kind != "vector" else "vector", query.space
            )
        watch.lap("route")
        return PreparedQuery(query, kind, route, top_k, offset, media_types, timings)

    def _media_present(self, collection: str) -> tuple[MediaType, ...]:
        present: set[str] = set()
        for key, index in self.indexes.snapshot.indexes.items():
            if key[0] == collection and key[2] == "item":
                present.update(index.media_present)
        return tuple(m for m in MEDIA_TYPES if m in present)

    def _count_tokens(self, space: str, text: str) -> int:
        return self.encoders.get(space).count_tokens(text)

    def _single_vector(self, prepared: PreparedQuery) -> QueryVector:
        """The vector of a video, item or raw-vector query (texts and images are encoded in groups)."""
        watch = Stopwatch(prepared.timings)
        query, space = prepared.query, prepared.route.space
        if prepared.kind == "video":
            frames = self.decode_video(query.video or b"")
            watch.lap("decode")
            result = QueryVector(self.encode_frames_mean(space, frames))
        elif prepared.kind == "item":
            result = QueryVector(self.item_vector(query.collection, space, query.item_id or ""))
        else:
            result = QueryVector(self.validate_vector(query.collection, space, query.vector or ()))
        watch.lap("encode")
        return result

    def decode_query_image(self, data: bytes) -> DecodedImage:
        """Decode a query image and time it (before batching; `search_many(images=...)` takes it)."""
        started = time.perf_counter()
        image = self.decode_image(data)
        return DecodedImage(image, (time.perf_counter() - started) * 1000)

    def decode_image(self, data: bytes) -> Image.Image:
        from clipsearch.indexer.decode.images import decode_image
        from clipsearch.indexer.failures import DecodeFailed

        if not data:
            raise InvalidRequest("image is empty")
        try:
            return decode_image(data, self.settings.limits.max_image_pixels)
        except DecodeFailed as exc:
            raise InvalidRequest(f"image cannot be decoded: {exc}") from None

    def decode_video(self, data: bytes) -> list[Image.Image]:
        from clipsearch.searcher.query_video import sample_query_video

        if not data:
            raise InvalidRequest("video is empty")
        return sample_query_video(data, QUERY_VIDEO_FRAMES, self.settings.limits.max_video_seconds)

    def encode_texts(self, space: str, texts: Sequence[tuple[str, str]]) -> list[QueryVector]:
        """Encode (text, long-text mode) pairs in one model call; chunked texts are averaged."""
        import numpy as np

        encoder = self.encoders.get(space)
        flat: list[str] = []
        spans: list[tuple[int, int]] = []
        for text, mode in texts:
            pieces = (
                self._chunks(encoder.count_tokens, encoder.info.context_length, text)
                if mode == "chunk"
                else [text]
            )
            spans.append((len(flat), len(flat) + len(pieces)))
            flat.extend(pieces)
        encoded = encoder.encode_texts_detailed(flat)
        out = []
        for start, end in spans:
            vectors = encoded.vectors[start:end]
            truncated = any(encoded.truncated[start:end])
            if end - start > 1:
                mean = vectors.mean(axis=0)
                vector = mean / max(float(np.linalg.norm(mean)), 1e-12)
                handling: LongTextHandling = "chunked"
            else:
                vector = vectors[0]
                handling = "truncated" if truncated else "fitted"
            out.append(QueryVector(np.ascontiguousarray(vector, dtype=np.float32), truncated, handling))
        return out

    @staticmethod
    def _chunks(count: Callable[[str], int], context: int, text: str) -> list[str]:
        """Greedy packing of whole sentences into pieces that fit the context."""
        sentences = [s for s in _SENTENCE_END.split(text.strip()) if s]
        chunks: list[str] = []
        current = ""
        for sentence in sentences:
            candidate = f"{current} {sentence}".strip()
            if current and context > 0 and count(candidate) > context:
                chunks.append(current)
                current = sentence
            else:
                current = candidate
        if current:
            chunks.append(current)
        return chunks or [text]

    def encode_images(self, space: str, images: Sequence[Image.Image]) -> list[np.ndarray]:
        vectors = self.encoders.get(space).encode_images(images)
        return [vectors[i] for i in range(len(images))]

    def _image_query_vectors(self, space: str, images: Sequence[Image.Image]) -> list[QueryVector]:
        return [QueryVector(vector) for vector in self.encode_images(space, images)]

    def encode_frames_mean(self, space: str, frames: Sequence[Image.Image]) -> np.ndarray:
        import numpy as np

        vectors = self.encoders.get(space).encode_frames(frames)
        mean = vectors.mean(axis=0)
        return np.ascontiguousarray(mean / max(float(np.linalg.norm(mean)), 1e-12), dtype=np.float32)

    def item_vector(self, collection: str, space: str, key: str) -> np.ndarray:
        import numpy as np

        item = self.catalog.find_item(collection, key)
        vector = self.catalog.item_vector(self.indexes.snapshot, collection, space, item.item_id)
        if vector is None:
            raise NotFound(f"item {key!r} has no vector in space '{space}' (not indexed yet?)")
        return np.ascontiguousarray(vector, dtype=np.float32)

    def validate_vector(self, collection: str, space: str, values: Sequence[float]) -> np.ndarray:
        import numpy as np

        vector = np.asarray(values, dtype=np.float32)
        dim = self.indexes.snapshot.require(collection, space, "item").dim
        if vector.ndim != 1 or vector.shape[0] != dim:
            raise InvalidRequest(f"vector must have {dim} components for space '{space}' (got {vector.size})")
        if not np.isfinite(vector).all():
            raise InvalidRequest("vector contains NaN or infinite values")
        norm = float(np.linalg.norm(vector))
        if norm < 1e-12:
            raise InvalidRequest("vector is all zeros")
        return vector / norm

    def _execute_many(
        self,
        batch: Sequence[tuple[int, PreparedQuery, QueryVector]],
        outcomes: list[SearchResult | Exception | None],
    ) -> None:
        """Candidates → stages → fuse → page → hydrate for queries with their vectors (into `outcomes`)."""
        snapshot = self.indexes.snapshot  # taken once: a swap mid-batch does not affect these queries
        started = time.perf_counter()
        requests: list[tuple[int, PreparedQuery, QueryVector, CandidateRequest]] = []
        for position, prepared, qv in batch:
            try:
                requests.append((position, prepared, qv, self._candidate_request(snapshot, prepared, qv)))
            except Exception as exc:
                outcomes[position] = exc
        found = fetch_candidates([request for *_, request in requests])
        elapsed = (time.perf_counter() - started) * 1000
        pages: list[_Page] = []
        for (position, prepared, qv, request), candidates in zip(requests, found, strict=True):
            prepared.timings.append(StageTiming("candidates", elapsed))
            try:
                page, more = self._rank(snapshot, prepared, request.vector, candidates)
            except Exception as exc:
                outcomes[position] = exc
                continue
            pages.append(_Page(position, prepared, qv, request.index.ref, page, more))
        started = time.perf_counter()
        wanted: dict[str, set[int]] = {}
        for entry in pages:
            wanted.setdefault(entry.prepared.query.collection, set()).update(c.item_id for c in entry.hits)
        records: dict[str, dict[int, ItemRecord]] = {}
        for collection, ids in wanted.items():
            try:
                records[collection] = self.catalog.items(collection, sorted(ids))
            except Exception as exc:
                for entry in pages:
                    if entry.prepared.query.collection == collection:
                        outcomes[entry.position] = exc
        elapsed = (time.perf_counter() - started) * 1000
        for entry in pages:
            found_records = records.get(entry.prepared.query.collection)
            if found_records is not None:
                entry.prepared.timings.append(StageTiming("hydrate", elapsed))
                outcomes[entry.position] = self._result(snapshot, entry, found_records)

    def _candidate_request(
        self, snapshot: IndexSnapshot, prepared: PreparedQuery, qv: QueryVector
    ) -> CandidateRequest:
        import numpy as np

        query = prepared.query
        index = snapshot.require(query.collection, prepared.route.space, "item")
        vector = np.ascontiguousarray(qv.vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != index.dim:
            raise InvalidRequest(f"query vector has {vector.shape[0]} dimensions; the index has {index.dim}")
        allowed = self.catalog.filter_ids(query.collection, query.filter) if query.filter.strip() else None
        exclude: int | None = None
        if prepared.kind == "item":
            exclude = self.catalog.find_item(query.collection, query.item_id or "").item_id
        depth = max(prepared.offset + prepared.top_k + 1, self._rerank_depth(query))
        return CandidateRequest(index, vector, depth, prepared.media_types, allowed, exclude, query.min_score)

    def _rank(
        self,
        snapshot: IndexSnapshot,
        prepared: PreparedQuery,
        vector: np.ndarray,
        candidates: list[Candidate],
    ) -> tuple[list[Candidate], bool]:
        """The stage-2 pipeline and fusion: (this page's candidates, whether more follow)."""
        query = prepared.query
        watch = Stopwatch(prepared.timings)
        ctx = StageContext(
            query,
            query.collection,
            prepared.route.space,
            vector,
            snapshot,
            self.catalog,
            self.encoders,
            self.settings,
        )
        for stage in self.stages:
            candidates = stage(ctx, candidates)
            watch.lap(stage.name)
        ranked = fuse_media_lists(candidates, self.settings.search.rrf_k)
        end = prepared.offset + prepared.top_k
        return ranked[prepared.offset : end], len(ranked) > end

    def _result(self, snapshot: IndexSnapshot, entry: _Page, records: dict[int, ItemRecord]) -> SearchResult:
        prepared, qv, more = entry.prepared, entry.qv, entry.more
        query, route = prepared.query, prepared.route
        hits = tuple(
            _hit(records[c.item_id], prepared.offset + i, c)
            for i, c in enumerate(entry.hits)
            if c.item_id in records
        )
        refs = [entry.index_ref]
        frame_index = snapshot.get(query.collection, route.space, "frame")
        if frame_index is not None and any(h.moment is not None for h in hits):
            refs.append(frame_index.ref)
        return SearchResult(
            hits=hits,
            next_page_token=paging.encode_token(prepared.offset + prepared.top_k, query) if more else "",
            space=route.space,
            route_reason=route.reason,
            language=route.language,
            long_text=qv.handling,
            query_truncated=qv.truncated,
            index_versions=tuple(refs),
            timings=tuple(prepared.timings),
        )

    def _rerank_depth(self, query: SearchQuery) -> int:
        if len(self.stages) <= 1:  # no rerank stage installed: nothing to go deeper for
            return 0
        enabled = self.settings.search.rerank if query.rerank.enabled is None else query.rerank.enabled
        return (query.rerank.depth or self.settings.search.rerank_depth) if enabled else 0

    # ---- other RPCs --------------------------------------------------------------------------

    def encode(
        self, space: str, collection: str, text: str | None, image: bytes | None, language: str = ""
    ) -> Encoding:
        if (text is None) == (image is None):
            raise InvalidRequest("exactly one of text or image must be set")
        spaces = self.settings.collection(collection).spaces if collection else tuple(self.settings.spaces)
        if space and space not in self.settings.spaces:
            raise InvalidRequest(
                f"unknown space '{space}' (configured: {', '.join(sorted(self.settings.spaces))})"
            )
        if text is not None:
            if not text.strip():
                raise InvalidRequest("text is empty")
            if len(text) > self.settings.limits.max_query_chars:
                raise InvalidRequest(
                    f"text has {len(text)} characters; the limit is {self.settings.limits.max_query_chars}"
                )
            profiles = [
                SpaceProfile(
                    n,
                    self.settings.space(n).role,
                    self.encoders.get(n).info.context_length,
                    self.settings.space(n).languages,
                )
                for n in spaces
            ]
            route = route_text(
                text,
                profiles,
                self._count_tokens,
                self.detector,
                self.settings.search.long_text_policy,
                language,
                space,
            )
            qv = self.encode_texts(route.space, [(text, route.long_text)])[0]
            chosen = route.space
        else:
            chosen = space or spaces[0]
            qv = QueryVector(self.encode_images(chosen, [self.decode_image(image or b"")])[0])
        info = self.encoders.get(chosen).info
        return Encoding(tuple(float(x) for x in qv.vector.tolist()), chosen, info.fingerprint, qv.truncated)

    def get_item(self, collection: str, key: str) -> ItemRecord:
        if not collection:
            raise InvalidRequest("collection is required")
        self.settings.collection(collection)
        if not key:
            raise InvalidRequest("id is required")
        return self.catalog.find_item(collection, key)

    def list_collections(self) -> list[CollectionDescription]:
        snapshot: IndexSnapshot = self.indexes.snapshot
        out = []
        for name, collection in sorted(self.settings.collections.items()):
            spaces = []
            for space_name in collection.spaces:
                space = self.settings.space(space_name)
                encoder = self.encoders.loaded().get(space_name)
                active = tuple(
                    ref for ref in snapshot.refs() if ref.collection == name and ref.space == space_name
                )
                spaces.append(
                    SpaceDescription(
                        space_name,
                        space.role,
                        space.model,
                        encoder.info.dim if encoder else 0,
                        space.languages,
                        active,
                    )
                )
            out.append(CollectionDescription(name, tuple(spaces), self._media_present(name)))
        return out


def _hit(item: ItemRecord, rank: int, candidate: Candidate) -> Hit:
    return Hit(
        item=item,
        rank=rank,
        score=candidate.score,
        initial=candidate.initial,
        rerank=candidate.rerank,
        frame=candidate.frame,
        moment=candidate.moment,
    )
