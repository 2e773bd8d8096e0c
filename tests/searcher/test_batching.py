"""MicroBatcher: results go back to the right caller; under load, requests gather behind the running
call; per-input errors stay with their caller; closing fails what still waits instead of hanging."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence

import pytest

from clipsearch.errors import InvalidRequest, Unavailable
from clipsearch.searcher.batching import BatcherClosed, MicroBatcher


class SlowModel:
    def __init__(self, seconds: float, fail: bool = False) -> None:
        self.seconds = seconds
        self.fail = fail
        self.calls: list[list[int]] = []
        self.threads: set[str] = set()
        self.running = 0
        self.most_running = 0
        self._lock = threading.Lock()

    def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        with self._lock:
            self.calls.append(list(items))
            self.threads.add(threading.current_thread().name)
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
        if self.fail:
            raise ValueError("model broke")
        return [InvalidRequest(f"odd {x}") if x < 0 else x * 10 for x in items]


def test_requests_arriving_during_a_call_go_out_together_afterwards() -> None:
    model = SlowModel(0.1)
    batcher: MicroBatcher[int, int] = MicroBatcher(model, window_ms=1.0, name="test-batch")

    async def scenario() -> list[int]:
        first = asyncio.ensure_future(batcher.submit(0))
        await asyncio.sleep(0.03)  # the first call is running now
        rest = [asyncio.ensure_future(batcher.submit(i)) for i in range(1, 21)]
        return list(await asyncio.gather(first, *rest))

    try:
        results = asyncio.run(scenario())
    finally:
        batcher.close()
    assert results == [i * 10 for i in range(21)]
    assert model.calls == [[0], list(range(1, 21))]
    assert model.most_running == 1
    assert model.threads == {"test-batch"}  # the batcher's own thread, not the event loop's
    assert (batcher.batches, batcher.items) == (2, 21)


def test_full_batches_split_and_errors_reach_the_right_callers() -> None:
    model = SlowModel(0.02)
    batcher: MicroBatcher[int, int] = MicroBatcher(model, window_ms=5.0, max_batch=8)

    async def many() -> list[BaseException | int]:
        calls = [batcher.submit(-i if i % 7 == 3 else i) for i in range(20)]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    try:
        outcomes = asyncio.run(many())
    finally:
        batcher.close()
    for i, outcome in enumerate(outcomes):
        if i % 7 == 3:  # answered with an exception instance: that caller alone fails
            assert isinstance(outcome, InvalidRequest) and str(outcome) == f"odd {-i}"
        else:
            assert outcome == i * 10
    assert all(len(call) <= 8 for call in model.calls) and sum(map(len, model.calls)) == 20

    broken = SlowModel(0.01, fail=True)
    failing_batcher: MicroBatcher[int, int] = MicroBatcher(broken, window_ms=2.0)

    async def failing() -> list[BaseException | int]:
        return list(
            await asyncio.gather(*(failing_batcher.submit(i) for i in range(5)), return_exceptions=True)
        )

    try:
        outcomes = asyncio.run(failing())
    finally:
        failing_batcher.close()
    assert all(isinstance(o, ValueError) for o in outcomes)
    with pytest.raises(ValueError, match="max_batch"):
        MicroBatcher(broken, window_ms=1.0, max_batch=0)


def test_a_cancelled_caller_is_skipped_and_close_drains_then_refuses() -> None:
    model = SlowModel(0.15)
    batcher: MicroBatcher[int, int] = MicroBatcher(model, window_ms=1.0)

    async def scenario() -> tuple[int, BaseException | int]:
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.05)  # the first call is running
        doomed = asyncio.ensure_future(batcher.submit(2))
        kept = asyncio.ensure_future(batcher.submit(3))
        await asyncio.sleep(0.01)
        doomed.cancel()  # its deadline passed while it waited
        done = await first
        result = (await asyncio.gather(kept, return_exceptions=True))[0]
        return done, result

    try:
        done, kept = asyncio.run(scenario())
    finally:
        batcher.close()
    assert (done, kept) == (10, 30)
    assert model.calls == [[1], [3]]  # the cancelled request never reached the model

    closing = SlowModel(0.2)
    closed: MicroBatcher[int, int] = MicroBatcher(closing, window_ms=1.0)

    async def shutdown() -> list[BaseException | int]:
        running = asyncio.ensure_future(closed.submit(1))
        await asyncio.sleep(0.05)
        queued = asyncio.ensure_future(closed.submit(2))
        await asyncio.sleep(0.01)
        await asyncio.get_running_loop().run_in_executor(None, closed.close)
        late = asyncio.ensure_future(closed.submit(3))
        return list(await asyncio.gather(running, queued, late, return_exceptions=True))

    running, queued, late = asyncio.run(shutdown())
    assert (running, queued) == (10, 20)  # the batch in progress and the queued one are served
    assert isinstance(late, BatcherClosed) and isinstance(late, Unavailable)  # → UNAVAILABLE


def test_a_much_smaller_batch_waits_for_the_last_ones_callers_to_come_back() -> None:
    """A closed loop of callers: after a batch of 8, one caller is back first and the other 7 a little
    later. With catch-up the one waits for them (one model call of 8); without it, it runs alone and
    the 7 run after it (two calls, the first costing nearly as much as a full one)."""

    def cycle(catch_up: float) -> list[list[int]]:
        model = SlowModel(0.4)
        batcher: MicroBatcher[int, int] = MicroBatcher(model, window_ms=1.0, catch_up=catch_up)

        async def scenario() -> None:
            assert await asyncio.gather(*(batcher.submit(i) for i in range(8))) == [i * 10 for i in range(8)]
            first_back = asyncio.ensure_future(batcher.submit(100))
            await asyncio.sleep(0.03)  # well inside 0.5 × 0.4 s
            rest = [batcher.submit(101 + i) for i in range(7)]
            assert await asyncio.gather(first_back, *rest) == [(100 + i) * 10 for i in range(8)]

        try:
            asyncio.run(scenario())
        finally:
            batcher.close()
        return model.calls

    assert cycle(0.5) == [list(range(8)), list(range(100, 108))]
    assert cycle(0.0) == [list(range(8)), [100], list(range(101, 108))]
    with pytest.raises(ValueError, match="catch_up"):
        MicroBatcher(SlowModel(0.0), window_ms=1.0, catch_up=-1)


def test_catch_up_is_bounded_when_nobody_comes() -> None:
    """A lone request after a large batch waits at most catch_up × that batch's run time, then runs."""
    model = SlowModel(0.2)
    batcher: MicroBatcher[int, int] = MicroBatcher(model, window_ms=1.0, catch_up=2.0)

    async def scenario() -> float:
        await asyncio.gather(*(batcher.submit(i) for i in range(8)))
        started = time.monotonic()
        assert await batcher.submit(9) == 90
        return time.monotonic() - started

    try:
        waited = asyncio.run(scenario())
    finally:
        batcher.close()
    assert model.calls == [list(range(8)), [9]]
    # It waited for company (2 × 0.2 s from the large batch's end) and then ran (0.2 s): no longer.
    assert 0.5 <= waited < 0.6 + 1.0  # (slack for a slow CI machine)
