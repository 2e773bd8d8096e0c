"""What the search core needs from storage, as one small interface (implemented in `storage_catalog.py`).

Keeping the seam here means the engine is written against plain values, and storage can change its
internals without the searcher noticing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from clipsearch.searcher.types import MEDIA_TYPES, IndexVersionRef, ItemRecord, MediaType

if TYPE_CHECKING:
    import numpy as np

MEDIA_CODES: dict[MediaType, int] = {name: code for code, name in enumerate(MEDIA_TYPES)}


@dataclass(frozen=True, slots=True)
class LoadedIndex:
    """One active FAISS index version in memory; immutable, shared by concurrent queries.

    `row_ids[i]` is the item id (unit item) or item id owning the frame (unit frame) of faiss row i when
    the index has no id map; `media[i]` the media code (MEDIA_CODES) of that row's item.
    """

    ref: IndexVersionRef
    fingerprint: str
    dim: int
    index: Any
    row_ids: np.ndarray
    media: np.ndarray
    #: frame unit only: the time (s) of each row's frame.
    frame_times: np.ndarray | None = None

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows) of the k best rows per query; rows are -1 where fewer than k exist."""
        k = max(1, min(k, self.size))
        scores, rows = self.index.search(vectors, k)
        return scores, rows


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

    def find_item(self, collection: str, key: str) -> ItemRecord:
        """An item by its id (decimal string) or its uri; NotFound otherwise."""
        ...

    def item_vector(self, collection: str, space: str, item_id: int) -> np.ndarray | None:
        """The stored vector of an item in a space (None when it has none)."""
        ...

    def frame_vectors(self, collection: str, space: str, item_ids: Sequence[int]) -> dict[int, FrameVectors]:
        """Stored frame vectors of videos in a space."""
        ...

    def filter_ids(self, collection: str, filter_json: str) -> np.ndarray:
        """Ids of the collection's items matching a filter (storage filter language); InvalidRequest when bad."""
        ...

    def media_types(self, collection: str) -> tuple[MediaType, ...]:
        """Media types present in the collection."""
        ...
