"""Vector bookkeeping: which asset or frame has a vector in which space, at which store row id.

Order of writes (crash safety): the vector store appends and fsyncs first, then `add_vector_refs`
records the row ids in the same transaction that marks the asset indexed. A crash in between leaves
store rows nobody points at (harmless; `compact(live_ids=...)` drops them), never a ref to nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import cast

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from clipsearch.errors import InvalidRequest, NotFound
from clipsearch.storage.models import UNITS, Asset, Frame, VectorRef
from clipsearch.storage.records import NewVectorRef, Unit, VectorRefRecord

_IN_BATCH = 500


def _record(row: VectorRef) -> VectorRefRecord:
    return VectorRefRecord(
        row_id=row.row_id,
        space_id=row.space_id,
        collection_id=row.collection_id,
        asset_id=row.asset_id,
        frame_id=row.frame_id,
        unit=cast(Unit, row.unit),
    )


def _check_unit(unit: str) -> None:
    if unit not in UNITS:
        raise InvalidRequest(f"unit must be one of {', '.join(UNITS)} (got {unit!r})")


def add_vector_refs(session: Session, space_id: int, refs: Sequence[NewVectorRef]) -> int:
    """Record vector-store rows for assets/frames in a space; returns how many were added."""
    if not refs:
        return 0
    asset_ids = sorted({r.asset_id for r in refs})
    collections: dict[int, int] = {}
    for start in range(0, len(asset_ids), _IN_BATCH):
        chunk = asset_ids[start : start + _IN_BATCH]
        collections.update(
            session.execute(select(Asset.id, Asset.collection_id).where(Asset.id.in_(chunk))).tuples().all()
        )
    missing = [a for a in asset_ids if a not in collections]
    if missing:
        raise NotFound(f"assets do not exist: {missing[:10]}")
    frame_ids = sorted({r.frame_id for r in refs if r.frame_id is not None})
    frame_owner: dict[int, int] = {}
    for start in range(0, len(frame_ids), _IN_BATCH):
        chunk = frame_ids[start : start + _IN_BATCH]
        frame_owner.update(
            session.execute(select(Frame.id, Frame.asset_id).where(Frame.id.in_(chunk))).tuples().all()
        )
    for ref in refs:
        if ref.frame_id is not None and frame_owner.get(ref.frame_id) != ref.asset_id:
            raise InvalidRequest(f"frame {ref.frame_id} does not belong to asset {ref.asset_id}")
    session.add_all(
        VectorRef(
            space_id=space_id,
            collection_id=collections[r.asset_id],
            asset_id=r.asset_id,
            frame_id=r.frame_id,
            unit=r.unit,
            row_id=int(r.row_id),
        )
        for r in refs
    )
    session.flush()
    return len(refs)


def remove_vector_refs(session: Session, asset_ids: Iterable[int], space_id: int | None = None) -> list[int]:
    """Forget the vectors of assets (all units, all spaces unless one is named).

    Returns the vector-store row ids that were referenced, for the caller to tombstone.
    """
    ids = sorted(set(asset_ids))
    row_ids: list[int] = []
    for start in range(0, len(ids), _IN_BATCH):
        condition = VectorRef.asset_id.in_(ids[start : start + _IN_BATCH])
        if space_id is not None:
            condition = condition & (VectorRef.space_id == space_id)
        row_ids.extend(session.scalars(select(VectorRef.row_id).where(condition)))
        session.execute(delete(VectorRef).where(condition))
    return sorted(row_ids)


def vector_rows(
    session: Session, collection_id: int, space_id: int, unit: str, *, live_only: bool = True
) -> np.ndarray:
    """The store row ids (int64, ascending) that make up an index of (collection, space, unit).

    With `live_only`, rows of assets that are not `indexed` are left out.
    """
    _check_unit(unit)
    query = select(VectorRef.row_id).where(
        VectorRef.collection_id == collection_id, VectorRef.space_id == space_id, VectorRef.unit == unit
    )
    if live_only:
        query = query.join(Asset, Asset.id == VectorRef.asset_id).where(Asset.status == "indexed")
    return np.sort(np.fromiter(session.scalars(query), dtype=np.int64))


def live_row_ids(session: Session, space_id: int) -> np.ndarray:
    """Every row id of a space that some ref points at (compaction keeps exactly these)."""
    query = select(VectorRef.row_id).where(VectorRef.space_id == space_id)
    return np.sort(np.fromiter(session.scalars(query), dtype=np.int64))


def resolve_rows(session: Session, space_id: int, row_ids: Iterable[int]) -> dict[int, VectorRefRecord]:
    """Map store row ids (FAISS labels) back to assets and frames; unknown ids are absent."""
    wanted = sorted({int(r) for r in row_ids})
    out: dict[int, VectorRefRecord] = {}
    for start in range(0, len(wanted), _IN_BATCH):
        rows = session.scalars(
            select(VectorRef).where(
                VectorRef.space_id == space_id, VectorRef.row_id.in_(wanted[start : start + _IN_BATCH])
            )
        )
        out.update((r.row_id, _record(r)) for r in rows)
    return out


def refs_for_assets(
    session: Session, space_id: int, asset_ids: Iterable[int], unit: str | None = None
) -> dict[int, list[VectorRefRecord]]:
    """Vector refs per asset in a space (e.g. an item's frames for frame scoring), in row-id order."""
    if unit is not None:
        _check_unit(unit)
    ids = sorted(set(asset_ids))
    out: dict[int, list[VectorRefRecord]] = {a: [] for a in ids}
    for start in range(0, len(ids), _IN_BATCH):
        query = select(VectorRef).where(
            VectorRef.space_id == space_id, VectorRef.asset_id.in_(ids[start : start + _IN_BATCH])
        )
        if unit is not None:
            query = query.where(VectorRef.unit == unit)
        for row in session.scalars(query.order_by(VectorRef.row_id)):
            out[row.asset_id].append(_record(row))
    return out
