"""Stored vectors for reranking: the space's vector store, addressed through the active index's labels.

The active item index maps FAISS labels (= vector-store row ids) to item ids, so an item's row id is
found in memory; the vector itself is read from the memory-mapped vector store (fp16/fp32, never the
index's compressed codes). Where a space has no vector store on disk, the catalog's own
`item_vector` is the fallback (one lookup per item; fine for small corpora and tests).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from clipsearch.searcher.rerank.exact import VectorFetch

if TYPE_CHECKING:
    from clipsearch.searcher.catalog import Catalog, LoadedIndex
    from clipsearch.searcher.indexes import IndexSnapshot
    from clipsearch.searcher.types import IndexVersionRef
    from clipsearch.storage.vectors import VectorStore

log = logging.getLogger(__name__)


class StoredItemVectors:
    """Bulk item-vector reads per (collection, space); shared by all queries (thread-safe)."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self._stores: dict[str, VectorStore | None] = {}
        self._maps: dict[IndexVersionRef, tuple[np.ndarray, np.ndarray]] = {}
        self._lock = threading.Lock()

    def fetch(self, snapshot: IndexSnapshot, catalog: Catalog, collection: str, space: str) -> VectorFetch:
        index = snapshot.get(collection, space, "item")
        store = self._store(space) if index is not None else None
        if index is None or store is None:
            return _catalog_fetch(snapshot, catalog, collection, space)
        sorted_items, sorted_labels = self._label_map(index, store)

        def fetch(ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
            wanted = np.asarray(ids, dtype=np.int64)
            if sorted_items.size == 0:
                return wanted[:0], np.zeros((0, store.dim), np.float32)
            pos = np.minimum(np.searchsorted(sorted_items, wanted), sorted_items.size - 1)
            known = sorted_items[pos] == wanted
            rows = sorted_labels[pos[known]]
            vectors = store.get(rows.tolist(), allow_missing=True)
            present = ~np.isnan(vectors[:, 0]) if vectors.size else np.zeros(0, dtype=bool)
            return wanted[known][present], vectors[present]

        return fetch

    def _store(self, space: str) -> VectorStore | None:
        with self._lock:
            if space not in self._stores:
                from clipsearch.errors import ClipsearchError
                from clipsearch.indexer.layout import vector_store_dir
                from clipsearch.storage.vectors import VectorStore

                path = vector_store_dir(self._data_dir, space)
                try:
                    self._stores[space] = VectorStore.open(path) if (path / "store.json").exists() else None
                except ClipsearchError as exc:
                    log.warning("vector store of space %s unusable for reranking: %s", space, exc)
                    self._stores[space] = None
            return self._stores[space]

    def _label_map(self, index: LoadedIndex, store: VectorStore) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            cached = self._maps.get(index.ref)
            if cached is None:
                # A newly activated version may name rows appended since the store was opened.
                store.refresh()
                order = np.argsort(index.item_ids, kind="stable")
                cached = (np.asarray(index.item_ids)[order], np.asarray(index.labels)[order])
                self._maps = {
                    ref: m
                    for ref, m in self._maps.items()
                    if (ref.collection, ref.space) != (index.ref.collection, index.ref.space)
                }
                self._maps[index.ref] = cached
            return cached

    def close(self) -> None:
        with self._lock:
            for store in self._stores.values():
                if store is not None:
                    store.close()
            self._stores.clear()
            self._maps.clear()


def _catalog_fetch(snapshot: IndexSnapshot, catalog: Catalog, collection: str, space: str) -> VectorFetch:
    def fetch(ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        found: list[int] = []
        vectors: list[np.ndarray] = []
        for item_id in ids:
            vector = catalog.item_vector(snapshot, collection, space, int(item_id))
            if vector is not None:
                found.append(int(item_id))
                vectors.append(np.asarray(vector, dtype=np.float32).reshape(-1))
        if not vectors:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        return np.asarray(found, dtype=np.int64), np.stack(vectors)

    return fetch
