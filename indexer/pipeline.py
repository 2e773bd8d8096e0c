"""The indexing run: discover → decode (worker threads) → batch → encode → write.

Writes are crash-safe: a batch's vectors are appended to the vector store and fsynced first, then
the SQL rows (assets, frames, vector refs, statuses) commit in one transaction. A crash before the
commit leaves only store rows nobody references (dropped by compaction); a rerun skips every asset
a committed batch marked `indexed` (size+mtime, confirmed by content hash) and redoes the rest, so it
converges to the same final set with no duplicates.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from clipsearch.indexer.decode.video import SamplingPolicy
from clipsearch.indexer.failures import DecodeFailed
from clipsearch.indexer.prepare import DecodeLimits, Prepared, guess_media_type, prepare
from clipsearch.indexer.sources import Source, SourceItem, iter_sources

if TYPE_CHECKING:
    import numpy as np

    from clipsearch.config import CollectionSettings, IndexerSettings
    from clipsearch.indexer.encoders.base import Encoder
    from clipsearch.storage.db import Database
    from clipsearch.storage.records import AssetRecord, AssetStatus, AssetWrite

log = logging.getLogger(__name__)

INDEX_JOB_KIND = "index"


class VectorWriter(Protocol):
    """The part of a space's vector store the pipeline writes through."""

    def append(self, vectors: np.ndarray) -> np.ndarray:
        """Store vectors durably (fsynced) and return their new row ids."""
        ...

    def delete(self, row_ids: Sequence[int]) -> None:
        """Tombstone rows that no longer belong to anything."""
        ...


@dataclass(frozen=True, slots=True)
class RunOptions:
    retry_failed: bool = False
    #: mark assets whose files vanished as deleted (every source must have been scanned).
    full_scan: bool = True
    #: model inputs (images + frames + passages) per encode batch; 0 = the first space's batch_size.
    batch_units: int = 0
    progress: bool = False


@dataclass(slots=True)
class RunSummary:
    collection: str
    job_id: int | None = None
    discovered: int = 0
    indexed: int = 0
    unchanged: int = 0
    deleted: int = 0
    frames: int = 0
    failed: Counter[str] = field(default_factory=Counter)
    #: failures carried over from earlier runs and not retried.
    previously_failed: int = 0
    seconds: float = 0.0
    encode_seconds: float = 0.0

    @property
    def items_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "discovered": self.discovered,
            "indexed": self.indexed,
            "unchanged": self.unchanged,
            "deleted": self.deleted,
            "frames": self.frames,
            "failed": dict(self.failed),
            "failed_total": sum(self.failed.values()),
            "previously_failed": self.previously_failed,
            "seconds": round(self.seconds, 3),
            "encode_seconds": round(self.encode_seconds, 3),
            "items_per_second": round(self.items_per_second, 2),
        }


@dataclass(frozen=True, slots=True)
class _Work:
    item: SourceItem
    existing: _Existing | None
    #: hash of the indexed content (None = must re-embed whatever the hash).
    indexed_hash: str | None


def mtime_seconds(item: SourceItem) -> float | None:
    return item.mtime_ns / 1e9 if item.path is not None else None


