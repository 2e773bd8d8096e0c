"""A real SearchServer on port 0 for tests that use blocking clients (searcher, lifecycle, reliability)."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from clipsearch.config import Settings
from clipsearch.searcher.app import build_engine
from clipsearch.searcher.server import SearchServer


class ServerThread:
    """A SearchServer on its own event loop in a background thread."""

    def __init__(self, settings: Settings, start_timeout: float = 120) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = SearchServer(settings, build_engine(settings))
        self.port = self._run(self.server.start(), start_timeout)

    def _run(self, coro: Any, timeout: float) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._run(self.server.stop(0.5), 30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()
