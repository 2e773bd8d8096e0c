"""Dynamic batching: concurrent single requests are served together (a batch of many, one call).

A dedicated worker thread owns the batch function. It takes the first waiting request, gathers more
for up to `window_ms` (none when a full batch is already waiting), calls the function once, hands
the results back to the event loop in one wake-up, and goes straight on to the requests that queued
meanwhile. Under load the batches therefore grow to what the function can take, and the next batch
starts the moment the previous one ends: no round trip through a busy event loop in between, which
is what kept the model idle when every batch was scheduled from the loop.

`elsewhere()`, when given, tells how many requests are in the server in all (admitted, not yet
answered); when every one of them is already in the batch there is nobody to wait for.

Catch-up: under a closed loop of callers (each sends its next request when its answer comes), a
batch much smaller than the one before it is the vanguard or the stragglers of a cycle: run alone,
it costs nearly a whole batch (a model call's fixed cost dominates a small batch), while the
larger group's callers are on their way back. Without this a load of 32 settles into batches of 31
and 1. So a batch of at most a quarter of the last one waits for company until `catch_up` × the
last batch's run time has passed since that batch ended, or until it holds as many as the last
batch (plus those that had queued behind it); the fraction bounds what the wait costs when nobody
comes.

`finish`, when given, splits the work in two pipelined steps: `fn` runs on the first thread and
hands its output to `finish` on a second one, so batch N's second step overlaps batch N+1's first
(the server: N's search and hydration, in Python, while N+1 is in the model, which mostly runs
without the GIL). The first thread runs at most one batch ahead.

A batch function may answer one input with an exception instance: that caller alone gets the error
(one bad query in a batch fails only itself); an exception raised by the function reaches every
caller of that batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

from clipsearch.errors import Unavailable

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: (input, the caller's future, the caller's loop, when it was queued: time.monotonic())
_Waiting = tuple[T, "asyncio.Future[R]", asyncio.AbstractEventLoop, float]


class BatcherClosed(Unavailable):
    """The batcher was closed: the server is shutting down."""


class MicroBatcher(Generic[T, R]):
    """`await submit(x)` → `fn([..., x, ...])[i]`; `fn` must return one result per input, in order."""

    def __init__(
        self,
        fn: Callable[[Sequence[T]], Any],
        window_ms: float,
        max_batch: int = 64,
        *,
        finish: Callable[[Any], Sequence[R | BaseException]] | None = None,
        name: str = "batcher",
        elsewhere: Callable[[], int] | None = None,
        catch_up: float = 0.5,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if catch_up < 0:
            raise ValueError("catch_up must be >= 0")
        self._fn = fn
        self._finish = finish
        # Bounded: the first step waits rather than run ahead of a slow second step.
        self._handoff: queue.Queue[tuple[list[_Waiting[T, R]], Any] | None] = queue.Queue(maxsize=1)
        self._threads: list[threading.Thread] = []
        self._window = max(window_ms, 0.0) / 1000.0
        self._max_batch = max_batch
        self._elsewhere = elsewhere
        self._catch_up = catch_up
        # The last batch's size, run time (s) and end (monotonic): what a much smaller batch waits for.
        self._last_size = 0
        self._last_seconds = 0.0
        self._last_end = 0.0
        self._queue: queue.SimpleQueue[_Waiting[T, R] | None] = queue.SimpleQueue()
        self._name = name
        self._lock = threading.Lock()
        self._closed = False
        self.batches = 0
        self.items = 0

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if self._closed:
            raise BatcherClosed(f"{self._name} is closed")
        self._start()
        self._queue.put((item, future, loop, time.monotonic()))
        return await future

    def close(self, timeout: float | None = 10.0) -> None:
        """Stop taking requests; those already queued are still served (a drain), then the thread ends."""
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        if threads:
            self._queue.put(None)
            for thread in threads:
                thread.join(timeout)
        self._fail_queued(BatcherClosed(f"{self._name} is closed"))

    def _start(self) -> None:
        if self._threads:
            return
        with self._lock:
            if self._threads or self._closed:
                return
            workers = [(self._work, self._name)]
            if self._finish is not None:
                workers.append((self._work_finish, f"{self._name}-finish"))
            for target, name in workers:
                thread = threading.Thread(target=target, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    # ---- the worker thread --------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            batch = self._gather()
            if batch is None:
                if self._finish is not None:
                    self._handoff.put(None)
                return
            self._run(batch)

    def _work_finish(self) -> None:
        assert self._finish is not None
        while True:
            handed = self._handoff.get()
            if handed is None:
                return
            batch, intermediate = handed
            try:
                outcomes = self._finish(intermediate)
            except BaseException as exc:
                outcomes = [exc] * len(batch)
            self._answer(batch, outcomes)

    def _gather(self) -> list[_Waiting[T, R]] | None:
        """The next batch: block for one request, then take what waits or arrives within the window
        (and, for a batch much smaller than the last one, within the catch-up time: see the module doc)."""
        first = self._queue.get()
        if first is None:
            return None
        batch = [first]
        deadline = time.monotonic() + self._window
        closing = self._take(batch, deadline, self._max_batch, self._company_expected)
        until = self._last_end + self._catch_up * self._last_seconds
        if not closing and self._shrinking(batch, until):
            # Room for the last batch's callers and for those that queued behind it.
            behind = sum(1 for w in batch if w[3] < self._last_end)
            limit = min(self._last_size + behind, self._max_batch)
            self._take(batch, until, limit, lambda _gathered: True)
        # A caller whose deadline passed while it waited is not worth a model call.
        return [w for w in batch if not w[1].cancelled()]

    def _take(
        self,
        batch: list[_Waiting[T, R]],
        deadline: float,
        limit: int,
        worth_waiting: Callable[[int], bool],
    ) -> bool:
        """Add to `batch` what waits or arrives before `deadline`, up to `limit`; True when closing."""
        while len(batch) < limit:
            try:
                waiting = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not worth_waiting(len(batch)):
                    return False
                try:
                    waiting = self._queue.get(timeout=remaining)
                except queue.Empty:
                    return False
            if waiting is None:  # closing: serve what was gathered, then stop at the next take
                self._queue.put(None)
                return True
            batch.append(waiting)
        return False

    def _shrinking(self, batch: list[_Waiting[T, R]], until: float) -> bool:
        """Whether this batch is at most a quarter of the last one and began before `until` (the end
        of the catch-up time)."""
        return self._catch_up > 0 and len(batch) * 4 <= self._last_size and batch[0][3] < until

    def _company_expected(self, gathered: int) -> bool:
        """Whether waiting out the window can pay: some request is still on its way (in the server but
        not yet here). A lone request at concurrency 1 then runs at once instead of waiting."""
        if self._elsewhere is None:
            return True
        return self._elsewhere() > gathered

    def _run(self, batch: list[_Waiting[T, R]]) -> None:
        if not batch:
            return
        self.batches += 1
        self.items += len(batch)
        started = time.monotonic()
        try:
            result = self._fn([item for item, *_ in batch])
        except BaseException as exc:  # every waiter learns about the failure, none hangs
            self._answer(batch, [exc] * len(batch))
            return
        finally:
            self._last_end = time.monotonic()
            self._last_size, self._last_seconds = len(batch), self._last_end - started
        if self._finish is not None:
            self._handoff.put((batch, result))
            return
        self._answer(batch, result)

    def _answer(self, batch: list[_Waiting[T, R]], outcomes: Sequence[R | BaseException]) -> None:
        if len(outcomes) != len(batch):
            error = RuntimeError(f"batch function returned {len(outcomes)} results for {len(batch)} inputs")
            outcomes = [error] * len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[R], R | BaseException]]] = {}
        for (_, future, loop, _queued), outcome in zip(batch, outcomes, strict=True):
            by_loop.setdefault(loop, []).append((future, outcome))
        for loop, answers in by_loop.items():
            try:
                loop.call_soon_threadsafe(_deliver, answers)
            except RuntimeError:  # that loop is closed: nobody is waiting any more
                log.debug("%s: a caller's event loop closed before its answer", self._name)

    def _fail_queued(self, error: BaseException) -> None:
        while True:
            try:
                waiting = self._queue.get_nowait()
            except queue.Empty:
                return
            if waiting is not None:
                _, future, loop, _queued = waiting
                try:
                    loop.call_soon_threadsafe(_deliver, [(future, error)])
                except RuntimeError:
                    pass


def _deliver(answers: Sequence[tuple[asyncio.Future[Any], object]]) -> None:
    """On the caller's loop: complete the futures (a cancelled caller simply drops its answer)."""
    for future, outcome in answers:
        if future.done():
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