class IndexPipeline:
    """Indexes one collection into its spaces. Encoders and vector writers are passed in."""

    def __init__(
        self,
        db: Database,
        collection: str,
        collection_settings: CollectionSettings,
        indexer_settings: IndexerSettings,
        encoders: Mapping[str, Encoder],
        writers: Mapping[str, VectorWriter],
        sources: Sequence[Source] | None = None,
    ) -> None:
        if not encoders:
            raise ValueError("at least one space is needed")
        self.db = db
        self.collection = collection
        self.settings = collection_settings
        self.indexer = indexer_settings
        self.encoders = dict(encoders)
        self.writers = dict(writers)
        self.sources = (
            list(sources)
            if sources is not None
            else [
                Source(_path(s.path), s.kind, tuple(s.include), tuple(s.exclude))
                for s in collection_settings.sources
            ]
        )
        self.limits = DecodeLimits(
            max_image_pixels=indexer_settings.max_image_pixels,
            max_file_bytes=indexer_settings.max_file_bytes,
            max_video_seconds=indexer_settings.max_video_seconds,
            max_video_frames=indexer_settings.max_video_frames,
            sampling=SamplingPolicy.parse(collection_settings.video_sampling),
        )

    # ------------------------------------------------------------ the run

    def run(
        self, options: RunOptions | None = None, on_progress: Callable[[int, int], None] | None = None
    ) -> RunSummary:
        from clipsearch.storage import catalog, jobs

        options = options or RunOptions()
        started = time.perf_counter()
        summary = RunSummary(self.collection)
        with self.db.session() as session:
            record = catalog.ensure_collection(session, self.collection)
            self.collection_id = record.id
            self.space_ids = {
                name: catalog.ensure_space(
                    session,
                    name,
                    fingerprint=enc.info.fingerprint,
                    dim=enc.info.dim,
                    context_length=enc.info.context_length,
                ).id
                for name, enc in self.encoders.items()
            }
            self.source_ids = {
                str(s.path): catalog.ensure_source(session, record.id, str(s.path), s.resolved_kind()).id
                for s in self.sources
            }
            job = jobs.create_job(session, INDEX_JOB_KIND, record.id, {"retry_failed": options.retry_failed})
            jobs.start_job(session, job.id)
        summary.job_id = job.id
        try:
            self._run(options, summary, on_progress)
        except BaseException as exc:
            summary.seconds = time.perf_counter() - started
            with self.db.session() as session:
                message = str(exc) or type(exc).__name__
                jobs.finish_job(session, job.id, "failed", error=message, details=summary.as_dict())
            raise
        summary.seconds = time.perf_counter() - started
        with self.db.session() as session:
            jobs.finish_job(session, job.id, "succeeded", details=summary.as_dict())
            for source_id in self.source_ids.values():
                catalog.mark_source_scanned(session, source_id)
        log.info("index %s: %s", self.collection, summary.as_dict())
        return summary

    def _run(
        self, options: RunOptions, summary: RunSummary, on_progress: Callable[[int, int], None] | None
    ) -> None:
        existing = self._existing_assets()
        covered = self._covered_assets()
        items = list(iter_sources(self.sources))
        summary.discovered = len(items)
        work: list[_Work] = []
        for item in items:
            old = existing.get(item.key)
            decision = self._decide(item, old, covered, options)
            if decision == "unchanged":
                summary.unchanged += 1
            elif decision == "failed_before":
                summary.previously_failed += 1
            else:
                indexed_hash = (
                    old.content_hash
                    if old is not None and old.status == "indexed" and old.id in covered
                    else None
                )
                work.append(_Work(item, old, indexed_hash))
        if options.full_scan:
            seen = {item.key for item in items}
            vanished = [a for a in existing.values() if a.key_uri not in seen and a.status != "deleted"]
            summary.deleted = self._delete(vanished)
        self._process(work, options, summary, on_progress)

    def _decide(self, item: SourceItem, old: _Existing | None, covered: set[int], options: RunOptions) -> str:
        if old is None:
            return "work"
        same_quick = old.size == (
            item.size if item.path is not None else None
        ) and old.mtime == mtime_seconds(item)
        if item.path is None:
            same_quick = old.content_hash == item.quick_signature.removeprefix("inline:")
        if old.status == "indexed" and old.id in covered and same_quick:
            return "unchanged"
        if old.status == "failed" and same_quick and not options.retry_failed:
            return "failed_before"
        return "work"

    # ------------------------------------------------------------ state from earlier runs

    def _existing_assets(self) -> dict[str, _Existing]:
        from clipsearch.storage import assets

        out: dict[str, _Existing] = {}
        after = 0
        with self.db.session() as session:
            while True:
                page = assets.list_assets(session, self.collection_id, after_id=after, limit=5000)
                if not page:
                    break
                for a in page:
                    out[a.uri] = _Existing(a.id, a.uri, a.status, a.content_hash, a.size_bytes, a.mtime, a)
                after = page[-1].id
        return out

    def _covered_assets(self) -> set[int]:
        """Assets that have an item vector in every space of the collection."""
        from clipsearch.storage import vector_refs

        covered: set[int] | None = None
        with self.db.session() as session:
            for space_id in self.space_ids.values():
                rows = vector_refs.vector_rows(session, self.collection_id, space_id, "item", live_only=False)
                owners = {
                    r.asset_id for r in vector_refs.resolve_rows(session, space_id, rows.tolist()).values()
                }
                covered = owners if covered is None else covered & owners
        return covered or set()

    def _delete(self, vanished: list[_Existing]) -> int:
        from clipsearch.storage import assets, vector_refs

        if not vanished:
            return 0
        ids = [a.id for a in vanished]
        dropped: dict[str, list[int]] = {}
        with self.db.session() as session:
            for name, space_id in self.space_ids.items():
                dropped[name] = vector_refs.remove_vector_refs(session, ids, space_id)
            assets.mark_assets_deleted(session, ids)
        self._tombstone(dropped)
        log.info("%s: %d vanished item(s) marked deleted", self.collection, len(ids))
        return len(ids)

    def _tombstone(self, dropped: Mapping[str, list[int]]) -> None:
        # After the commit: a crash here only leaves unreferenced rows, which compaction drops.
        for name, rows in dropped.items():
            if rows:
                self.writers[name].delete(rows)

    # ------------------------------------------------------------ decode → encode → write

    def _process(
        self,
        work: list[_Work],
        options: RunOptions,
        summary: RunSummary,
        on_progress: Callable[[int, int], None] | None,
    ) -> None:
        """Three stages overlap: decode workers → encode (this thread) → one writer thread.

        The writer commits batches strictly in order (store append, then one SQL transaction), so
        the crash-safety argument is the same as for a single thread; the queue between encode and
        write holds at most one batch, so memory stays bounded and a writer error stops the run.
        """
        first = next(iter(self.encoders))
        batch_units = options.batch_units or getattr(self.encoders[first], "batch_size", 0) or 32
        window = max(2, self.indexer.prefetch_batches * batch_units)
        progress = _Progress(len(work), options.progress, on_progress)
        batch: list[tuple[_Work, Prepared]] = []
        units = 0
        with (
            progress,
            ThreadPoolExecutor(self.indexer.decode_workers, thread_name_prefix="decode") as pool,
            _OrderedWriter(lambda encoded: self._commit(encoded, summary, progress)) as writer,
        ):
            for job, prepared in _bounded_map(pool, self._prepare, work, window):
                batch.append((job, prepared))
                units += prepared.units
                if units >= batch_units:
                    writer.put(self._encode_batch(batch, summary))
                    batch, units = [], 0
            if batch:
                writer.put(self._encode_batch(batch, summary))

    def _prepare(self, job: _Work) -> Prepared:
        return prepare(job.item, self.encoders, self.limits, indexed_hash=job.indexed_hash)

    def _encode_batch(self, batch: list[tuple[_Work, Prepared]], summary: RunSummary) -> _EncodedBatch:
        """Embed the good items of a batch in every space (an input the model rejects fails alone)."""
        good = [(w, p) for w, p in batch if p.failure is None and not p.unchanged]
        failed: list[tuple[_Work, Prepared]] = [(w, p) for w, p in batch if p.failure is not None]
        vectors: dict[str, list[tuple[np.ndarray, np.ndarray | None]]] = {}
        if good:
            started = time.perf_counter()
            try:
                vectors = {
                    name: self._encode(enc, [p for _, p in good]) for name, enc in self.encoders.items()
                }
            except Exception as exc:  # one bad input must not sink the batch: retry one by one
                log.warning("batch encode failed (%s); encoding items one by one", exc)
                vectors, good, rejected = self._encode_singly(good)
                failed.extend(rejected)
            summary.encode_seconds += time.perf_counter() - started
        unchanged = [(w, p) for w, p in batch if p.unchanged]
        return _EncodedBatch(good, vectors, unchanged, failed)

    def _commit(self, encoded: _EncodedBatch, summary: RunSummary, progress: _Progress) -> None:
        """Vector store first (fsynced), then every SQL row of the batch in one transaction."""
        import numpy as np

        from clipsearch.storage import assets, vector_refs
        from clipsearch.storage.records import NewVectorRef

        good = encoded.good
        row_ids: dict[str, list[tuple[int, np.ndarray | None]]] = {}
        for name in self.encoders:
            per_item = encoded.vectors.get(name, [])
            if not per_item:
                continue
            stacked = np.concatenate(
                [
                    item[None, :] if frames is None else np.concatenate([item[None, :], frames])
                    for item, frames in per_item
                ]
            )
            rows = np.asarray(self.writers[name].append(stacked.astype(np.float32)), dtype=np.int64)
            cursor = 0
            placed: list[tuple[int, np.ndarray | None]] = []
            for _, frames in per_item:
                count = 1 + (0 if frames is None else len(frames))
                placed.append(
                    (int(rows[cursor]), rows[cursor + 1 : cursor + count] if frames is not None else None)
                )
                cursor += count
            row_ids[name] = placed
        dropped: dict[str, list[int]] = {name: [] for name in self.encoders}
        writes = [self._asset_write(p, w, "indexed") for w, p in good]
        for job, prepared in encoded.failed:
            failure = prepared.failure or DecodeFailed("encode_error", "the model failed on this input")
            writes.append(self._asset_write(prepared, job, "failed", str(failure)))
            summary.failed[failure.reason] += 1
        writes.extend(self._asset_write(p, w, "indexed") for w, p in encoded.unchanged)
        with self.db.session() as session:
            ids = assets.write_assets(session, self.collection_id, writes)
            records = ids[: len(good)]
            failed_ids = ids[len(good) : len(good) + len(encoded.failed)]
            # Old vectors of re-embedded or now-failing assets: one statement per space for the batch.
            for name, space_id in self.space_ids.items():
                dropped[name] = vector_refs.remove_vector_refs(session, [*records, *failed_ids], space_id)
            refs: dict[str, list[NewVectorRef]] = {name: [] for name in self.space_ids}
            for index, ((_, prepared), asset_id) in enumerate(zip(good, records, strict=True)):
                frame_ids: list[int] = []
                if prepared.media_type == "video":
                    frames = assets.replace_frames(session, asset_id, list(enumerate(prepared.frame_times)))
                    frame_ids = [f.id for f in frames]
                for name in self.space_ids:
                    item_row, frame_rows = row_ids[name][index]
                    refs[name].append(NewVectorRef(asset_id, item_row))
                    if frame_rows is not None:
                        refs[name].extend(
                            NewVectorRef(asset_id, int(r), fid)
                            for r, fid in zip(frame_rows, frame_ids, strict=True)
                        )
                summary.frames += len(frame_ids)
            for name, space_id in self.space_ids.items():
                vector_refs.add_vector_refs(session, space_id, refs[name])
        summary.indexed += len(records)
        summary.unchanged += len(encoded.unchanged)
        self._tombstone(dropped)
        progress.advance(len(good) + len(encoded.failed) + len(encoded.unchanged))

    def _asset_write(
        self, prepared: Prepared, job: _Work, status: AssetStatus, error: str | None = None
    ) -> AssetWrite:
        """The asset row after this run; an unchanged asset keeps what its earlier decode recorded."""
        from clipsearch.storage.records import AssetWrite

        item = prepared.item
        metadata = dict(item.metadata)
        if item.captions:
            metadata["captions"] = dict(item.captions)
        if prepared.failure is not None:
            metadata["failure_reason"] = prepared.failure.reason
        source_id = self.source_ids.get(item.origin)
        if source_id is None:
            source_id = next(
                (sid for path, sid in self.source_ids.items() if item.origin.startswith(path)), None
            )
        before = job.existing.record if prepared.unchanged and job.existing is not None else None
        return AssetWrite(
            uri=item.key,
            media_type=prepared.media_type if prepared.failure is None else guess_media_type(item),
            status=status,
            error=error,
            content_hash=prepared.content_hash or None,
            size_bytes=item.size if item.path is not None else None,
            mtime=mtime_seconds(item),
            metadata=metadata,
            text=prepared.text if before is None else before.text,
            source_id=source_id,
            duration_sec=prepared.duration_sec if before is None else before.duration_sec,
            width=prepared.width if before is None else before.width,
            height=prepared.height if before is None else before.height,
        )

    def _encode(self, encoder: Encoder, items: list[Prepared]) -> list[tuple[np.ndarray, np.ndarray | None]]:
        """Per item: its item vector and (videos) its frame vectors, from one batched call per kind."""
        import numpy as np

        name = encoder.info.space
        pixel_arrays = [p.inputs[name].pixels for p in items if p.inputs[name].pixels is not None]
        pixel_vectors = (
            encoder.encode_preprocessed(np.concatenate(pixel_arrays))
            if pixel_arrays
            else np.zeros((0, encoder.info.dim), np.float32)
        )
        passages = [text for p in items for text in p.inputs[name].passages]
        text_vectors = (
            encoder.encode_texts(passages) if passages else np.zeros((0, encoder.info.dim), np.float32)
        )
        out: list[tuple[np.ndarray, np.ndarray | None]] = []
        pixel_cursor = text_cursor = 0
        for p in items:
            inputs = p.inputs[name]
            if inputs.pixels is not None:
                count = len(inputs.pixels)
                part = pixel_vectors[pixel_cursor : pixel_cursor + count]
                pixel_cursor += count
                if p.media_type == "video":
                    out.append((_mean_normalised(part), part))
                else:
                    out.append((part[0], None))
            else:
                count = len(inputs.passages)
                out.append((_mean_normalised(text_vectors[text_cursor : text_cursor + count]), None))
                text_cursor += count
        return out

    def _encode_singly(
        self, good: list[tuple[_Work, Prepared]]
    ) -> tuple[
        dict[str, list[tuple[np.ndarray, np.ndarray | None]]],
        list[tuple[_Work, Prepared]],
        list[tuple[_Work, Prepared]],
    ]:
        vectors: dict[str, list[tuple[np.ndarray, np.ndarray | None]]] = {name: [] for name in self.encoders}
        kept: list[tuple[_Work, Prepared]] = []
        failed: list[tuple[_Work, Prepared]] = []
        for job, prepared in good:
            try:
                single = {name: self._encode(enc, [prepared])[0] for name, enc in self.encoders.items()}
            except Exception as exc:
                log.warning("%s: encoding failed: %s", prepared.item.key, exc)
                failed.append(
                    (
                        job,
                        _with_failure(prepared, DecodeFailed("encode_error", f"{prepared.item.key}: {exc}")),
                    )
                )
                continue
            kept.append((job, prepared))
            for name, pair in single.items():
                vectors[name].append(pair)
        return vectors, kept, failed


