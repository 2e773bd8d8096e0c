"""Per-query costs on the search path, each against the way it was done before, in the same run.

hydration     a page of 10 hits read with `assets.read_asset_summaries` (one plain SELECT on a
              DBAPI cursor) vs `assets.get_assets` in a `read_session` (ORM rows, the old read);
response      `wire.search_response` for a 10-hit page whose records recur (the item cache hands out
              the same records, so each one's Hit part is built once and copied) vs records seen for
              the first time (each Hit built field by field, its metadata Struct included);
token count   `count_tokens` through the private Rust-backend copy vs the full transformers call
              (`tokenizer(text, truncation=False)`), per shapes model (a new text every call);
tokenizing    one and 32 new texts tokenized (padded to the context) by the tokenizer's private
              Rust backend vs open_clip's call into transformers, which gives the same ids;
text prep     a batch of 32 new query texts counted (routing, then the long-text plan) and
              tokenized, with the tokenizer remembering each text's cleaning and count
              (`RECENT_TEXTS`) vs without: a text query is otherwise cleaned three times (ftfy)
              and counted twice;
gRPC floor    a grpc.aio server that answers every Search with a prebuilt 10-hit response: the
              latency and server CPU per request that no search code can go below, against
              protobuf serialise + parse of the same messages in process; and at concurrency 1 the
              same server busy for 4 ms before it answers, as a search keeps a request a few ms: the
              round trip beyond those 4 ms, against the one without them;
batched FAISS a micro-batch of queries on a 10k flat index (one thread) with the server's BLAS
              threshold (`searcher/faiss_runtime.py`) vs FAISS's default, which scans query by query;
              one query alone as well, which the threshold leaves on the scan;
idle gap      one FAISS search (10k × 128 flat, one thread) after 1 ms idle, as every request at
              concurrency 1 over a network meets it, vs the same search back to back in a tight
              loop, as the in-process baselines of bench/serve.py run it.

  .venv/bin/python bench/hotpath.py [--repeats N]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clipsearch.searcher.types import SearchResult

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


def per_call_us(fn: Callable[[], object], repeats: int) -> float:
    """Median of 5 timed runs of `repeats` calls, in µs per call."""
    fn()
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            fn()
        runs.append((time.perf_counter() - started) / repeats * 1e6)
    return statistics.median(runs)


def report(name: str, figure: float, baseline_name: str, baseline: float) -> None:
    print(
        f"  {name:<34} {figure:9.1f} µs   {baseline_name:<28} {baseline:9.1f} µs   ratio {baseline / figure:5.1f}×"
    )


def hydration(repeats: int) -> None:
    from clipsearch.storage import assets, catalog
    from clipsearch.storage.db import Database
    from clipsearch.storage.records import NewAsset

    print("== hydration of a 10-hit page (SQLite, 10k assets)")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/bench.db")
        db.create_all()
        with db.session() as session:
            collection = catalog.create_collection(session, "bench")
            new = [
                NewAsset(f"file:///img/{i}.jpg", "image", {"n": i, "tag": "odd" if i % 2 else "even"})
                for i in range(10_000)
            ]
            ids = assets.insert_assets(session, collection.id, new, status="indexed")
        pages = [ids[i * 97 % 9_000 : i * 97 % 9_000 + 10] for i in range(64)]
        turn = iter(range(10**9))

        def summaries() -> object:
            return assets.read_asset_summaries(db, pages[next(turn) % len(pages)])

        def orm_rows() -> object:
            with db.read_session() as session:
                return assets.get_assets(session, pages[next(turn) % len(pages)])

        report(
            "read_asset_summaries",
            per_call_us(summaries, repeats),
            "read_session + get_assets",
            per_call_us(orm_rows, repeats),
        )
        db.dispose()


def _page(first: int) -> SearchResult:
    """A search result of 10 image hits (ids first…first+9, 3 metadata keys each), new record objects."""
    from clipsearch.searcher.types import Hit, IndexVersionRef, ItemRecord, SearchResult, StageTiming

    records = [
        ItemRecord(
            i, "bench", f"file:///img/{i}.jpg", "image", f"item {i}", {"n": i, "tag": "odd", "cluster": 3}
        )
        for i in range(first, first + 10)
    ]
    return SearchResult(
        hits=tuple(
            Hit(r, rank, 1.0 - rank / 100, initial=1.0 - rank / 100) for rank, r in enumerate(records)
        ),
        next_page_token="token",
        space="default",
        route_reason="default space",
        language="en",
        long_text="",
        query_truncated=False,
        index_versions=(IndexVersionRef("bench", "default", "item", "1", 10_000),),
        timings=tuple(StageTiming(stage, 0.1) for stage in ("route", "encode", "candidates", "hydrate")),
    )


def response_build(repeats: int) -> None:
    from clipsearch.searcher import wire

    print("== a 10-hit SearchResponse from a search result (metadata of 3 keys per hit)")
    pages = [_page(page * 10) for page in range(64)]  # recurring: the same record objects
    turn = iter(range(10**9))
    # First sight: new record objects on every call (built outside the timed call).
    unseen = iter([_page(page * 10) for page in range(repeats * 6 + 1)])
    report(
        "records recurring (item cache)",
        per_call_us(lambda: wire.search_response(pages[next(turn) % len(pages)], "rid"), repeats),
        "records seen the first time",
        per_call_us(lambda: wire.search_response(next(unseen), "rid"), repeats),
    )


def token_count(repeats: int) -> None:
    print("== token count of a query text (routing; both sides clean the text the same way)")
    for model in ("shapes-base", "shapes-multilingual"):
        fast, full = _count_costs(model, "ein roter Kreis oben links und ein blauer Stern", repeats)
        report(f"count_tokens ({model})", fast, "transformers call", full)


def _shapes_encoder(model: str) -> Any:
    from clipsearch.config import SHAPES_MODELS_DIR, SpaceSettings
    from clipsearch.indexer.encoders import load_encoder

    space = SpaceSettings(model=f"local-dir:{SHAPES_MODELS_DIR / model}", precision="fp32", backend="torch")
    return load_encoder("bench", space)


def _distinct(text: str) -> Callable[[], str]:
    """A new text on every call (the tokenizer remembers recent texts: a repeat would be free)."""
    counter = itertools.count()
    return lambda: f"{text} {next(counter)}"


def _count_costs(model: str, text: str, repeats: int) -> tuple[float, float]:
    encoder = _shapes_encoder(model)
    hf = encoder._tokenizer._impl  # the full transformers call
    fresh = _distinct(text)

    def full_call() -> object:
        return len(hf.tokenizer(hf.clean_fn(fresh()), truncation=False, verbose=False).input_ids)

    return per_call_us(lambda: encoder.count_tokens(fresh()), repeats), per_call_us(full_call, repeats)


def text_preparation(repeats: int) -> None:
    import clipsearch.indexer.encoders.tokenize as tokenize

    print("== a batch of 32 new query texts: routing's count, the long-text plan's count, tokenizing")
    remembered = _shapes_encoder("shapes-base")._tokenizer
    saved, tokenize.RECENT_TEXTS = tokenize.RECENT_TEXTS, 0  # a tokenizer that remembers nothing
    try:
        forgetful = _shapes_encoder("shapes-base")._tokenizer
    finally:
        tokenize.RECENT_TEXTS = saved
    fresh = _distinct("a red circle at the top left and a blue star in the center")

    def batch(tokenizer: Any) -> Callable[[], object]:
        def run() -> object:
            texts = [fresh() for _ in range(32)]
            for text in texts:  # routing (engine.prepare), then the plan (encode_texts_detailed)
                tokenizer.count(text)
            for text in texts:
                tokenizer.count(text)
            return tokenizer(texts)  # the model's input ids; the model itself is left out

        return run

    report(
        "cleaning remembered per text",
        per_call_us(batch(remembered), max(10, repeats // 10)),
        "cleaned at every step",
        per_call_us(batch(forgetful), max(10, repeats // 10)),
    )


def tokenizing(repeats: int) -> None:
    print("== tokenizing new query texts (cleaned alike): the private Rust backend vs the transformers call")
    for model in ("shapes-base", "shapes-long"):
        tokenizer = _shapes_encoder(model)._tokenizer
        assert tokenizer._padder is not None, f"{model}: no fast path"
        for size in (1, 32):
            fast, called = _tokenizing_costs(tokenizer, size, max(10, repeats // size))
            report(f"{size} text(s), {model}", fast, "transformers call", called)


def _tokenizing_costs(tokenizer: Any, size: int, calls: int) -> tuple[float, float]:
    fresh = _distinct("a red circle at the top left and a blue star in the center")
    fast = per_call_us(lambda: tokenizer._padded(tokenizer._padder, [fresh() for _ in range(size)]), calls)
    called = per_call_us(lambda: tokenizer._call_impl([fresh() for _ in range(size)]), calls)
    return fast, called


ECHO_SERVER = """
import asyncio, sys, time
import grpc
from clipsearch.proto.v1 import search_pb2 as pb, search_pb2_grpc as pbg
RESPONSE = pb.SearchResponse.FromString(sys.stdin.buffer.read())
PAUSE = float(sys.argv[1])
class Echo(pbg.SearchServiceServicer):
    async def Search(self, request, context):
        if PAUSE:  # busy, as a search keeps the server (a spin: no timer's overshoot in the figure)
            until = time.perf_counter() + PAUSE
            while time.perf_counter() < until:
                pass
        return RESPONSE
