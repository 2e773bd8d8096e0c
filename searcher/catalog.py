"""What the search core needs from storage, as one small interface (implemented in `storage_catalog.py`).

Keeping the seam here means the engine is written against plain values, and storage can change its
internals without the searcher noticing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from clipsearch.searcher.faiss_runtime import faiss_search_threads
from clipsearch.searcher.types import MEDIA_TYPES, IndexVersionRef, ItemRecord, MediaType

if TYPE_CHECKING:
    import numpy as np

    from clipsearch.searcher.indexes import IndexSnapshot

MEDIA_CODES: dict[MediaType, int] = {name: code for code, name in enumerate(MEDIA_TYPES)}


@dataclass(frozen=True, slots=True)
class LoadedIndex:
    """One active FAISS index version in memory; immutable, shared by concurrent queries.

    FAISS labels are vector-store row ids. `labels` holds them sorted, with `item_ids[i]` the item
    (asset) of label i and `media[i]` that item's media code (MEDIA_CODES), so a search result maps to
    items without a database round trip.
    """

    ref: IndexVersionRef
    fingerprint: str
    dim: int
    index: Any
    labels: np.ndarray
    item_ids: np.ndarray
    media: np.ndarray
    #: vectors per media type; computed once (a per-query pass over 100k rows costs ~1 ms).
    media_counts: dict[MediaType, int] = field(init=False, compare=False)
    _masks: dict[tuple[MediaType, ...], np.ndarray] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        counts = {m: int((self.media == MEDIA_CODES[m]).sum()) for m in MEDIA_TYPES}
        object.__setattr__(self, "media_counts", counts)
        object.__setattr__(self, "_masks", {})

    @property
    def media_present(self) -> tuple[MediaType, ...]:
        return tuple(m for m in MEDIA_TYPES if self.media_counts[m] > 0)

    def media_mask(self, media_types: tuple[MediaType, ...]) -> np.ndarray:
        """Read-only boolean mask of the rows whose item has one of `media_types` (cached)."""
        mask = self._masks.get(media_types)
        if mask is None:
            import numpy as np

            mask = np.isin(self.media, [MEDIA_CODES[m] for m in media_types])
            mask.setflags(write=False)
            self._masks[media_types] = mask
        return mask

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, positions into labels/item_ids/media) of the k best; positions are -1 where none."""
        import numpy as np

        k = max(1, min(k, self.size))
        with faiss_search_threads():
            scores, found = self.index.search(vectors, k)
        positions = np.searchsorted(self.labels, found)
        positions = np.minimum(positions, len(self.labels) - 1)
        unknown = (found < 0) | (self.labels[positions] != found)
        positions[unknown] = -1
        return scores, positions


@dataclass(frozen=True, slots=True)
class FrameVectors:
    """The stored frame vectors of one video, in time order."""

    times: np.ndarray
    vectors: np.ndarray


class Catalog(Protocol):
    def active_versions(self, collection: str) -> list[IndexVersionRef]:
        """The active index version of every (space, unit) of a collection (a cheap query; polled)."""
        ...

    def load_index(self, ref: IndexVersionRef) -> LoadedIndex:
        """Read an index version from disk, verified against its manifest."""
        ...

    def items(self, collection: str, item_ids: Sequence[int]) -> dict[int, ItemRecord]:
        """Hydrate items by id (missing ids are absent from the result)."""
        ...

    def forget_changed_items(self) -> None:
        """Drop cached hydrations of items changed since the last call (polled with the indexes)."""
        ...

    def item_cache_counts(self) -> tuple[int, int]:
        """(items hydrated from the cache, items read from the database) so far."""
        ...

    def find_item(self, collection: str, key: str) -> ItemRecord:
        """An item by its id (decimal string) or its uri; NotFound otherwise."""
        ...

    def item_vector(
        self, snapshot: IndexSnapshot, collection: str, space: str, item_id: int
    ) -> np.ndarray | None:
        """The stored vector of an item in a space (None when it has none)."""
        ...

    def frame_vectors(
        self, snapshot: IndexSnapshot, collection: str, space: str, item_ids: Sequence[int]
    ) -> dict[int, FrameVectors]:
        """Stored frame vectors of videos in a space."""
        ...

    def filter_ids(self, collection: str, filter_json: str) -> np.ndarray:
        """Ids of the collection's items matching a filter (storage filter language); InvalidRequest when bad."""
        ...