@dataclass(frozen=True, slots=True)
class _EncodedBatch:
    """A batch between the encode and write stages."""

    good: list[tuple[_Work, Prepared]]
    #: per space, per good item: its item vector and (videos) its frame vectors.
    vectors: dict[str, list[tuple[np.ndarray, np.ndarray | None]]]
    unchanged: list[tuple[_Work, Prepared]]
    failed: list[tuple[_Work, Prepared]]


class _OrderedWriter:
    """One thread that runs `commit` on each batch in the order given, one batch queued at most.

    An error in `commit` is re-raised in the producer at its next `put` or at exit, and no later
    batch is committed after it (so a failed run stops where a crash would).
    """

    def __init__(self, commit: Callable[[_EncodedBatch], None]) -> None:
        import queue
        import threading

        self._commit = commit
        self._queue: queue.Queue[_EncodedBatch | None] = queue.Queue(maxsize=1)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="index-writer", daemon=True)

    def _loop(self) -> None:
        while (batch := self._queue.get()) is not None:
            if self._error is not None:
                continue  # drain without writing anything after a failure
            try:
                self._commit(batch)
            except BaseException as exc:
                self._error = exc

    def put(self, batch: _EncodedBatch) -> None:
        self._raise()
        self._queue.put(batch)

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> _OrderedWriter:
        self._thread.start()
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc_type is None:
            self._raise()


