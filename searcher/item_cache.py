"""A short-lived cache of hydrated items: under load the same hits are hydrated over and over, and
the SQL round trip (session, ORM rows, records) is the largest Python cost of a search.

Entries live `ttl_seconds` (so a metadata edit shows within that time, well inside the index poll
interval that a new item waits for anyway); the cache is bounded and simply cleared when full.
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
        self._lock = threading.Lock()

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
        return found, missing

    def put_many(self, collection: str, records: Iterable[ItemRecord]) -> None:
        if not self.enabled:
            return
        expires = self._clock() + self._ttl
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            for record in records:
                self._entries[(collection, record.item_id)] = (expires, record)
