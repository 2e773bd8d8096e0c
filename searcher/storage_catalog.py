"""`Catalog` on clipsearch.storage: index versions, assets and vector refs from the database.

Stored vectors (item "more like this", frame vectors for video moments) are reconstructed from the
active FAISS index by vector-store row id (every index is an `IndexIDMap2`, which keeps the reverse
map); an index type that cannot reconstruct answers "no stored vector".
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from clipsearch.searcher.catalog import MEDIA_CODES, FrameVectors, LoadedIndex
from clipsearch.searcher.types import IndexVersionRef, ItemRecord

from clipsearch.errors import DataCorrupt, InvalidRequest, NotFound, Unavailable

if TYPE_CHECKING:
    import numpy as np
    from clipsearch.searcher.indexes import IndexSnapshot
    from clipsearch.storage.db import Database
    from clipsearch.storage.records import AssetRecord

log = logging.getLogger(__name__)


class StorageCatalog:
    def __init__(self, db: Database) -> None:
        self._db = db

    def active_versions(self, collection: str) -> list[IndexVersionRef]:
        from clipsearch.storage import catalog, versions

        with self._db.session() as session:
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

        with self._db.session() as session:
            collection = catalog.get_collection(session, ref.collection)
            space = catalog.get_space(session, ref.space)
            version = versions.find_version(session, collection.id, space.id, ref.unit, int(ref.version))
            rows = vector_refs.resolve_rows(
                session,
                space.id,
                vector_refs.vector_rows(session, collection.id, space.id, ref.unit, live_only=False),
            )
            owners = assets.get_assets(session, {r.asset_id for r in rows.values()})
        path = Path(version.path)
        index_file = path / "index.faiss" if path.is_dir() else path
        if not index_file.is_file():
            raise Unavailable(
                f"index file of {ref.collection}/{ref.space}/{ref.unit} v{ref.version} is missing: {index_file}"
            )
        try:
            index = faiss.read_index(str(index_file))
        except RuntimeError as exc:
            raise DataCorrupt(f"cannot read index {index_file}: {str(exc).splitlines()[0]}") from None
        if index.d != space.dim:
            raise DataCorrupt(
                f"index {index_file} has dimension {index.d}; space '{ref.space}' has {space.dim}"
            )
        params = (version.metrics or {}).get("search_params") or {}
        if params:
            from clipsearch.indexer.build import apply_search_params

            apply_search_params(index, {str(k): int(v) for k, v in params.items()})
        labels = np.fromiter(sorted(rows), dtype=np.int64, count=len(rows))
        item_ids = np.array([rows[int(label)].asset_id for label in labels], dtype=np.int64)
        media = np.array([MEDIA_CODES[owners[int(a)].media_type] for a in item_ids], dtype=np.int8)
        sized = IndexVersionRef(ref.collection, ref.space, ref.unit, ref.version, int(index.ntotal))
        return LoadedIndex(sized, space.fingerprint, int(index.d), index, labels, item_ids, media)

    def items(self, collection: str, item_ids: Sequence[int]) -> dict[int, ItemRecord]:
        from clipsearch.storage import assets

        with self._db.session() as session:
            found = assets.get_assets(session, item_ids)
        return {i: _item(collection, a) for i, a in found.items()}

    def find_item(self, collection: str, key: str) -> ItemRecord:
        from clipsearch.storage import assets, catalog

        with self._db.session() as session:
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
        with self._db.session() as session:
            space_id = catalog.get_space(session, space).id
            refs = vector_refs.refs_for_assets(session, space_id, [item_id], unit="item").get(item_id, [])
        if not refs:
            return None
        return _reconstruct(index, [refs[0].row_id])[0] if _can_reconstruct(index) else None

    def frame_vectors(
        self, snapshot: IndexSnapshot, collection: str, space: str, item_ids: Sequence[int]
    ) -> dict[int, FrameVectors]:
        import numpy as np
        from clipsearch.storage import assets, catalog, vector_refs

        index = snapshot.get(collection, space, "frame")
        if index is None or not item_ids or not _can_reconstruct(index):
            return {}
        with self._db.session() as session:
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
            vectors = _reconstruct(index, [r.row_id for r in usable])
            out[item_id] = FrameVectors(times, vectors)
        return out

    def filter_ids(self, collection: str, filter_json: str) -> np.ndarray:
        try:
            from clipsearch.storage import filters  # type: ignore[attr-defined]
        except ImportError:
            raise Unavailable(
                "metadata filters are not available in this build (clipsearch.storage.filters)"
            ) from None
        import numpy as np
        from clipsearch.storage import catalog

        with self._db.session() as session:
            record = catalog.get_collection(session, collection)
            try:
                ids = filters.matching_asset_ids(session, record.id, filter_json)
            except ValueError as exc:
                raise InvalidRequest(f"filter: {exc}") from None
        return np.sort(np.asarray(list(ids), dtype=np.int64))


def _item(collection: str, asset: AssetRecord, frame_times: tuple[float, ...] = ()) -> ItemRecord:
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
