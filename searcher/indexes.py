"""Active index versions in memory, and the hot swap.

`IndexSnapshot` is immutable: a query takes the current snapshot once and uses it to the end, so a
swap never changes an index under a running query. `IndexManager.refresh()` loads newly activated
versions (slow, off the event loop) and then replaces the snapshot reference in one assignment.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from clipsearch.errors import DataCorrupt, Unavailable
from clipsearch.searcher.catalog import Catalog, LoadedIndex
from clipsearch.searcher.types import IndexVersionRef, Unit

log = logging.getLogger(__name__)

Key = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class IndexSnapshot:
    indexes: dict[Key, LoadedIndex] = field(default_factory=dict)

    def get(self, collection: str, space: str, unit: Unit) -> LoadedIndex | None:
        return self.indexes.get((collection, space, unit))

    def require(self, collection: str, space: str, unit: Unit) -> LoadedIndex:
        index = self.get(collection, space, unit)
        if index is None:
            raise Unavailable(
                f"no active {unit} index for collection '{collection}' in space '{space}'; "
                f"build and activate one (`clipsearch build {collection}`)"
            )
        return index

    def refs(self) -> tuple[IndexVersionRef, ...]:
        return tuple(index.ref for index in self.indexes.values())


class IndexManager:
    """Keeps the snapshot in step with the database's active versions."""

    def __init__(
        self,
        catalog: Catalog,
        collections: Iterable[str],
        fingerprint_of: Callable[[str], str | None],
    ) -> None:
        self._catalog = catalog
        self._collections = tuple(collections)
        # Expected model fingerprint per space (None = not checkable without loading the model).
        self._fingerprint_of = fingerprint_of
        self._snapshot = IndexSnapshot()
        self._lock = threading.Lock()  # one refresh at a time; readers never take it
        self.failed: dict[Key, str] = {}

    @property
    def snapshot(self) -> IndexSnapshot:
        return self._snapshot

    def refresh(self) -> list[IndexVersionRef]:
        """Load what changed; returns the refs newly swapped in. Failed loads keep the old version."""
        with self._lock:
            current = self._snapshot.indexes
            wanted: dict[Key, IndexVersionRef] = {}
            for collection in self._collections:
                for ref in self._catalog.active_versions(collection):
                    wanted[(ref.collection, ref.space, ref.unit)] = ref
            changed: dict[Key, LoadedIndex] = {}
            for key, ref in wanted.items():
                loaded = current.get(key)
                if loaded is not None and loaded.ref.version == ref.version:
                    continue
                try:
                    changed[key] = self._load(ref)
                except (DataCorrupt, Unavailable, OSError) as exc:
                    # Serving the old version beats serving nothing; the error is logged and retried.
                    self.failed[key] = str(exc)
                    log.error("cannot load index %s: %s", ref, exc)
            removed = [key for key in current if key not in wanted]
            if not changed and not removed:
                return []
            merged = {key: value for key, value in current.items() if key not in removed}
            merged.update(changed)
            self._snapshot = IndexSnapshot(merged)  # the swap: one reference assignment
            for key in changed:
                self.failed.pop(key, None)
            for index in changed.values():
                log.info(
                    "serving index %s/%s/%s version %s (%d vectors)",
                    index.ref.collection,
                    index.ref.space,
                    index.ref.unit,
                    index.ref.version,
                    index.size,
                )
            return [index.ref for index in changed.values()]

    def _load(self, ref: IndexVersionRef) -> LoadedIndex:
        loaded = self._catalog.load_index(ref)
        expected = self._fingerprint_of(ref.space)
        if expected is not None and loaded.fingerprint and loaded.fingerprint != expected:
            raise DataCorrupt(
                f"index {ref.collection}/{ref.space}/{ref.unit} v{ref.version} was built with model "
                f"{loaded.fingerprint}, but space '{ref.space}' now runs {expected}; rebuild the index"
            )
        return loaded
