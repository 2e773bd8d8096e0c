"""The search batcher's catch-up (`searcher/batching.py`) against no catch-up, in the same run.

The batch function is a model stand-in that sleeps (so no GIL or core is contended and the figure
is the batcher's own): a fixed cost per call plus a cost per item, as a text tower's batch costs.

closed loop   32 callers, each sending its next request when its answer comes, after a client and
              network round trip drawn from 1-30 ms: throughput and the batch sizes seen;
open loop     Poisson arrivals at about half the batcher's capacity: p50 and p99 latency, to show
              what the wait costs when callers do not come back.

  .venv/bin/python bench/batching.py [--requests N] [--fixed-ms 80] [--per-item-ms 10]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence

from clipsearch.searcher.batching import MicroBatcher


class SleepingModel:
    def __init__(self, fixed_s: float, per_item_s: float) -> None:
        self.fixed_s = fixed_s
        self.per_item_s = per_item_s
        self.sizes: Counter[int] = Counter()

    def __call__(self, items: Sequence[int]) -> list[int]:
        self.sizes[len(items)] += 1
        time.sleep(self.fixed_s + self.per_item_s * len(items))
        return list(items)


class Server:
    """The batcher as the server runs it: `elsewhere` is the number of requests in flight."""

    def __init__(self, model: SleepingModel, catch_up: float) -> None:
        self.in_flight = 0
        self.batcher: MicroBatcher[int, int] = MicroBatcher(
            model, 2.0, 64, catch_up=catch_up, elsewhere=lambda: self.in_flight
        )

    async def submit(self, item: int) -> int:
        self.in_flight += 1
        try:
            return await self.batcher.submit(item)
        finally:
            self.in_flight -= 1


async def _closed_loop(server: Server, callers: int, total: int, seed: int) -> float:
    rng = random.Random(seed)
    sent = iter(range(total))

    async def caller() -> None:
        for item in sent:
            await server.submit(item)
            await asyncio.sleep(rng.uniform(0.001, 0.030))  # the answer's way back and the next request's

    started = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return total / (time.perf_counter() - started)


async def _open_loop(server: Server, rate: float, total: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    latencies: list[float] = []

    async def one(item: int) -> None:
        started = time.perf_counter()
        await server.submit(item)
        latencies.append((time.perf_counter() - started) * 1000)

    tasks = []
    due = time.perf_counter()
    for item in range(total):
        due += rng.expovariate(rate)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        tasks.append(asyncio.ensure_future(one(item)))
    await asyncio.gather(*tasks)
    return latencies


def _sizes(sizes: Counter[int]) -> str:
    return " · ".join(f"{size}: {count}" for size, count in sorted(sizes.items(), key=lambda kv: -kv[1])[:5])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=640, help="requests per closed-loop measurement")
    parser.add_argument("--fixed-ms", type=float, default=80.0, help="the model's cost per call")
    parser.add_argument("--per-item-ms", type=float, default=10.0, help="the model's cost per item")
    args = parser.parse_args()
    fixed, per_item, callers = args.fixed_ms / 1000, args.per_item_ms / 1000, 32
    full_batch_qps = callers / (fixed + per_item * callers)
    print(
        f"model stand-in: {args.fixed_ms:.0f} ms per call + {args.per_item_ms:.0f} ms per item "
        f"(a batch of 32 alone: {full_batch_qps:.1f} items/s)"
    )

    print(f"== closed loop, {callers} callers, round trip 1-30 ms")
    qps: dict[float, float] = {}
    for catch_up in (0.5, 0.0):
        model = SleepingModel(fixed, per_item)
        server = Server(model, catch_up)
        try:
            qps[catch_up] = asyncio.run(_closed_loop(server, callers, args.requests, seed=1))
        finally:
            server.batcher.close()
        print(
            f"  catch_up {catch_up:<4} {qps[catch_up]:7.1f} items/s   batches (size: count) {_sizes(model.sizes)}"
        )
    print(f"  catch-up {qps[0.5]:.1f} vs none {qps[0.0]:.1f} items/s: ratio {qps[0.5] / qps[0.0]:.2f}×")

    rate = full_batch_qps / 2
    print(f"== open loop, Poisson arrivals at {rate:.1f}/s (half a batch of 32's rate)")
    for catch_up in (0.5, 0.0):
        model = SleepingModel(fixed, per_item)
        server = Server(model, catch_up)
        try:
            latencies = asyncio.run(_open_loop(server, rate, args.requests // 2, seed=2))
        finally:
            server.batcher.close()
        p50 = statistics.median(latencies)
        p99 = statistics.quantiles(latencies, n=100)[98]
        print(
            f"  catch_up {catch_up:<4} p50 {p50:7.1f} ms   p99 {p99:7.1f} ms   batches {_sizes(model.sizes)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