async def main():
    server = grpc.aio.server()
    pbg.add_SearchServiceServicer_to_server(Echo(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()
asyncio.run(main())
"""


def grpc_floor(requests: int) -> None:
    import grpc
    from cpu_time import cpu_seconds

    from clipsearch.proto.v1 import search_pb2 as pb
    from clipsearch.proto.v1 import search_pb2_grpc as pbg
    from clipsearch.searcher import wire

    print("== gRPC floor: a server that answers Search with a prebuilt 10-hit response")
    response = wire.search_response(_page(0), "rid")  # what the server sends for a 10-hit page
    request = pb.SearchRequest(collection="bench", vector=pb.Vector(values=[0.1] * 128), top_k=10)
    data = response.SerializeToString()
    in_process = per_call_us(lambda: pb.SearchResponse.FromString(response.SerializeToString()), 2000)
    in_process += per_call_us(lambda: pb.SearchRequest.FromString(request.SerializeToString()), 2000)

    def start(pause_s: float) -> tuple[subprocess.Popen[bytes], int]:
        server = subprocess.Popen(
            [sys.executable, "-c", ECHO_SERVER, str(pause_s)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert server.stdin is not None and server.stdout is not None
        server.stdin.write(data)
        server.stdin.close()
        return server, int(server.stdout.readline())

    async def measure(port: int, concurrency: int, total: int) -> tuple[float, float]:
        latencies: list[float] = []
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = pbg.SearchServiceStub(channel)
            await stub.Search(request)

            async def worker() -> None:
                for _ in range(total // concurrency):
                    started = time.perf_counter()
                    await stub.Search(request, timeout=30)
                    latencies.append((time.perf_counter() - started) * 1e6)

            await asyncio.gather(*(worker() for _ in range(concurrency)))
        return statistics.median(latencies), len(latencies)

    pause = 0.004
    server, port = start(0.0)
    paused, paused_port = start(pause)
    try:
        for concurrency in (1, 32):
            before = cpu_seconds(server.pid)
            p50, done = asyncio.run(measure(port, concurrency, requests))
            server_cpu = (cpu_seconds(server.pid) - before) / done * 1e6
            print(
                f"  concurrency {concurrency:<3} p50 {p50:8.1f} µs   server CPU {server_cpu:7.1f} µs/request   "
                f"in-process serialise+parse {in_process:6.1f} µs   ratio {p50 / in_process:5.1f}×"
            )
            if concurrency == 1:
                # The same round trip when the answer comes 4 ms later: what a search's few ms do to
                # the transport's own cost on this machine (its code and data cool meanwhile).
                held, _ = asyncio.run(measure(paused_port, 1, max(100, requests // 4)))
                beyond = held - pause * 1e6
                print(
                    f"  concurrency 1, answered after {pause * 1000:.0f} ms busy: the round trip beyond them "
                    f"{beyond:8.1f} µs   without them {p50:8.1f} µs   ratio {beyond / p50:5.1f}× as long"
                )
    finally:
        for process in (server, paused):
            process.kill()
            process.wait()


def batched_search(repeats: int) -> None:
    import faiss
    import numpy as np

    from clipsearch.searcher.faiss_runtime import BATCH_BLAS_THRESHOLD

    print("== a batch of queries on a 10k flat index (inner product, 1 thread, top 11)")
    faiss.omp_set_num_threads(1)
    default = faiss.cvar.distance_compute_blas_threshold
    rng = np.random.default_rng(0)
    try:
        for dim in (128, 512):
            index = faiss.IndexFlatIP(dim)
            index.add(rng.standard_normal((10_000, dim)).astype(np.float32))
            for batch in (1, 16, 31):
                queries = rng.standard_normal((batch, dim)).astype(np.float32)
                timed = {}
                for threshold in (BATCH_BLAS_THRESHOLD, default):
                    faiss.cvar.distance_compute_blas_threshold = threshold
                    search = partial(index.search, queries, 11)
                    timed[threshold] = per_call_us(search, max(4, repeats // 20))
                report(
                    f"d={dim}, {batch} quer{'y' if batch == 1 else 'ies'}, threshold {BATCH_BLAS_THRESHOLD}",
                    timed[BATCH_BLAS_THRESHOLD],
                    f"FAISS default {default}",
                    timed[default],
                )
    finally:
        faiss.cvar.distance_compute_blas_threshold = default


def idle_gap(repeats: int) -> None:
    import faiss
    import numpy as np

    print("== one FAISS search: after 1 ms idle vs back to back (10k × 128 flat, 1 thread)")
    faiss.omp_set_num_threads(1)
    rng = np.random.default_rng(0)
    index = faiss.IndexFlatIP(128)
    index.add(rng.standard_normal((10_000, 128)).astype(np.float32))
    queries = rng.standard_normal((repeats, 128)).astype(np.float32)

    def p50_us(gap_s: float) -> float:
        times = []
        for row in queries:
            if gap_s:
                time.sleep(gap_s)
            started = time.perf_counter()
            index.search(row.reshape(1, -1), 10)
            times.append((time.perf_counter() - started) * 1e6)
        return statistics.median(times)

    p50_us(0)  # warm up
    tight, idle = p50_us(0), p50_us(0.001)
    print(
        f"  p50 after 1 ms idle {idle:9.1f} µs   back to back {tight:9.1f} µs   ratio {idle / tight:5.1f}× slower"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=400, help="calls per timed run")
    parser.add_argument("--requests", type=int, default=2000, help="gRPC requests per concurrency")
    args = parser.parse_args()
    hydration(args.repeats)
    response_build(args.repeats)
    token_count(args.repeats)
    text_preparation(args.repeats)
    tokenizing(args.repeats)
    grpc_floor(args.requests)
    batched_search(args.repeats)
    idle_gap(args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
