"""A held collection lease with a heartbeat: `with HeldLease(db, name, holder, ttl): ...`.

The lease row lives in the database (`clipsearch.storage.leases`), so it works across processes and
machines on SQLite and PostgreSQL. A background thread renews it every third of its time to live; if a
renewal fails (the process stalled past the expiry and someone else took over), `lost` is set and
`check()` raises, so the holder stops before doing anything visible such as activating a version.
A crashed holder simply stops renewing and its lease lapses after `ttl_seconds`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from types import TracebackType

from clipsearch.errors import ClipsearchError, Conflict
from clipsearch.storage import leases
from clipsearch.storage.db import Database

log = logging.getLogger(__name__)


class LeaseHeld(Conflict):
    """Someone else holds the lease (exit code 75, like every Conflict): a skipped run, not a failure."""


def rebuild_lease_name(collection: str) -> str:
    """One lease per collection covers every rebuild step (scan, embed, build, activate, compact)."""
    return f"rebuild:{collection}"


def make_holder(role: str = "cli") -> str:
    """A holder id that says who holds a lease: role, host, pid and a random suffix."""
    return f"{role}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class HeldLease:
    """Acquire on enter (Conflict when someone else holds it), renew in the background, release on exit."""

    def __init__(
        self,
        db: Database,
        name: str,
        holder: str,
        ttl_seconds: float,
        *,
        renew_every: float | None = None,
    ) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.ttl_seconds = ttl_seconds
        self.renew_every = renew_every if renew_every is not None else ttl_seconds / 3
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> HeldLease:
        with self.db.session() as session:
            acquired = leases.acquire_lease(session, self.name, self.holder, self.ttl_seconds)
            current = None if acquired else leases.get_lease(session, self.name)
        if not acquired:
            who = f"{current.holder} until {current.expires_at.isoformat()}" if current else "another process"
            raise LeaseHeld(f"lease '{self.name}' is held by {who}; try again later")
        self._thread = threading.Thread(target=self._heartbeat, name=f"lease:{self.name}", daemon=True)
        self._thread.start()
        log.info("acquired lease %s as %s", self.name, self.holder)
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.renew_every):
            try:
                with self.db.session() as session:
                    renewed = leases.renew_lease(session, self.name, self.holder, self.ttl_seconds)
            except ClipsearchError as exc:  # a database hiccup: try again at the next beat
                log.warning("cannot renew lease %s: %s", self.name, exc)
                continue
            if not renewed:
                log.error("lost lease %s (it expired and was taken over)", self.name)
                self.lost.set()
                return

    def check(self) -> None:
        """Raise Conflict if the lease was lost; call before every step with visible effects."""
        if self.lost.is_set():
            raise Conflict(f"lost lease '{self.name}' (it expired); stopping before making changes")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            with self.db.session() as session:
                released = leases.release_lease(session, self.name, self.holder)
        except ClipsearchError as error:  # it will lapse on its own
            log.warning("cannot release lease %s: %s", self.name, error)
            return
        if released:
            log.info("released lease %s", self.name)
