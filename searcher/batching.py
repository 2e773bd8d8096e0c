"""Micro-batching: concurrent single queries are encoded together (a batch of many, one model call).

Requests arriving within `window_ms` of the first one of a batch join it; a full batch is flushed at
once. At most `max_in_flight` model calls run at a time: while they run, new requests queue and go
out together as soon as one finishes (dynamic batching), so under load the batches grow to what the
model can take instead of splitting the cores between many small calls. The model call runs in the
given executor so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class MicroBatcher(Generic[T, R]):
    """`await submit(x)` → `fn([..., x, ...])[i]`; `fn` must return one result per input, in order."""

    def __init__(
        self,
        fn: Callable[[Sequence[T]], Sequence[R]],
        executor: Executor | None,
        window_ms: float,
        max_batch: int = 64,
        max_in_flight: int = 1,
    ) -> None:
        if max_batch < 1 or max_in_flight < 1:
            raise ValueError("max_batch and max_in_flight must be >= 1")
        self._fn = fn
        self._executor = executor
        self._window = max(window_ms, 0.0) / 1000.0
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._max_in_flight = max_in_flight
        self._in_flight = 0
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if len(self._pending) >= self._max_batch or self._window == 0:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._window, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._in_flight >= self._max_in_flight:
            return  # the running call's completion flushes what has gathered meanwhile
        batch, self._pending = self._pending[: self._max_batch], self._pending[self._max_batch :]
        if batch:
            self.batches += 1
            self.items += len(batch)
            self._in_flight += 1
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        loop = asyncio.get_running_loop()
        inputs = [item for item, _ in batch]
        try:
            results = await loop.run_in_executor(self._executor, self._fn, inputs)
            if len(results) != len(inputs):
                raise RuntimeError(f"batch function returned {len(results)} results for {len(inputs)} inputs")
        except BaseException as exc:  # every waiter learns about the failure, none hangs
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self._in_flight -= 1
            if self._pending:
                self._flush()
        for (_, future), result in zip(batch, results, strict=True):
            if not future.done():  # a cancelled caller (deadline) simply drops its result
                future.set_result(result)
