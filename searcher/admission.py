"""Admission control: a bounded number of requests in flight plus a bounded wait queue.

Beyond both bounds a request is refused at once (ResourceExhausted → RESOURCE_EXHAUSTED), so an
overloaded server answers quickly instead of growing an unbounded backlog.
"""

from __future__ import annotations

import asyncio

from clipsearch.errors import ResourceExhausted


class AdmissionControl:
    """Must be used from one event loop (the server's); its counters may be read from any thread."""

    def __init__(self, max_concurrent: int, max_queued: int) -> None:
        if max_concurrent < 1 or max_queued < 0:
            raise ValueError("max_concurrent must be >= 1 and max_queued >= 0")
        self._max_concurrent = max_concurrent
        self._max_queued = max_queued
        self._slots = asyncio.Semaphore(max_concurrent)
        self._waiting = 0
        self._in_flight = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return self._waiting

    def admit(self) -> AdmissionControl:
        """`async with control.admit():` holds one slot for the body (or raises ResourceExhausted)."""
        return self

    # A plain class context (not @asynccontextmanager): no generator per request on the loop.
    async def __aenter__(self) -> None:
        if self._slots.locked() and self._waiting >= self._max_queued:
            raise ResourceExhausted(
                f"server busy: {self._in_flight} requests in flight and {self._waiting} queued "
                f"(limits {self._max_concurrent}/{self._max_queued}); retry with backoff"
            )
        self._waiting += 1
        try:
            await self._slots.acquire()
        finally:
            self._waiting -= 1
        self._in_flight += 1

    async def __aexit__(self, *_exc: object) -> None:
        self._in_flight -= 1
        self._slots.release()
