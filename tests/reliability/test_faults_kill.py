"""SIGKILL at random points: the indexer, a rebuild, and the server under load (then restarted).

The indexer's own crash test (`tests/indexer/test_crash_resume.py`) proves that a rerun converges to
the uninterrupted result; these tests look at what users see meanwhile: the active index keeps
serving during and after each kill, and the rerun converges to every file indexed exactly once.
Kill points come from a seeded RNG (`CLIPSEARCH_TEST_SEED`, default 7); the soak variants kill more often.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from clipsearch.errors import Conflict
from clipsearch.lifecycle.leases import rebuild_lease_name
from clipsearch.lifecycle.rebuild import Rebuilder
from clipsearch.storage import assets, catalog, jobs, leases, vector_refs, versions
from helpers.servers import ServerThread

from .live import (
    CHANNEL_OPTIONS,
    COLLECTION,
    REPO,
    LiveCollection,
    Probe,
    cli_command,
    cli_env,
    free_port,
    make_live_collection,
    probe,
    run_cli,
    wait_for,
    write_config,
    write_images,
)
from .results import check_rows

COLUMNS = ["fault", "expected", "observed", "result"]


def _rng() -> random.Random:
    return random.Random(int(os.environ.get("CLIPSEARCH_TEST_SEED", "7")))


class Prober:
    """Searches the server continuously from a thread and keeps every answer."""

    def __init__(self, target: str, query: np.ndarray, *, timeout: float = 5.0) -> None:
        self.target, self.query, self.timeout = target, query, timeout
        self.seen: list[Probe] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        try:
            while not self._stop.is_set():
                answer = probe(self.target, self.query, timeout=self.timeout, channel=channel)
                self.seen.append(answer)
                if answer.code != "OK":  # as a careful client does: a fresh connection after a failure
                    channel.close()
                    channel = grpc.insecure_channel(self.target, options=CHANNEL_OPTIONS)
                time.sleep(0.02)
        finally:
            channel.close()

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def _state(live: LiveCollection) -> tuple[dict[str, str], int, int]:
    """file name → status, item refs, assets with more than one item ref (duplicates)."""
    db = live.db()
    try:
        with db.session() as session:
            cid = catalog.get_collection(session, COLLECTION).id
            sid = catalog.get_space(session, "default").id
            rows = assets.list_assets(session, cid, limit=100_000)
            refs = vector_refs.refs_for_assets(session, sid, [a.id for a in rows])
    finally:
        db.dispose()
    items = {a.id: [r for r in refs[a.id] if r.unit == "item"] for a in rows}
    duplicates = sum(1 for mine in items.values() if len(mine) > 1)
    return {Path(a.uri).name: a.status for a in rows}, sum(len(m) for m in items.values()), duplicates


def _indexed(live: LiveCollection) -> int:
    try:
        return sum(1 for status in _state(live)[0].values() if status == "indexed")
    except Exception:  # busy or mid-commit: no progress to report this time
        return 0


def _reached(live: LiveCollection, count: int) -> bool:
    return _indexed(live) >= count


def _kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float = 240) -> bool:
    """SIGKILL `process` once `ready()`; False when it ended first."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = process.poll() is None
    if killed:
        process.send_signal(signal.SIGKILL)
    process.communicate(timeout=60)
    return killed and process.returncode == -signal.SIGKILL


def _record(name: str, title: str, fault: str, expected: str, observed: str) -> None:
    row = {"fault": fault, "expected": expected, "observed": observed, "result": "pass"}
    check_rows(name, [row], title=title, columns=COLUMNS)


# ------------------------------------------------------------------ the indexer


