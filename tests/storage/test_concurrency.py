"""Races between real connections: one lease holder, one active version, whatever the timing."""

from __future__ import annotations

import threading
from collections import Counter

from clipsearch.errors import Conflict, Unavailable
from clipsearch.storage import catalog, leases, versions
from clipsearch.storage.db import Database


def _race(n: int, work: object) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)  # type: ignore[operator]
        except (Conflict, Unavailable) as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def test_only_one_contender_gets_the_lease(db: Database) -> None:
    for round_ in range(5):

        def take(i: int, round_: int = round_) -> bool:
            with db.session() as s:
                return leases.acquire_lease(s, f"rebuild:{round_}", f"worker-{i}", 60)

        results = _race(6, take)
        # Busy SQLite writers wait (busy_timeout) rather than fail, so every call answers True/False.
        assert Counter(results) == Counter({True: 1, False: 5}), results


def test_concurrent_activations_leave_exactly_one_active(db: Database) -> None:
    with db.session() as s:
        c = catalog.create_collection(s, "c")
        space = catalog.ensure_space(s, "default", fingerprint="fp", dim=4, context_length=77)
        ids = []
        for _ in range(6):
            v = versions.create_version(s, c.id, space.id, "item", factory="Flat", path="p")
            ids.append(versions.mark_version_ready(s, v.id, ntotal=1).id)

    def activate(i: int) -> int:
        with db.session() as s:
            return versions.activate_version(s, ids[i]).version

    results = _race(6, activate)
    assert all(isinstance(r, int | Conflict) for r in results), results
    with db.session() as s:
        states = Counter(v.status for v in versions.list_versions(s, c.id, space.id, "item"))
        active = versions.get_active_version(s, c.id, space.id, "item")
    assert states["active"] == 1 and active is not None
    assert active.version in [r for r in results if isinstance(r, int)]


def test_readers_do_not_wait_for_an_open_write_transaction(db: Database) -> None:
    with db.session() as s:
        catalog.create_collection(s, "before")
    with db.session() as writer:
        catalog.create_collection(writer, "uncommitted")  # holds SQLite's write lock until the block ends
        with db.read_session() as reader:
            assert [c.name for c in catalog.list_collections(reader)] == ["before"]
    with db.read_session() as reader:
        assert [c.name for c in catalog.list_collections(reader)] == ["before", "uncommitted"]
