"""Plain frozen values that the repository functions return: SQLAlchemy stays inside storage."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

MediaType = Literal["image", "video", "text"]
AssetStatus = Literal["pending", "indexed", "failed", "deleted"]
Unit = Literal["item", "frame"]
VersionStatus = Literal["building", "ready", "active", "retired", "failed"]
JobState = Literal["queued", "running", "succeeded", "failed"]


@dataclass(frozen=True, slots=True)
class CollectionRecord:
    id: int
    name: str
    description: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class SourceRecord:
    id: int
    collection_id: int
    path: str
    kind: str
    created_at: datetime
    last_scanned_at: datetime | None


@dataclass(frozen=True, slots=True)
class AssetRecord:
    id: int
    collection_id: int
    uri: str
    media_type: MediaType
    status: AssetStatus
    content_hash: str | None = None
    size_bytes: int | None = None
    mtime: float | None = None
    error: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    source_id: int | None = None
    parent_id: int | None = None
    chunk_index: int | None = None
    duration_sec: float | None = None
    width: int | None = None
    height: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    indexed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AssetSummary:
    """What a search hit shows of an asset: the hydration read on every search's path, so it loads
    just these columns (no timestamps or bookkeeping, no ORM objects)."""

    id: int
    uri: str
    media_type: MediaType
    metadata: dict[str, Any]
    text: str | None
    duration_sec: float | None


@dataclass(frozen=True, slots=True)
class NewAsset:
    """One asset for `assets.insert_assets` (bulk loads: imports, benchmarks)."""

    uri: str
    media_type: MediaType
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    duration_sec: float | None = None


@dataclass(frozen=True, slots=True)
class AssetWrite:
    """The full state of one asset after an indexing batch, for `assets.write_assets`."""

    uri: str
    media_type: MediaType
    status: AssetStatus
    error: str | None = None
    content_hash: str | None = None
    size_bytes: int | None = None
    mtime: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    source_id: int | None = None
    duration_sec: float | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class FrameRecord:
    id: int
    asset_id: int
    frame_index: int
    t_sec: float


@dataclass(frozen=True, slots=True)
class SpaceRecord:
    id: int
    name: str
    fingerprint: str
    dim: int
    context_length: int


@dataclass(frozen=True, slots=True)
class NewVectorRef:
    """What the indexer records after the vector store has durably written a row."""

    asset_id: int
    row_id: int
    frame_id: int | None = None

    @property
    def unit(self) -> Unit:
        return "item" if self.frame_id is None else "frame"


@dataclass(frozen=True, slots=True)
class VectorRefRecord:
    row_id: int
    space_id: int
    collection_id: int
    asset_id: int
    frame_id: int | None
    unit: Unit


@dataclass(frozen=True, slots=True)
class IndexVersionRecord:
    id: int
    collection_id: int
    space_id: int
    unit: Unit
    version: int
    factory: str
    metric: str
    ntotal: int
    path: str
    status: VersionStatus
    metrics: dict[str, Any]
    error: str | None
    created_at: datetime
    ready_at: datetime | None
    activated_at: datetime | None
    retired_at: datetime | None


@dataclass(frozen=True, slots=True)
class JobRecord:
    id: int
    kind: str
    collection_id: int | None
    state: JobState
    progress: float
    error: str | None
    details: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    name: str
    holder: str
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduleRecord:
    id: int
    collection_id: int
    kind: str
    cron: str
    enabled: bool
    last_fired_at: datetime | None
    next_fire_at: datetime | None