@dataclass(frozen=True, slots=True)
class _Existing:
    id: int
    key_uri: str
    status: str
    content_hash: str | None
    size: int | None
    mtime: float | None
    record: AssetRecord


def _with_failure(prepared: Prepared, failure: DecodeFailed) -> Prepared:
    return Prepared(prepared.item, prepared.media_type, prepared.content_hash, failure=failure)


def _mean_normalised(vectors: np.ndarray) -> np.ndarray:
    """CLIP4Clip meanP: the mean of unit vectors, re-normalised."""
    import numpy as np

    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    result: np.ndarray = (mean / norm if norm > 0 else mean).astype(np.float32)
    return result


def _bounded_map(
    pool: ThreadPoolExecutor, fn: Callable[[_Work], Prepared], jobs: list[_Work], window: int
) -> Iterator[tuple[_Work, Prepared]]:
    """Results in input order with at most `window` decodes in flight (the prefetch queue)."""
    pending: deque[tuple[_Work, Future[Prepared]]] = deque()
    feed = iter(jobs)
    for job in feed:
        pending.append((job, pool.submit(fn, job)))
        if len(pending) >= window:
            break
    while pending:
        job, future = pending.popleft()
        result = future.result()
        following = next(feed, None)
        if following is not None:
            pending.append((following, pool.submit(fn, following)))
        yield job, result


class _Progress:
    """A rich progress bar (items/s, ETA) when asked for, and a callback either way."""

    def __init__(self, total: int, show: bool, callback: Callable[[int, int], None] | None) -> None:
        self.total = total
        self.done = 0
        self.callback = callback
        self._bar: Any = None
        self._task: Any = None
        if show and total:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]indexing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]} items/s"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._task = self._bar.add_task("index", total=total, rate="-")
        self._started = time.perf_counter()

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, count: int) -> None:
        self.done += count
        if self._bar is not None:
            rate = self.done / max(time.perf_counter() - self._started, 1e-9)
            self._bar.update(self._task, advance=count, rate=f"{rate:.1f}")
        if self.callback is not None:
            self.callback(self.done, self.total)


def _path(text: str) -> Any:
    from pathlib import Path

    return Path(text).expanduser()
