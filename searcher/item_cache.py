"""A cache of hydrated items: under load the same hits are hydrated over and over, and the SQL round
trip is the largest Python cost of a search after the index itself.

The catalog drops the entries of changed assets on every index poll (`forget`, from the assets'
`updated_at`), so an edit shows within the poll interval; `ttl_seconds` bounds an entry's life even
so (a writer whose clock runs behind). The cache is bounded and simply cleared when full.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

from clipsearch.searcher.types import ItemRecord


class ItemCache:
    def __init__(
        self, ttl_seconds: float, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: dict[tuple[str, int], tuple[float, ItemRecord]] = {}
        self._collections: set[str] = set()
        self._lock = threading.Lock()
        #: lookups answered from the cache and lookups that had to be read (for the metrics)
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def get_many(self, collection: str, item_ids: Sequence[int]) -> tuple[dict[int, ItemRecord], list[int]]:
        """(the fresh cached records by id, the ids still to load)."""
        found: dict[int, ItemRecord] = {}
        missing: list[int] = []
        if not self.enabled:
            return found, list(item_ids)
        now = self._clock()
        with self._lock:
            for item_id in item_ids:
                entry = self._entries.get((collection, item_id))
                if entry is not None and entry[0] > now:
                    found[item_id] = entry[1]
                else:
                    missing.append(item_id)
            self.hits += len(found)
            self.misses += len(missing)
        return found, missing

    def put_many(self, collection: str, records: Iterable[ItemRecord]) -> None:
        if not self.enabled:
            return
        expires = self._clock() + self._ttl
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._collections.add(collection)
            for record in records:
                self._entries[(collection, record.item_id)] = (expires, record)

    def forget(self, item_ids: Iterable[int]) -> None:
        """Drop these items (changed in the database) from every collection."""
        with self._lock:
            for item_id in item_ids:
                for collection in self._collections:
                    self._entries.pop((collection, item_id), None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
