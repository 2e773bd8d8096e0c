"""Collection leases: one holder at a time, heartbeat renewal, a crashed holder's lease lapses."""

from __future__ import annotations

import time

import pytest

from clipsearch.errors import Conflict
from clipsearch.lifecycle.leases import HeldLease, LeaseHeld, make_holder, rebuild_lease_name
from clipsearch.storage import leases
from clipsearch.storage.db import Database


def test_second_holder_is_refused_until_the_first_releases(any_db: Database) -> None:
    name = rebuild_lease_name("photos")
    with HeldLease(any_db, name, make_holder("a"), 30.0):  # noqa: SIM117 (the outer lease is the point)
        with pytest.raises(LeaseHeld, match="held by a@"), HeldLease(any_db, name, make_holder("b"), 30.0):
            pass
    with HeldLease(any_db, name, make_holder("b"), 30.0) as lease:
        lease.check()
    with any_db.session() as session:
        assert leases.get_lease(session, name) is None  # released on exit


def test_crashed_holders_lease_expires(any_db: Database) -> None:
    name = rebuild_lease_name("photos")
    # A holder that took the lease and died: no heartbeat, no release.
    with any_db.session() as session:
        assert leases.acquire_lease(session, name, "crashed@host:1", 0.5)
    with pytest.raises(LeaseHeld):
        HeldLease(any_db, name, make_holder("b"), 30.0).__enter__()
    time.sleep(0.7)
    with HeldLease(any_db, name, make_holder("b"), 30.0) as lease:
        with any_db.session() as session:
            current = leases.get_lease(session, name)
        assert current is not None and current.holder == lease.holder


def test_heartbeat_keeps_a_long_holder_ahead_of_its_ttl(any_db: Database) -> None:
    name = rebuild_lease_name("photos")
    with HeldLease(any_db, name, make_holder("a"), 0.6, renew_every=0.1) as lease:
        time.sleep(1.5)  # 2.5 times the ttl
        with pytest.raises(LeaseHeld), HeldLease(any_db, name, make_holder("b"), 30.0):
            pass
        lease.check()


def test_a_holder_that_lost_its_lease_stops_before_making_changes(any_db: Database) -> None:
    name = rebuild_lease_name("photos")
    # A renewal interval longer than the ttl simulates a stalled process.
    with HeldLease(any_db, name, make_holder("a"), 0.3, renew_every=0.6) as lease:
        time.sleep(0.4)
        with any_db.session() as session:
            assert leases.acquire_lease(session, name, "other@host:2", 30.0)
        assert lease.lost.wait(2.0)
        with pytest.raises(Conflict, match="lost lease"):
            lease.check()
    with any_db.session() as session:
        current = leases.get_lease(session, name)
    assert current is not None and current.holder == "other@host:2"  # the loser did not release it
