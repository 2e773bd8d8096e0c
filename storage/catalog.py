"""Collections, their sources, and embedding spaces."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from clipsearch.errors import AlreadyExists, Conflict, InvalidRequest, NotFound
from clipsearch.storage.models import Collection, Source, Space, utcnow
from clipsearch.storage.records import CollectionRecord, SourceRecord, SpaceRecord


def collection_record(row: Collection) -> CollectionRecord:
    return CollectionRecord(id=row.id, name=row.name, description=row.description, created_at=row.created_at)


def space_record(row: Space) -> SpaceRecord:
    return SpaceRecord(
        id=row.id, name=row.name, fingerprint=row.fingerprint, dim=row.dim, context_length=row.context_length
    )


def _source_record(row: Source) -> SourceRecord:
    return SourceRecord(
        id=row.id,
        collection_id=row.collection_id,
        path=row.path,
        kind=row.kind,
        created_at=row.created_at,
        last_scanned_at=row.last_scanned_at,
    )


def _check_name(kind: str, name: str) -> None:
    if not name or len(name) > 200 or name != name.strip() or "/" in name or "\x00" in name:
        raise InvalidRequest(f"invalid {kind} name {name!r}: 1-200 characters, no '/', no surrounding spaces")


def create_collection(session: Session, name: str, description: str = "") -> CollectionRecord:
    _check_name("collection", name)
    if session.scalar(select(Collection).where(Collection.name == name)) is not None:
        raise AlreadyExists(f"collection '{name}' exists already")
    row = Collection(name=name, description=description)
    session.add(row)
    session.flush()
    return collection_record(row)


def ensure_collection(session: Session, name: str) -> CollectionRecord:
    row = session.scalar(select(Collection).where(Collection.name == name))
    return collection_record(row) if row is not None else create_collection(session, name)


def get_collection(session: Session, name: str) -> CollectionRecord:
    row = session.scalar(select(Collection).where(Collection.name == name))
    if row is None:
        raise NotFound(f"collection '{name}' does not exist")
    return collection_record(row)


def get_collection_by_id(session: Session, collection_id: int) -> CollectionRecord:
    row = session.get(Collection, collection_id)
    if row is None:
        raise NotFound(f"collection id {collection_id} does not exist")
    return collection_record(row)


def list_collections(session: Session) -> list[CollectionRecord]:
    return [collection_record(r) for r in session.scalars(select(Collection).order_by(Collection.name))]


def delete_collection(session: Session, name: str) -> None:
    """Delete a collection and (by cascade) its assets, frames, vector refs, versions and schedules."""
    row = session.scalar(select(Collection).where(Collection.name == name))
    if row is None:
        raise NotFound(f"collection '{name}' does not exist")
    session.delete(row)
    session.flush()


def ensure_source(session: Session, collection_id: int, path: str, kind: str) -> SourceRecord:
    row = session.scalar(select(Source).where(Source.collection_id == collection_id, Source.path == path))
    if row is None:
        row = Source(collection_id=collection_id, path=path, kind=kind)
        session.add(row)
    else:
        row.kind = kind
    session.flush()
    return _source_record(row)


def mark_source_scanned(session: Session, source_id: int) -> None:
    row = session.get(Source, source_id)
    if row is None:
        raise NotFound(f"source id {source_id} does not exist")
    row.last_scanned_at = utcnow()
    session.flush()


def list_sources(session: Session, collection_id: int) -> list[SourceRecord]:
    rows = session.scalars(select(Source).where(Source.collection_id == collection_id).order_by(Source.id))
    return [_source_record(r) for r in rows]


def ensure_space(
    session: Session, name: str, *, fingerprint: str, dim: int, context_length: int
) -> SpaceRecord:
    """Register a space, or check that the registered one still describes the same model.

    A different fingerprint or dimension means the stored vectors belong to another model: that is a
    `Conflict`, never a silent overwrite (re-embed into a new space name, or `replace_space`).
    """
    _check_name("space", name)
    if dim <= 0:
        raise InvalidRequest(f"space '{name}': dim must be positive (got {dim})")
    row = session.scalar(select(Space).where(Space.name == name))
    if row is None:
        row = Space(name=name, fingerprint=fingerprint, dim=dim, context_length=context_length)
        session.add(row)
        session.flush()
        return space_record(row)
    if row.fingerprint != fingerprint or row.dim != dim:
        raise Conflict(
            f"space '{name}' holds vectors of model {row.fingerprint} (dim {row.dim}); the configured "
            f"model is {fingerprint} (dim {dim}). Re-embed into a new space or replace the space."
        )
    if row.context_length != context_length:
        row.context_length = context_length
        session.flush()
    return space_record(row)


def replace_space(
    session: Session, name: str, *, fingerprint: str, dim: int, context_length: int
) -> SpaceRecord:
    """Point a space at a new model. Its vector refs and index versions are deleted (cascade)."""
    row = session.scalar(select(Space).where(Space.name == name))
    if row is not None:
        session.delete(row)
        session.flush()
    return ensure_space(session, name, fingerprint=fingerprint, dim=dim, context_length=context_length)


def get_space(session: Session, name: str) -> SpaceRecord:
    row = session.scalar(select(Space).where(Space.name == name))
    if row is None:
        raise NotFound(f"space '{name}' is not registered (nothing has been embedded in it yet)")
    return space_record(row)


def get_space_by_id(session: Session, space_id: int) -> SpaceRecord:
    row = session.get(Space, space_id)
    if row is None:
        raise NotFound(f"space id {space_id} does not exist")
    return space_record(row)


def list_spaces(session: Session) -> list[SpaceRecord]:
    return [space_record(r) for r in session.scalars(select(Space).order_by(Space.name))]