def _indexer_kills(tmp_path: Path, tiny_model: Path, new_images: int, kills: int) -> tuple[int, set[str]]:
    live = make_live_collection(tmp_path, tiny_model, images=6)
    query = live.query_vectors(1)[0]
    write_images(live.photos, new_images, start=6)
    total = 6 + new_images
    targets = sorted(_rng().sample(range(7, total - 1), kills))
    server = ServerThread(live.settings)
    killed = 0
    try:
        with Prober(server.target, query) as during:
            for target in targets:
                process = subprocess.Popen(
                    cli_command(live.config, "index", "run", COLLECTION, "--no-build", "--no-progress"),
                    cwd=REPO,
                    env=cli_env(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                killed += _kill_when(process, partial(_reached, live, target))
        codes = {p.code for p in during.seen}
        served = {p.version for p in during.seen}
        assert codes == {"OK"} and served == {"1"}, (codes, served)
        assert killed >= 1, "the indexer finished before it could be killed: make the corpus bigger"
        interrupted, _, _ = _state(live)
        # Nothing committed is lost: the first six (and whatever the killed runs committed) stay indexed.
        assert sum(1 for s in interrupted.values() if s == "indexed") >= 6

        rerun = run_cli(live.config, "index", "run", COLLECTION, "--no-progress")
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        wait_for(lambda: probe(server.target, query).version not in ("", "1"), 10, "the new version")
        after = probe(server.target, query)
    finally:
        server.stop()
    state, refs, duplicates = _state(live)
    assert set(state) == {p.name for p in live.photos.iterdir()}
    assert set(state.values()) == {"indexed"} and refs == total and duplicates == 0, (state, refs)
    assert after.code == "OK" and after.hits > 0
    return killed, {p.version for p in during.seen}


def test_sigkill_of_the_indexer_while_serving(tmp_path: Path, tiny_model: Path) -> None:
    _indexer_kills(tmp_path, tiny_model, new_images=24, kills=2)
    _record(
        "fault_kill_indexer",
        "Fault injection: SIGKILL of the indexer",
        "`clipsearch index run` SIGKILLed at random counts of committed assets (seeded), then rerun",
        "active version serves throughout; rerun converges: every file indexed once, nothing committed lost",
        "every search during the kills OK from v1; rerun indexed all 30 files, 30 item vectors, "
        "0 duplicates; the new version serves",
    )


@pytest.mark.soak
def test_sigkill_of_the_indexer_soak(tmp_path: Path, tiny_model: Path) -> None:
    killed, _ = _indexer_kills(tmp_path, tiny_model, new_images=120, kills=8)
    assert killed >= 6


# ------------------------------------------------------------------ a rebuild


def _lease(live: LiveCollection) -> Any:
    """The collection's rebuild lease while it is live (None once released or expired)."""
    db = live.db()
    try:
        with db.session() as session:
            return leases.get_lease(session, rebuild_lease_name(COLLECTION))
    except Exception:
        return None
    finally:
        db.dispose()


def _seconds_left(expires_at: datetime) -> float:
    now = datetime.now(UTC) if expires_at.tzinfo else datetime.now(UTC).replace(tzinfo=None)
    return (expires_at - now).total_seconds()


def _rebuild_kills(tmp_path: Path, tiny_model: Path, rounds: int) -> list[str]:
    """Kill `rebuild` at random moments after it took its lease; returns what each round observed."""
    lease_seconds = 3.0
    live = make_live_collection(tmp_path, tiny_model, images=6, **{"scheduler.lease_seconds": lease_seconds})
    query = live.query_vectors(1)[0]
    rng = _rng()
    server = ServerThread(live.settings)
    observed: list[str] = []
    try:
        with Prober(server.target, query) as during:
            for number in range(rounds):
                write_images(live.photos, 10, start=100 + 10 * number)  # real work for the rebuild
                process = subprocess.Popen(
                    cli_command(live.config, "rebuild", COLLECTION, "--json"),
                    cwd=REPO,
                    env=cli_env(),
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                wait_for(lambda p=process: _lease(live) is not None or p.poll() is not None, 120, "the lease")
                time.sleep(rng.uniform(0.0, 3.0))
                killed = _kill_when(process, lambda: True)
                if not killed:
                    observed.append("finished before the kill")
                    continue
                # The dead holder's lease blocks a second rebuild until it expires.
                db = live.db()
                try:
                    held = _lease(live)
                    refused = False
                    if held is not None and _seconds_left(held.expires_at) > 0.5:
                        try:
                            Rebuilder(db, lambda ctx: {}, lease_seconds=lease_seconds).run(COLLECTION)
                        except Conflict:
                            refused = True
                finally:
                    db.dispose()
                observed.append(
                    "killed; second rebuild refused while the lease lived" if refused else "killed"
                )
        codes = {p.code for p in during.seen}
        assert codes == {"OK"}, codes
        time.sleep(lease_seconds)  # the dead holder's lease lapses
        rerun = run_cli(live.config, "rebuild", COLLECTION, "--json")
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        db = live.db()
        try:
            with db.session() as session:
                cid = catalog.get_collection(session, COLLECTION).id
                sid = catalog.get_space(session, "default").id
                active = versions.get_active_version(session, cid, sid, "item")
                history = jobs.list_jobs(session, collection_id=cid, kind="rebuild", limit=100)
        finally:
            db.dispose()
        assert active is not None
        wait_for(
            lambda: probe(server.target, query).version == str(active.version), 10, "the rebuilt version"
        )
        after = probe(server.target, query)
    finally:
        server.stop()
    total = 6 + 10 * rounds
    state, refs, duplicates = _state(live)
    assert active.ntotal == total and refs == total and duplicates == 0
    assert set(state.values()) == {"indexed"}
    assert history[0].state == "succeeded"
    assert all(j.state != "running" for j in history), "an interrupted rebuild still looks running"
    assert after.code == "OK"
    return observed


def test_sigkill_of_a_rebuild_while_serving(tmp_path: Path, tiny_model: Path) -> None:
    observed = _rebuild_kills(tmp_path, tiny_model, rounds=2)
    assert any(o.startswith("killed") for o in observed), observed
    _record(
        "fault_kill_rebuild",
        "Fault injection: SIGKILL of a rebuild",
        "`clipsearch rebuild` SIGKILLed at a random moment (0–3 s) after taking its lease, twice, then rerun",
        "the active version serves throughout; the dead holder's lease lapses; a rerun converges",
        "every search OK during the kills; rerun (after the 3 s lease) rebuilt: 26 items, 0 duplicates, "
        "new version served; interrupted jobs marked failed",
    )


@pytest.mark.soak
def test_sigkill_of_a_rebuild_soak(tmp_path: Path, tiny_model: Path) -> None:
    observed = _rebuild_kills(tmp_path, tiny_model, rounds=6)
    assert sum(o.startswith("killed") for o in observed) >= 4, observed


# ------------------------------------------------------------------ the server under load


def _start_server(config: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        cli_command(config, "serve"),
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # blocks until the server says it is serving (or exits)
        if "serving on" in line:
            threading.Thread(target=process.stdout.read, daemon=True).start()  # keep the pipe drained
            return process
    process.wait(10)
    raise AssertionError(f"the server did not start (exit {process.returncode})")


def _server_restarts(tmp_path: Path, tiny_model: Path, restarts: int) -> list[Probe]:
    live = make_live_collection(tmp_path, tiny_model, images=6)
    port = free_port()
    config = write_config(
        tmp_path / "serve.toml",
        live.settings.model_copy(update={"server": live.settings.server.model_copy(update={"port": port})}),
    )
    target = f"127.0.0.1:{port}"
    query = live.query_vectors(1)[0]
    rng = _rng()
    process = _start_server(config)
    try:
        with Prober(target, query, timeout=2.0) as load:
            for _ in range(restarts):
                seen = len(load.seen)
                wait_for(lambda s=seen: len(load.seen) > s + 20, 60, "load before the kill")
                time.sleep(rng.uniform(0.0, 0.5))
                process.send_signal(signal.SIGKILL)
                process.wait(30)
                seen = len(load.seen)
                wait_for(lambda s=seen: any(p.code != "OK" for p in load.seen[s:]), 30, "clients to notice")
                process = _start_server(config)
                seen = len(load.seen)
                try:
                    wait_for(lambda s=seen: any(p.code == "OK" for p in load.seen[s:]), 30, "success again")
                except AssertionError as exc:
                    codes = Counter(p.code for p in load.seen[seen:])
                    raise AssertionError(f"{exc}; codes after the restart: {dict(codes)}") from None
            seen = len(load.seen)
            wait_for(lambda s=seen: len(load.seen) > s + 20, 60, "load after the last restart")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    return load.seen


def test_sigkill_of_the_server_under_load_then_restart(tmp_path: Path, tiny_model: Path) -> None:
    seen = _server_restarts(tmp_path, tiny_model, restarts=1)
    codes = {p.code for p in seen}
    served = {p.version for p in seen if p.code == "OK"}
    # Clients see UNAVAILABLE during the gap (connection refused), then success; never anything else.
    assert codes == {"OK", "UNAVAILABLE"}, codes
    assert served == {"1"}, served
    first_gap = next(i for i, p in enumerate(seen) if p.code != "OK")
    back = next(i for i in range(first_gap, len(seen)) if seen[i].code == "OK")
    assert all(p.code == "OK" for p in seen[:first_gap]) and all(p.code == "OK" for p in seen[back:])
    _record(
        "fault_kill_server",
        "Fault injection: SIGKILL of the server under load",
        "`clipsearch serve` SIGKILLed while a client searches continuously, restarted on the same port",
        "clients see UNAVAILABLE during the gap, then success; the same active version is served again",
        "codes: OK, UNAVAILABLE (in the gap only); v1 served before and after the restart",
    )


@pytest.mark.soak
def test_sigkill_of_the_server_soak(tmp_path: Path, tiny_model: Path) -> None:
    seen = _server_restarts(tmp_path, tiny_model, restarts=5)
    assert {p.code for p in seen} == {"OK", "UNAVAILABLE"}
    assert {p.version for p in seen if p.code == "OK"} == {"1"}
