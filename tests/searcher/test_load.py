"""Behaviour under load: hot swap with zero failed queries, RESOURCE_EXHAUSTED beyond the queue, metrics."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import numpy as np

from clipsearch.client import AsyncSearchClient, SearchClient
from clipsearch.errors import ResourceExhausted
from clipsearch.searcher.synthetic import activate_index, write_corpus
from clipsearch.storage.db import Database
from helpers.servers import ServerThread
from searcher.conftest import make_settings


def test_hot_swap_under_continuous_load_fails_no_query(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db = Database(settings.database_url)
    db.create_all()
    corpus = write_corpus(db, settings.data_dir, n_items=150, dim=32)
    server = ServerThread(settings)
    failures: list[BaseException] = []
    versions_seen: set[str] = set()
    stop = threading.Event()
    query = [float(x) for x in corpus.centres[0]]

    def hammer() -> None:
        with SearchClient(server.target, timeout=10) as client:
            while not stop.is_set():
                try:
                    result = client.search(
                        collection="synthetic", vector=query, top_k=5, media_types=["image"]
                    )
                    versions_seen.update(v.version for v in result.index_versions if v.unit == "item")
                    assert len(result.hits) == 5
                except BaseException as exc:  # every failure counts, whatever it is
                    failures.append(exc)

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    try:
        for worker in workers:
            worker.start()
        time.sleep(0.5)
        # A new item index version: same vectors, so answers stay valid; activation is the swap.
        ids = sorted(corpus.item_vectors)
        matrix = np.stack([corpus.item_vectors[i] for i in ids])
        rows = np.arange(len(ids), dtype=np.int64)  # row ids as written by write_corpus (items first)
        new_version = activate_index(db, settings.data_dir, "synthetic", "default", "item", matrix, rows)
        deadline = time.monotonic() + 15
        while str(new_version) not in versions_seen and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        stop.set()
        for worker in workers:
            worker.join(20)
        server.stop()
        db.dispose()
    assert not failures, failures[:3]
    assert {"1", str(new_version)} <= versions_seen


def test_overload_answers_resource_exhausted_immediately(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, max_concurrent_requests=1, max_queued_requests=1, workers=1)
    db = Database(settings.database_url)
    db.create_all()
    corpus = write_corpus(db, settings.data_dir, n_items=150, dim=32)
    db.dispose()
    server = ServerThread(settings)
    query = [float(x) for x in corpus.centres[0]]

    async def burst() -> list[str]:
        async with AsyncSearchClient(server.target, timeout=30) as client:

            async def one() -> str:
                try:
                    await client.search(collection="synthetic", vector=query, top_k=50)
                    return "ok"
                except ResourceExhausted:
                    return "exhausted"

            return await asyncio.gather(*(one() for _ in range(40)))

    try:
        outcomes = asyncio.run(burst())
    finally:
        server.stop()
    assert outcomes.count("ok") >= 1
    assert outcomes.count("exhausted") >= 1
    assert set(outcomes) == {"ok", "exhausted"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_endpoint_counts_requests_and_reports_indexes(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, metrics_port=_free_port())
    db = Database(settings.database_url)
    db.create_all()
    corpus = write_corpus(db, settings.data_dir, n_items=60, dim=16)
    db.dispose()
    server = ServerThread(settings)
    try:
        with SearchClient(server.target) as client:
            client.search(collection="synthetic", vector=[float(x) for x in corpus.centres[1]], top_k=3)
            try:
                client.search(collection="synthetic", vector=[1.0])
            except Exception:
                pass
        body = (
            urllib.request.urlopen(f"http://127.0.0.1:{server.server.metrics_port}/metrics", timeout=5)
            .read()
            .decode()
        )
    finally:
        server.stop()
    assert 'clipsearch_requests_total{code="OK",method="Search"} 1.0' in body
    assert 'clipsearch_requests_total{code="INVALID_ARGUMENT",method="Search"} 1.0' in body
    assert 'clipsearch_index_vectors{collection="synthetic",space="default",unit="item"} 60.0' in body
    assert 'clipsearch_stage_seconds_count{stage="candidates"} 1.0' in body
    assert 'clipsearch_request_seconds_count{method="Search"} 2.0' in body
    assert "clipsearch_in_flight 0.0" in body and "clipsearch_queued 0.0" in body
    # The one good search hydrated its 3 hits from the database (the cache was empty).
    assert 'clipsearch_item_cache_lookups_total{outcome="miss"} 3.0' in body
    assert 'clipsearch_item_cache_lookups_total{outcome="hit"} 0.0' in body


def test_in_flight_and_queued_gauges_read_the_admission_counters(tmp_path: Path) -> None:
    from prometheus_client import generate_latest

    from clipsearch.searcher.app import build_engine
    from clipsearch.searcher.metrics import ServerMetrics
    from clipsearch.searcher.server import SearchServicer

    settings = make_settings(tmp_path, max_concurrent_requests=1, max_queued_requests=4)
    metrics = ServerMetrics()
    servicer = SearchServicer(build_engine(settings), settings, metrics)

    def gauges() -> tuple[str, str]:
        lines = generate_latest(metrics.registry).decode().splitlines()
        return (
            next(line for line in lines if line.startswith("clipsearch_in_flight ")),
            next(line for line in lines if line.startswith("clipsearch_queued ")),
        )

    async def scenario() -> list[tuple[str, str]]:
        admission = servicer._admit()
        seen = [gauges()]
        release = asyncio.Event()

        async def hold() -> None:
            async with admission.admit():
                await release.wait()

        holders = [asyncio.ensure_future(hold()) for _ in range(3)]
        await asyncio.sleep(0.05)
        seen.append(gauges())  # one in its slot, two waiting
        release.set()
        await asyncio.gather(*holders)
        seen.append(gauges())
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        servicer.close()
    assert seen == [
        ("clipsearch_in_flight 0.0", "clipsearch_queued 0.0"),
        ("clipsearch_in_flight 1.0", "clipsearch_queued 2.0"),
        ("clipsearch_in_flight 0.0", "clipsearch_queued 0.0"),
    ]


def test_graceful_stop_turns_health_not_serving_and_finishes(tmp_path: Path) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    settings = make_settings(tmp_path)
    db = Database(settings.database_url)
    db.create_all()
    write_corpus(db, settings.data_dir, n_items=40, dim=16)
    db.dispose()
    server = ServerThread(settings)
    channel = grpc.insecure_channel(server.target)
    stub = health_pb2_grpc.HealthStub(channel)
    assert (
        stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    asyncio.run_coroutine_threadsafe(server.server.health.enter_graceful_shutdown(), server.loop).result(5)
    assert (
        stub.Check(health_pb2.HealthCheckRequest(), timeout=5).status
        == health_pb2.HealthCheckResponse.NOT_SERVING
    )
    channel.close()
    server.stop()
