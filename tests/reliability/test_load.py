"""Load while index versions are rebuilt and activated: no failed request below the admission limits,
RESOURCE_EXHAUSTED (never timeouts) above them; p50/p99 recorded for the report."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from clipsearch.proto.v1 import search_pb2 as pb
from clipsearch.proto.v1 import search_pb2_grpc as pb_grpc
from clipsearch.searcher.synthetic import SyntheticCorpus, activate_index, write_corpus
from clipsearch.storage.db import Database
from helpers.servers import ServerThread

from .conftest import COLLECTION, DIM, reliability_settings
from .loadgen import LoadReport, run_load
from .results import check_rows, record_figures


def _served(root: Path, **server: Any) -> tuple[Any, SyntheticCorpus]:
    # No model: vector queries only, so the server starts in about a second.
    settings = reliability_settings(root, root / "no-model", **server)
    db = Database(settings.database_url)
    db.create_all()
    corpus = write_corpus(db, settings.data_dir, collection=COLLECTION, n_items=300, dim=DIM)
    db.dispose()
    return settings, corpus


def _query(corpus: SyntheticCorpus) -> Any:
    # No stage-2 rerank: the synthetic corpus has no vector store, so exact rerank would fall back to
    # one database read per candidate (~0.4 s a request here) and the figures would measure only that.
    def call(stub: Any, i: int) -> Any:
        centre = corpus.centres[i % len(corpus.centres)]
        request = pb.SearchRequest(
            collection=COLLECTION,
            vector=pb.Vector(values=centre.tolist()),
            top_k=10,
            rerank=pb.RerankOptions(enabled=False),
        )
        return stub.Search(request, timeout=20)

    return call


def _activate_repeatedly(
    settings: Any, corpus: SyntheticCorpus, times: int, stop: threading.Event
) -> list[int]:
    """Rebuild the item index from the same vectors and activate it, `times` times (a rebuild + swap)."""
    db = Database(settings.database_url)
    matrix = np.stack(list(corpus.item_vectors.values()))
    rows = np.arange(len(matrix), dtype=np.int64)
    versions = []
    try:
        for _ in range(times):
            if stop.is_set():
                break
            versions.append(
                activate_index(db, settings.data_dir, COLLECTION, "default", "item", matrix, rows)
            )
            time.sleep(0.3)
    finally:
        db.dispose()
    return versions


def _row(scenario: str, limits: str, report: LoadReport, expectation: str, ok: bool) -> dict[str, str]:
    codes = ", ".join(f"{k}" for k in sorted(report.codes))
    return {
        "scenario": scenario,
        "limits": limits,
        "expected": expectation,
        "codes seen": codes,
        "result": "pass" if ok else "FAIL",
    }


def test_load_during_rebuilds_and_above_the_queue_limit(tmp_path: Path) -> None:
    rows = []
    figures: dict[str, Any] = {}
    # 1. Below the limits, while versions are rebuilt and activated: zero failures.
    settings, corpus = _served(tmp_path / "below", max_concurrent_requests=4, max_queued_requests=64)
    server = ServerThread(settings)
    stop = threading.Event()
    versions: list[int] = []
    activator = threading.Thread(
        target=lambda: versions.extend(_activate_repeatedly(settings, corpus, 3, stop))
    )
    try:
        # The baseline: the same load on the same server, with no rebuild running (same run, so the
        # ratio below means something on a shared machine).
        baseline = run_load(
            server.target,
            _query(corpus),
            stub_factory=pb_grpc.SearchServiceStub,
            clients=4,
            requests_per_client=20,
        )
        activator.start()
        report = run_load(
            server.target,
            _query(corpus),
            stub_factory=pb_grpc.SearchServiceStub,
            clients=4,
            requests_per_client=20,
        )
        stop.set()
        activator.join(60)
        time.sleep(0.5)  # one poll interval: the last activation is swapped in
        with grpc.insecure_channel(server.target) as channel:
            reply = _query(corpus)(pb_grpc.SearchServiceStub(channel), 0)
        served_versions = {ref.version for ref in reply.index_versions if ref.unit == "item"}
    finally:
        stop.set()
        server.stop()
    ok = report.failed == 0 and report.sent == 80 and len(versions) >= 2 and baseline.failed == 0
    assert baseline.failed == 0 and baseline.sent == 80, baseline.codes
    assert report.failed == 0, report.codes
    assert report.sent == 80
    assert len(versions) >= 2, "the rebuilds did not overlap the load"
    assert served_versions == {str(versions[-1])}, (served_versions, versions)
    rows.append(
        _row(
            "4 clients x 20 vector searches (no rerank) during 3 rebuild+activate cycles "
            "(after the same load without rebuilds: the baseline)",
            "4 in flight, 64 queued",
            report,
            "all OK; newest version served after",
            ok,
        )
    )
    figures["below limits, no rebuild (baseline): p50 ms"] = round(baseline.p50_ms, 1)
    figures["below limits, no rebuild (baseline): p99 ms"] = round(baseline.p99_ms, 1)
    figures["below limits, no rebuild (baseline): requests/s"] = round(baseline.sent / baseline.seconds, 1)
    figures["below limits, during rebuild+activate: p50 ms"] = round(report.p50_ms, 1)
    figures["below limits, during rebuild+activate: p99 ms"] = round(report.p99_ms, 1)
    figures["below limits, during rebuild+activate: requests/s"] = round(report.sent / report.seconds, 1)
    figures["during/baseline p50 ratio"] = round(report.p50_ms / max(baseline.p50_ms, 1e-6), 2)
    figures["during/baseline p99 ratio"] = round(report.p99_ms / max(baseline.p99_ms, 1e-6), 2)

    # 2. Above the limits: refused quickly with RESOURCE_EXHAUSTED, never timeouts.
    settings, corpus = _served(tmp_path / "above", max_concurrent_requests=1, max_queued_requests=0)
    server = ServerThread(settings)
    try:
        report = run_load(
            server.target,
            _query(corpus),
            stub_factory=pb_grpc.SearchServiceStub,
            clients=8,
            requests_per_client=10,
        )
    finally:
        server.stop()
    allowed = {"OK", "RESOURCE_EXHAUSTED"}
    ok = (
        set(report.codes) <= allowed
        and report.codes.get("RESOURCE_EXHAUSTED", 0) > 0
        and report.codes.get("OK", 0) > 0
    )
    assert set(report.codes) <= allowed, report.codes
    assert report.codes.get("RESOURCE_EXHAUSTED", 0) > 0, report.codes
    assert report.codes.get("OK", 0) > 0, report.codes
    rows.append(
        _row(
            "8 clients x 10 vector searches (no rerank)",
            "1 in flight, 0 queued",
            report,
            "OK or RESOURCE_EXHAUSTED only (no timeouts)",
            ok,
        )
    )
    figures["above limits: share refused"] = round(report.codes.get("RESOURCE_EXHAUSTED", 0) / report.sent, 2)
    figures["above limits: p99 ms (incl. refusals)"] = round(report.p99_ms, 1)
    record_figures("load", figures)
    check_rows(
        "load",
        rows,
        title="Load while rebuilding and activating",
        columns=["scenario", "limits", "expected", "codes seen", "result"],
    )


@pytest.mark.soak
def test_load_soak(tmp_path: Path) -> None:
    settings, corpus = _served(tmp_path, max_concurrent_requests=8, max_queued_requests=256)
    server = ServerThread(settings)
    stop = threading.Event()
    activator = threading.Thread(target=lambda: _activate_repeatedly(settings, corpus, 20, stop))
    try:
        activator.start()
        report = run_load(
            server.target,
            _query(corpus),
            stub_factory=pb_grpc.SearchServiceStub,
            clients=32,
            requests_per_client=500,
            max_seconds=300,
        )
    finally:
        stop.set()
        activator.join(120)
        server.stop()
    assert report.failed == 0, report.codes
