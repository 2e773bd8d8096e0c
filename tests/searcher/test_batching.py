"""MicroBatcher: results go back to the right caller; under load, requests gather behind the running call."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from clipsearch.searcher.batching import MicroBatcher


class SlowModel:
    def __init__(self, seconds: float, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.calls: list[list[int]] = []
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[int]) -> list[int]:
        with self._lock:
            self.calls.append(list(items))
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        if self.fail:
            raise ValueError("model broke")
        return [x * 10 for x in items]


def test_requests_arriving_during_a_call_go_out_together_afterwards() -> None:
    model = SlowModel(0.1)

    async def scenario() -> list[int]:
        with ThreadPoolExecutor(4) as pool:
            batcher: MicroBatcher[int, int] = MicroBatcher(model, pool, window_ms=1.0)
            first = asyncio.ensure_future(batcher.submit(0))
            await asyncio.sleep(0.03)  # the first call is running now
            rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 21)]
            return list(await asyncio.gather(first, *rest))

    results = asyncio.run(scenario())
    assert results == [i * 10 for i in range(21)]
    assert model.calls == [[0], list(range(1, 21))]
    assert model.most_running == 1


def test_full_batches_split_and_errors_reach_every_caller() -> None:
    model = SlowModel(0.02)

    async def many() -> list[int]:
        with ThreadPoolExecutor(2) as pool:
            batcher: MicroBatcher[int, int] = MicroBatcher(model, pool, window_ms=5.0, max_batch=8)
            return list(await asyncio.gather(*(batcher.submit(i) for i in range(20))))

    assert asyncio.run(many()) == [i * 10 for i in range(20)]
    assert all(len(call) <= 8 for call in model.calls) and sum(map(len, model.calls)) == 20

    broken = SlowModel(0.01, fail=True)

    async def failing() -> list[BaseException | int]:
        with ThreadPoolExecutor(2) as pool:
            batcher: MicroBatcher[int, int] = MicroBatcher(broken, pool, window_ms=2.0)
            return list(await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True))

    outcomes = asyncio.run(failing())
    assert all(isinstance(o, ValueError) for o in outcomes)
    with pytest.raises(ValueError, match="max_in_flight"):
        MicroBatcher(broken, None, window_ms=1.0, max_in_flight=0)
