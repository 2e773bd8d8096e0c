"""Assets (images, videos, texts) and their video frames."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar, cast

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from clipsearch.errors import AlreadyExists, InvalidRequest, NotFound
from clipsearch.storage.models import ASSET_STATUSES, MEDIA_TYPES, Asset, Frame, utcnow
from clipsearch.storage.records import (
    AssetRecord,
    AssetStatus,
    AssetSummary,
    AssetWrite,
    FrameRecord,
    MediaType,
    NewAsset,
)

if TYPE_CHECKING:
    from clipsearch.storage.db import Database

_T = TypeVar("_T")

# Bound on the size of IN (...) lists so neither engine hits its parameter limit.
_IN_BATCH = 500


def _chunks(values: Sequence[_T]) -> Iterator[Sequence[_T]]:
    """`values` in slices of at most `_IN_BATCH`, one per IN (...) statement."""
    for start in range(0, len(values), _IN_BATCH):
        yield values[start : start + _IN_BATCH]


def asset_record(row: Asset) -> AssetRecord:
    return AssetRecord(
        id=row.id,
        collection_id=row.collection_id,
        uri=row.uri,
        media_type=cast(MediaType, row.media_type),
        status=cast(AssetStatus, row.status),
        content_hash=row.content_hash,
        size_bytes=row.size_bytes,
        mtime=row.mtime,
        error=row.error,
        metadata=dict(row.meta or {}),
        text=row.text,
        source_id=row.source_id,
        parent_id=row.parent_id,
        chunk_index=row.chunk_index,
        duration_sec=row.duration_sec,
        width=row.width,
        height=row.height,
        created_at=row.created_at,
        updated_at=row.updated_at,
        indexed_at=row.indexed_at,
    )


def frame_record(row: Frame) -> FrameRecord:
    return FrameRecord(id=row.id, asset_id=row.asset_id, frame_index=row.frame_index, t_sec=row.t_sec)


def _check_media_type(media_type: str) -> None:
    if media_type not in MEDIA_TYPES:
        raise InvalidRequest(f"media type must be one of {', '.join(MEDIA_TYPES)} (got {media_type!r})")


def _check_status(status: str) -> None:
    if status not in ASSET_STATUSES:
        raise InvalidRequest(f"asset status must be one of {', '.join(ASSET_STATUSES)} (got {status!r})")


def upsert_asset(
    session: Session,
    collection_id: int,
    uri: str,
    media_type: str,
    *,
    content_hash: str | None = None,
    size_bytes: int | None = None,
    mtime: float | None = None,
    metadata: Mapping[str, Any] | None = None,
    text: str | None = None,
    source_id: int | None = None,
    parent_id: int | None = None,
    chunk_index: int | None = None,
    duration_sec: float | None = None,
    width: int | None = None,
    height: int | None = None,
) -> tuple[AssetRecord, bool]:
    """Insert an asset or refresh an existing one (same collection + uri).

    Returns (record, changed): `changed` is True when the asset is new, its content hash changed, it
    was deleted or failed before — i.e. when the indexer must (re-)embed it. A changed asset goes back
    to `pending`.
    """
    _check_media_type(media_type)
    if not uri:
        raise InvalidRequest("asset uri must not be empty")
    row = session.scalar(select(Asset).where(Asset.collection_id == collection_id, Asset.uri == uri))
    if row is None:
        row = Asset(collection_id=collection_id, uri=uri, media_type=media_type, status="pending")
        session.add(row)
        changed = True
    else:
        changed = (
            row.content_hash != content_hash
            or row.media_type != media_type
            or row.status in ("deleted", "failed")
            or (content_hash is None and (row.size_bytes != size_bytes or row.mtime != mtime))
        )
        if changed:
            row.status = "pending"
            row.error = None
    row.media_type = media_type
    row.content_hash = content_hash
    row.size_bytes = size_bytes
    row.mtime = mtime
    row.meta = dict(metadata or {})
    row.text = text
    row.source_id = source_id
    row.parent_id = parent_id
    row.chunk_index = chunk_index
    row.duration_sec = duration_sec
    row.width = width
    row.height = height
    session.flush()
    return asset_record(row), changed


def insert_assets(
    session: Session, collection_id: int, new: Sequence[NewAsset], *, status: str = "pending"
) -> list[int]:
    """Insert many new assets with batched multi-row INSERTs; returns their ids in input order.

    For bulk loads where every uri is new (about 100× faster than `upsert_asset` per row, which
    reads before it writes). A uri that already exists in the collection raises AlreadyExists and
    the session must be rolled back.
    """
    _check_status(status)
    if not new:
        return []
    for asset in new:
        _check_media_type(asset.media_type)
        if not asset.uri:
            raise InvalidRequest("asset uri must not be empty")
    now = utcnow()
    rows = [
        {
            "collection_id": collection_id,
            "uri": a.uri,
            "media_type": a.media_type,
            "status": status,
            "meta": dict(a.metadata),
            "text": a.text,
            "duration_sec": a.duration_sec,
            "created_at": now,
            "updated_at": now,
            "indexed_at": now if status == "indexed" else None,
        }
        for a in new
    ]
    try:
        ids = session.scalars(insert(Asset).returning(Asset.id, sort_by_parameter_order=True), rows).all()
    except IntegrityError as exc:
        raise AlreadyExists(f"some of the {len(new)} assets exist already: {str(exc.orig)[:200]}") from None
    return [int(i) for i in ids]


def write_assets(session: Session, collection_id: int, rows: Sequence[AssetWrite]) -> list[int]:
    """Insert or update many assets of a collection, matched by uri; returns their ids in input order.

    The indexer's batch write: one SELECT for the existing ids, one multi-row INSERT … RETURNING for
    the new uris and one executemany UPDATE (by primary key) for the rest, instead of a read and a
    write per row. Every column of `AssetWrite` is set as given (status and error included).
    """
    if not rows:
        return []
    uris = [r.uri for r in rows]
    if len(set(uris)) != len(uris):
        raise InvalidRequest("write_assets: a uri appears twice in one batch")
    for r in rows:
        _check_media_type(r.media_type)
        _check_status(r.status)
        if not r.uri:
            raise InvalidRequest("asset uri must not be empty")
    existing: dict[str, int] = {}
    for chunk in _chunks(uris):
        existing.update(
            session.execute(
                select(Asset.uri, Asset.id).where(Asset.collection_id == collection_id, Asset.uri.in_(chunk))
            )
            .tuples()
            .all()
        )
    now = utcnow()

    def values(r: AssetWrite) -> dict[str, Any]:
        return {
            "media_type": r.media_type,
            "status": r.status,
            "error": r.error,
            "content_hash": r.content_hash,
            "size_bytes": r.size_bytes,
            "mtime": r.mtime,
            "meta": dict(r.metadata),
            "text": r.text,
            "source_id": r.source_id,
            "duration_sec": r.duration_sec,
            "width": r.width,
            "height": r.height,
            "updated_at": now,
            "indexed_at": now if r.status == "indexed" else None,
        }

    new = [r for r in rows if r.uri not in existing]
    new_uris = {r.uri for r in new}
    if new:
        inserted = session.scalars(
            insert(Asset).returning(Asset.id, sort_by_parameter_order=True),
            [{"collection_id": collection_id, "uri": r.uri, "created_at": now, **values(r)} for r in new],
        ).all()
        existing.update(zip((r.uri for r in new), (int(i) for i in inserted), strict=True))
    changed = [{"id": existing[r.uri], **values(r)} for r in rows if r.uri not in new_uris]
    if changed:
        session.execute(update(Asset), changed)
    return [existing[u] for u in uris]


def get_asset(session: Session, asset_id: int) -> AssetRecord:
    row = session.get(Asset, asset_id)
    if row is None:
        raise NotFound(f"asset id {asset_id} does not exist")
    return asset_record(row)


def find_asset(session: Session, collection_id: int, uri: str) -> AssetRecord | None:
    row = session.scalar(select(Asset).where(Asset.collection_id == collection_id, Asset.uri == uri))
    return None if row is None else asset_record(row)


def get_assets(session: Session, asset_ids: Iterable[int]) -> dict[int, AssetRecord]:
    """Bulk lookup (the searcher hydrates a page of hits at once); missing ids are simply absent."""
    wanted = sorted(set(asset_ids))
    out: dict[int, AssetRecord] = {}
    for chunk in _chunks(wanted):
        rows = session.scalars(select(Asset).where(Asset.id.in_(chunk)))
        out.update((r.id, asset_record(r)) for r in rows)
    return out


# The hydration read's columns, in `AssetSummary` order.
_SUMMARY_SELECT = f"SELECT id, uri, media_type, metadata, text, duration_sec FROM {Asset.__tablename__}"


def read_asset_summaries(db: Database, asset_ids: Iterable[int]) -> dict[int, AssetSummary]:
    """Bulk read of what search hits show, by id (missing ids are absent).

    Every search hydrates its page through this, so it is one plain SQL statement per 500 ids on a
    DBAPI cursor (`Database.raw_cursor`): ~8x cheaper for a page than a session and ORM rows
    (`bench/hotpath.py`). Kept in step with the `Asset` model by `tests/storage` (same values as
    `get_assets`).
    """
    wanted = sorted(set(asset_ids))
    out: dict[int, AssetSummary] = {}
    with db.raw_cursor() as cursor:
        for chunk in _chunks(wanted):
            marks = ", ".join([db.placeholder] * len(chunk))
            cursor.execute(f"{_SUMMARY_SELECT} WHERE id IN ({marks})", chunk)
            for asset_id, uri, media_type, meta, text, duration in cursor.fetchall():
                if isinstance(meta, str | bytes):  # SQLite keeps JSON as text; PostgreSQL's JSONB is parsed
                    meta = json.loads(meta)
                out[int(asset_id)] = AssetSummary(
                    int(asset_id), uri, cast(MediaType, media_type), dict(meta or {}), text, duration
                )
    return out


def changed_asset_ids(session: Session, since: datetime, limit: int) -> list[int]:
    """Ids of assets changed at or after `since` (at most `limit` of them; by the updated_at index)."""
    return list(session.scalars(select(Asset.id).where(Asset.updated_at >= since).limit(limit)))


def list_assets(
    session: Session,
    collection_id: int,
    *,
    statuses: Sequence[str] | None = None,
    media_types: Sequence[str] | None = None,
    where: Any = None,
    after_id: int = 0,
    limit: int = 1000,
) -> list[AssetRecord]:
    """One page of assets ordered by id (keyset pagination: pass the last id as `after_id`).

    `where` is an optional `clipsearch.storage.filters.Filter`.
    """
    query = select(Asset).where(Asset.collection_id == collection_id, Asset.id > after_id)
    if statuses:
        for status in statuses:
            _check_status(status)
        query = query.where(Asset.status.in_(list(statuses)))
    if media_types:
        query = query.where(Asset.media_type.in_(list(media_types)))
    if where is not None:
        from clipsearch.storage.filters import compile_filter

        query = query.where(compile_filter(where, session.get_bind().dialect.name))
    query = query.order_by(Asset.id).limit(limit)
    return [asset_record(r) for r in session.scalars(query)]


def count_assets(session: Session, collection_id: int) -> dict[str, int]:
    """Asset counts by status (every status present, zero included)."""
    rows = session.execute(
        select(Asset.status, func.count()).where(Asset.collection_id == collection_id).group_by(Asset.status)
    )
    counts: Counter[str] = Counter({status: 0 for status in ASSET_STATUSES})
    for status, n in rows:
        counts[status] = n
    return dict(counts)


def set_asset_status(session: Session, asset_id: int, status: str, error: str | None = None) -> None:
    _check_status(status)
    values: dict[str, Any] = {"status": status, "error": error, "updated_at": utcnow()}
    if status == "indexed":
        values["indexed_at"] = utcnow()
    result = session.execute(update(Asset).where(Asset.id == asset_id).values(**values))
    if result.rowcount == 0:  # type: ignore[attr-defined]
        raise NotFound(f"asset id {asset_id} does not exist")


def mark_assets_deleted(session: Session, asset_ids: Iterable[int]) -> int:
    """Soft delete: rows stay (their vector refs are removed by the caller, who tombstones the rows)."""
    ids = sorted(set(asset_ids))
    total = 0
    for chunk in _chunks(ids):
        result = session.execute(
            update(Asset).where(Asset.id.in_(chunk)).values(status="deleted", updated_at=utcnow())
        )
        total += result.rowcount  # type: ignore[attr-defined]
    return total


def replace_frames(session: Session, asset_id: int, frames: Sequence[tuple[int, float]]) -> list[FrameRecord]:
    """Replace an asset's frames with (frame_index, t_sec) pairs; their vector refs go with them."""
    if session.get(Asset, asset_id) is None:
        raise NotFound(f"asset id {asset_id} does not exist")
    indexes = [index for index, _ in frames]
    if len(set(indexes)) != len(indexes):
        raise InvalidRequest(f"asset {asset_id}: duplicate frame indexes")
    session.execute(delete(Frame).where(Frame.asset_id == asset_id))
    rows = [Frame(asset_id=asset_id, frame_index=index, t_sec=float(t)) for index, t in frames]
    session.add_all(rows)
    session.flush()
    return [frame_record(r) for r in rows]


def list_frames(session: Session, asset_id: int) -> list[FrameRecord]:
    rows = session.scalars(select(Frame).where(Frame.asset_id == asset_id).order_by(Frame.frame_index))
    return [frame_record(r) for r in rows]


def get_frames(session: Session, frame_ids: Iterable[int]) -> dict[int, FrameRecord]:
    wanted = sorted(set(frame_ids))
    out: dict[int, FrameRecord] = {}
    for chunk in _chunks(wanted):
        rows = session.scalars(select(Frame).where(Frame.id.in_(chunk)))
        out.update((r.id, frame_record(r)) for r in rows)
    return out
