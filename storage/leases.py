"""Lease-based locks in the database: at most one holder per name until the lease expires.

Each call is a conditional write, atomic on SQLite and PostgreSQL alike: take over a lease only where
it is free, ours, or expired (`UPDATE … WHERE`), else create it (`INSERT … ON CONFLICT DO NOTHING`).
The caller commits right after (`with db.session() as s: acquire_lease(s, …)`), so the row lock is
held only for that short transaction. A crashed holder stops renewing and its lease lapses.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from clipsearch.errors import InvalidRequest
from clipsearch.storage.models import Lease, utcnow
from clipsearch.storage.records import LeaseRecord


def _record(row: Lease) -> LeaseRecord:
    return LeaseRecord(
        name=row.name, holder=row.holder, acquired_at=row.acquired_at, expires_at=row.expires_at
    )


def _check(name: str, holder: str, ttl_seconds: float) -> None:
    if not name or not holder:
        raise InvalidRequest("lease name and holder must not be empty")
    if ttl_seconds <= 0:
        raise InvalidRequest(f"lease ttl must be positive (got {ttl_seconds})")


def acquire_lease(
    session: Session, name: str, holder: str, ttl_seconds: float, *, now: datetime | None = None
) -> bool:
    """Take the lease `name` for `holder` (or extend it if held already); False if someone else holds it."""
    _check(name, holder, ttl_seconds)
    now = now or utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
        .values(holder=holder, acquired_at=now, expires_at=expires)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return True
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(Lease)
        .values(name=name, holder=holder, acquired_at=now, expires_at=expires)
        .on_conflict_do_nothing(index_elements=["name"])
        .returning(Lease.name)
    )
    # RETURNING says whether the row went in (rowcount is not reliable for ORM-level inserts).
    return session.execute(statement).first() is not None


def renew_lease(
    session: Session, name: str, holder: str, ttl_seconds: float, *, now: datetime | None = None
) -> bool:
    """Extend our lease; False if it is no longer ours (it expired and someone else took it)."""
    _check(name, holder, ttl_seconds)
    now = now or utcnow()
    result = session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder, Lease.expires_at > now)
        .values(expires_at=now + timedelta(seconds=ttl_seconds))
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def release_lease(session: Session, name: str, holder: str) -> bool:
    """Give the lease up; False if we did not hold it."""
    result = session.execute(
        delete(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def get_lease(session: Session, name: str, *, now: datetime | None = None) -> LeaseRecord | None:
    """The current, unexpired lease on `name`, if any."""
    row = session.scalar(select(Lease).where(Lease.name == name, Lease.expires_at > (now or utcnow())))
    return None if row is None else _record(row)
