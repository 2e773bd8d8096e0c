"""SQLAlchemy 2.0 typed models: the database schema of clipsearch (DESIGN §3).

Only `clipsearch.storage` touches these classes; other layers get frozen records from the repository
modules. Timestamps are stored as naive UTC and come back timezone-aware (`UtcDateTime`), so SQLite
and PostgreSQL behave the same. Metadata JSON is JSONB on PostgreSQL (key access and typeof) and
JSON text on SQLite.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import DateTime, TypeDecorator

# Every constraint gets a predictable name so Alembic can alter and drop it on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

MEDIA_TYPES = ("image", "video", "text")
ASSET_STATUSES = ("pending", "indexed", "failed", "deleted")
UNITS = ("item", "frame")
VERSION_STATUSES = ("building", "ready", "active", "retired", "failed")
JOB_STATES = ("queued", "running", "succeeded", "failed")

# Surrogate keys: 64-bit on PostgreSQL; SQLite's rowid alias must be spelled INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# JSONB on PostgreSQL gives key access, typeof and indexing; SQLite stores JSON text.
JsonDoc = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC; naive input is taken to be UTC already."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Collection(Base):
    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    sources: Mapped[list[Source]] = relationship(back_populates="collection", cascade="all, delete-orphan")


class Source(Base):
    """A root directory, manifest or text file feeding a collection."""

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("collection_id", "path"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(2000))
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_scanned_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    collection: Mapped[Collection] = relationship(back_populates="sources")


class Asset(Base):
    """One image, video or text document (or a passage of one: `parent_id` + `chunk_index`)."""

    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("collection_id", "uri"),
        Index("ix_assets_collection_id_status", "collection_id", "status"),
        # The searcher's item cache polls for assets changed since its last look.
        Index("ix_assets_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    chunk_index: Mapped[int | None] = mapped_column(Integer)
    uri: Mapped[str] = mapped_column(String(4000))
    media_type: Mapped[str] = mapped_column(String(10))
    content_hash: Mapped[str | None] = mapped_column(String(128), index=True)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    mtime: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    error: Mapped[str | None] = mapped_column(Text)
    # `metadata` is reserved by declarative classes; the column keeps the natural name.
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JsonDoc, default=dict)
    text: Mapped[str | None] = mapped_column(Text)
    duration_sec: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    indexed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Frame(Base):
    """A sampled video frame."""

    __tablename__ = "frames"
    __table_args__ = (UniqueConstraint("asset_id", "frame_index"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    frame_index: Mapped[int] = mapped_column(Integer)
    t_sec: Mapped[float] = mapped_column(Float)


class Space(Base):
    """One embedding model configuration; its vectors live in one vector store."""

    __tablename__ = "spaces"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    fingerprint: Mapped[str] = mapped_column(String(200))
    dim: Mapped[int] = mapped_column(Integer)
    context_length: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class VectorRef(Base):
    """Which asset (or frame) has a vector in which space, at which vector-store row id."""

    __tablename__ = "vectors"
    __table_args__ = (
        UniqueConstraint("space_id", "row_id"),
        Index("ix_vectors_collection_id_space_id_unit", "collection_id", "space_id", "unit"),
        Index("ix_vectors_asset_id_space_id", "asset_id", "space_id"),
        # One item vector per asset and one vector per frame, in each space.
        Index(
            "uq_vectors_space_id_asset_id_item",
            "space_id",
            "asset_id",
            unique=True,
            sqlite_where=text("unit = 'item'"),
            postgresql_where=text("unit = 'item'"),
        ),
        Index(
            "uq_vectors_space_id_frame_id",
            "space_id",
            "frame_id",
            unique=True,
            sqlite_where=text("frame_id IS NOT NULL"),
            postgresql_where=text("frame_id IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"))
    frame_id: Mapped[int | None] = mapped_column(ForeignKey("frames.id", ondelete="CASCADE"))
    unit: Mapped[str] = mapped_column(String(10))
    row_id: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class IndexVersion(Base):
    """One built FAISS index for (collection, space, unit); at most one is active."""

    __tablename__ = "index_versions"
    __table_args__ = (
        UniqueConstraint("collection_id", "space_id", "unit", "version"),
        # The database itself enforces "exactly one active version" on both engines.
        Index(
            "uq_index_versions_one_active",
            "collection_id",
            "space_id",
            "unit",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    space_id: Mapped[int] = mapped_column(ForeignKey("spaces.id", ondelete="CASCADE"))
    unit: Mapped[str] = mapped_column(String(10))
    version: Mapped[int] = mapped_column(Integer)
    factory: Mapped[str] = mapped_column(String(200))
    metric: Mapped[str] = mapped_column(String(20), default="ip")
    ntotal: Mapped[int] = mapped_column(BigInteger, default=0)
    path: Mapped[str] = mapped_column(String(2000))
    status: Mapped[str] = mapped_column(String(10), default="building")
    metrics: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    ready_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    activated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_state_created_at", "state", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(50))
    collection_id: Mapped[int | None] = mapped_column(
        ForeignKey("collections.id", ondelete="SET NULL"), index=True
    )
    state: Mapped[str] = mapped_column(String(10), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Lease(Base):
    """A named lock with an expiry: a crashed holder's lease lapses on its own."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Schedule(Base):
    """A cron schedule for a recurring job (rebuild, index) of one collection."""

    __tablename__ = "schedules"
    __table_args__ = (UniqueConstraint("collection_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    collection_id: Mapped[int] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(50), default="rebuild")
    cron: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_fired_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    next_fire_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
