"""`Catalog` on clipsearch.storage: index versions, assets and vector refs from the database.

Stored vectors (item "more like this", frame vectors for video moments) come from the space's vector
store (`<data_dir>/vectors/<space>`); when a space has no store on this machine they are reconstructed
from the active FAISS index by row id (every index is an `IndexIDMap2`, which keeps the reverse map).
Index versions are loaded through `clipsearch.storage.index_files.load_version_dir`: every checksum
is verified and the manifest must match the space's fingerprint and dim in the database; the
manifest's fingerprint is then checked against the running encoder (`IndexManager`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipsearch.errors import Conflict, DataCorrupt, NotFound, Unavailable
from clipsearch.searcher.catalog import MEDIA_CODES, FrameVectors, LoadedIndex
from clipsearch.searcher.item_cache import ItemCache
from clipsearch.searcher.types import IndexVersionRef, ItemRecord

if TYPE_CHECKING:
    import numpy as np

    from clipsearch.searcher.indexes import IndexSnapshot
    from clipsearch.storage.db import Database
    from clipsearch.storage.records import AssetRecord, AssetSummary

log = logging.getLogger(__name__)

#: each look for changed assets reaches this far behind the previous look: a change whose
#: transaction commits late (its `updated_at` taken before), a hit hydrated just before an edit and
#: cached just after a look, or a writer whose clock runs a little behind is still caught by the
#: next looks. A larger lag is left to the cache's own time limit (`server.item_cache_seconds`).
#: Not longer: every look within this time after a bulk ingest clears the cache.
CHANGE_OVERLAP = timedelta(seconds=10)
#: beyond this many changed assets in one look (a bulk ingest), the cache is cleared instead.
FORGET_AT_MOST = 10_000


class StorageCatalog:
    def __init__(self, db: Database, data_dir: Path | None = None, item_cache_seconds: float = 60.0) -> None:
        self._db = db
        self._data_dir = data_dir
        self._item_cache = ItemCache(item_cache_seconds)
        self._last_look: datetime | None = None  # when forget_changed_items last looked
        self._stores: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _store(self, space: str) -> Any | None:
        """The space's vector store opened read-only (refreshed per call: the indexer appends)."""
        if self._data_dir is None:
            return None
        with self._lock:
            store = self._stores.get(space)
            if store is None:
                from clipsearch.indexer.layout import vector_store_dir

                folder = vector_store_dir(self._data_dir, space)
                if not folder.is_dir():
                    return None
                from clipsearch.storage.vectors import VectorStore

                store = VectorStore.open(folder)
                self._stores[space] = store
            store.refresh()
            return store

    def _vectors(self, index: LoadedIndex, space: str, row_ids: Sequence[int]) -> np.ndarray | None:
        import numpy as np

        store = self._store(space)
        if store is not None:
            vectors = np.asarray(store.get(row_ids, allow_missing=True), dtype=np.float32)
            if not np.isnan(vectors).any():
                return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return _reconstruct(index, row_ids) if _can_reconstruct(index) else None

    def active_versions(self, collection: str) -> list[IndexVersionRef]:
        from clipsearch.storage import catalog, versions

        # Searches only read: a WAL snapshot never waits for an indexer's write lock.
        with self._db.read_session() as session:
            try:
                record = catalog.get_collection(session, collection)
            except NotFound:
                return []  # configured but never indexed: nothing to serve yet
            spaces = {s.id: s.name for s in catalog.list_spaces(session)}
            active = versions.list_versions(session, collection_id=record.id, statuses=("active",))
        return [
            IndexVersionRef(collection, spaces[v.space_id], v.unit, str(v.version), v.ntotal)
            for v in active
            if v.space_id in spaces
        ]

    def load_index(self, ref: IndexVersionRef) -> LoadedIndex:
        import faiss
        import numpy as np

        from clipsearch.storage import assets, catalog, vector_refs, versions

        with self._db.read_session() as session:
            collection = catalog.get_collection(session, ref.collection)
            space = catalog.get_space(session, ref.space)
            version = versions.find_version(session, collection.id, space.id, ref.unit, int(ref.version))
            rows = vector_refs.resolve_rows(
                session,
                space.id,
                vector_refs.vector_rows(session, collection.id, space.id, ref.unit, live_only=False),
            )
            owners = assets.get_assets(session, {r.asset_id for r in rows.values()})
        from clipsearch.storage.index_files import load_version_dir

        try:
            stored = load_version_dir(version.path, fingerprint=space.fingerprint, dim=space.dim)
        except NotFound as exc:
            raise Unavailable(
                f"index {ref.collection}/{ref.space}/{ref.unit} v{ref.version}: {exc}"
            ) from None
        except Conflict as exc:  # built for another model or dim: never served
            raise DataCorrupt(str(exc)) from None
        try:
            index = faiss.deserialize_index(np.frombuffer(stored.index_bytes, dtype=np.uint8))
        except RuntimeError as exc:
            raise DataCorrupt(f"cannot read index {stored.path}: {str(exc).splitlines()[0]}") from None
        fingerprint = stored.manifest.fingerprint
        params = (version.metrics or {}).get("search_params") or {}
        if params:
            from clipsearch.indexer.build import apply_search_params

            apply_search_params(index, {str(k): int(v) for k, v in params.items()})
        labels = np.fromiter(sorted(rows), dtype=np.int64, count=len(rows))
        item_ids = np.array([rows[int(label)].asset_id for label in labels], dtype=np.int64)
        media = np.array([MEDIA_CODES[owners[int(a)].media_type] for a in item_ids], dtype=np.int8)
        sized = IndexVersionRef(ref.collection, ref.space, ref.unit, ref.version, int(index.ntotal))
        return LoadedIndex(sized, fingerprint, int(index.d), index, labels, item_ids, media)

    def items(self, collection: str, item_ids: Sequence[int]) -> dict[int, ItemRecord]:
        from clipsearch.storage import assets

        records, missing = self._item_cache.get_many(collection, item_ids)
        if missing:
            found = assets.read_asset_summaries(self._db, missing)
            loaded = [_item(collection, a) for a in found.values()]
            self._item_cache.put_many(collection, loaded)
            records.update((r.item_id, r) for r in loaded)
        return records

    def item_cache_counts(self) -> tuple[int, int]:
        """(items hydrated from the cache, items read from the database) so far."""
        return self._item_cache.hits, self._item_cache.misses

    def forget_changed_items(self) -> None:
        """Drop cached items whose assets changed since shortly before the last look."""
        from clipsearch.storage import assets

        if not self._item_cache.enabled:
            return
        now = datetime.now(UTC)  # the writers stamp `updated_at` with their clock, as this one
        since = self._last_look
        if since is None:  # the first look: nothing is known of what came before
            self._item_cache.clear()
            self._last_look = now
            return
        with self._db.read_session() as session:
            changed = assets.changed_asset_ids(session, since - CHANGE_OVERLAP, FORGET_AT_MOST + 1)
        self._last_look = now  # only once the look succeeded: a failed one is made up by the next
        if len(changed) > FORGET_AT_MOST:
            self._item_cache.clear()  # a bulk change: dropping all is cheaper than listing it
        else:
            self._item_cache.forget(changed)

    def find_item(self, collection: str, key: str) -> ItemRecord:
        from clipsearch.storage import assets, catalog

        with self._db.read_session() as session:
            record = catalog.get_collection(session, collection)
            asset: AssetRecord | None = None
            if key.isdigit():
                try:
                    asset = assets.get_asset(session, int(key))
                except NotFound:
                    asset = None
                if asset is not None and asset.collection_id != record.id:
                    asset = None
            if asset is None:
                asset = assets.find_asset(session, record.id, key)
            if asset is None or asset.status == "deleted":
                raise NotFound(f"item {key!r} does not exist in collection '{collection}'")
            frames = assets.list_frames(session, asset.id) if asset.media_type == "video" else []
        return _item(collection, asset, tuple(f.t_sec for f in frames))

    def item_vector(
        self, snapshot: IndexSnapshot, collection: str, space: str, item_id: int
    ) -> np.ndarray | None:
        from clipsearch.storage import catalog, vector_refs

        index = snapshot.get(collection, space, "item")
        if index is None:
            return None
        with self._db.read_session() as session:
            space_id = catalog.get_space(session, space).id
            refs = vector_refs.refs_for_assets(session, space_id, [item_id], unit="item").get(item_id, [])
        if not refs:
            return None
        vectors = self._vectors(index, space, [refs[0].row_id])
        return None if vectors is None else vectors[0]

    def frame_vectors(
        self, snapshot: IndexSnapshot, collection: str, space: str, item_ids: Sequence[int]
    ) -> dict[int, FrameVectors]:
        import numpy as np

        from clipsearch.storage import assets, catalog, vector_refs

        index = snapshot.get(collection, space, "frame")
        if index is None or not item_ids:
            return {}
        with self._db.read_session() as session:
            space_id = catalog.get_space(session, space).id
            refs = vector_refs.refs_for_assets(session, space_id, item_ids, unit="frame")
            frame_ids = [r.frame_id for rs in refs.values() for r in rs if r.frame_id is not None]
            frames = assets.get_frames(session, frame_ids)
        out: dict[int, FrameVectors] = {}
        for item_id, item_refs in refs.items():
            usable = [r for r in item_refs if r.frame_id in frames]
            if not usable:
                continue
            times = np.array(
                [frames[r.frame_id].t_sec for r in usable if r.frame_id is not None], dtype=np.float32
            )
            vectors = self._vectors(index, space, [r.row_id for r in usable])
            if vectors is not None:
                out[item_id] = FrameVectors(times, vectors)
        return out

    def filter_ids(self, collection: str, filter_json: str) -> np.ndarray:
        """Ids of indexed items matching the filter, resolved in SQL (keyset pages, bounded memory)."""
        import numpy as np

        from clipsearch.storage import assets, catalog
        from clipsearch.storage.filters import parse_filter

        where = parse_filter(filter_json)
        ids: list[int] = []
        with self._db.read_session() as session:
            record = catalog.get_collection(session, collection)
            after = 0
            while True:
                page = assets.list_assets(
                    session, record.id, statuses=("indexed",), where=where, after_id=after, limit=10_000
                )
                ids.extend(a.id for a in page)
                if len(page) < 10_000:
                    break
                after = page[-1].id
        return np.asarray(ids, dtype=np.int64)


def _item(
    collection: str, asset: AssetRecord | AssetSummary, frame_times: tuple[float, ...] = ()
) -> ItemRecord:
    """A full record (GetItem) or the hydration summary (search hits) as the searcher's item."""
    return ItemRecord(
        item_id=asset.id,
        collection=collection,
        uri=asset.uri,
        media_type=asset.media_type,
        text=asset.text or "",
        metadata=dict(asset.metadata or {}),
        duration_sec=float(asset.duration_sec or 0.0),
        frame_times=frame_times,
    )


def _can_reconstruct(index: LoadedIndex) -> bool:
    return hasattr(index.index, "reconstruct")


def _reconstruct(index: LoadedIndex, row_ids: Sequence[int]) -> np.ndarray:
    import numpy as np

    try:
        return np.stack([index.index.reconstruct(int(r)) for r in row_ids]).astype(np.float32)
    except RuntimeError as exc:
        raise Unavailable(
            f"index {index.ref.version} cannot return stored vectors: {str(exc).splitlines()[0]}"
        ) from None
