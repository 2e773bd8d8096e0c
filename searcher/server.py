"""The gRPC search server (grpc.aio): health, reflection, admission control, dynamic batching of
searches, hot swap of index versions, Prometheus metrics, graceful shutdown.

Every RPC goes through `_serve`, the one place that assigns a request id, applies admission control and
the caller's deadline, records metrics and maps exceptions to status codes. Blocking work never runs on
the event loop: searches go to the batch threads (`searcher/batching.py`), the rest to a thread pool.
Auth interceptors and TLS come from `clipsearch.searcher.auth` / `.tls` and are configured by
`AuthSettings`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
import grpc.aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from clipsearch.config import Settings
from clipsearch.proto.v1 import search_pb2 as pb
from clipsearch.proto.v1 import search_pb2_grpc as pb_grpc
from clipsearch.searcher import wire
from clipsearch.searcher.admission import AdmissionControl
from clipsearch.searcher.batching import MicroBatcher
from clipsearch.searcher.engine import DecodedImage, EncodedBatch, SearchEngine
from clipsearch.searcher.metrics import ServerMetrics
from clipsearch.searcher.status import status_for
from clipsearch.searcher.types import SearchQuery, SearchResult

if TYPE_CHECKING:
    from clipsearch.searcher.admin import AdminServicer

log = logging.getLogger(__name__)

T = TypeVar("T")
SERVICE_NAME = pb.DESCRIPTOR.services_by_name["SearchService"].full_name
REQUEST_ID_HEADER = "x-request-id"


@dataclass(frozen=True, slots=True)
class _BatchEntry:
    query: SearchQuery
    image: DecodedImage | None
    request_id: str


class SearchServicer(pb_grpc.SearchServiceServicer):
    def __init__(self, engine: SearchEngine, settings: Settings, metrics: ServerMetrics) -> None:
        self._engine = engine
        self._settings = settings
        self._metrics = metrics
        self._executor = ThreadPoolExecutor(
            max_workers=settings.server.workers, thread_name_prefix="clipsearch"
        )
        self._admission: AdmissionControl | None = None
        # Every text, image, item and vector query joins one dynamic batch, in two pipelined steps
        # (`_encode_batch` | `_finish_batch`).
        self._search_batcher: MicroBatcher[_BatchEntry, pb.SearchResponse] = MicroBatcher(
            self._encode_batch,
            settings.server.batch_window_ms,
            settings.server.max_batch,
            finish=self._finish_batch,
            name="clipsearch-batch",
            elsewhere=self._in_flight,
            catch_up=settings.server.batch_catch_up,
        )

    def _in_flight(self) -> int:
        """Requests admitted and not yet answered (read from the batch thread: a plain int)."""
        return 0 if self._admission is None else self._admission.in_flight

    def close(self) -> None:
        """Serve the searches already queued, then stop the batch threads and the thread pool."""
        self._search_batcher.close()
        self._executor.shutdown(wait=True, cancel_futures=True)

    @property
    def executor(self) -> ThreadPoolExecutor:
        return self._executor

    def _admit(self) -> AdmissionControl:
        # Created lazily so that it binds to the server's running loop.
        if self._admission is None:
            server = self._settings.server
            admission = AdmissionControl(server.max_concurrent_requests, server.max_queued_requests)
            # Read at scrape time: exact, and nothing to set on every request.
            self._metrics.in_flight.set_function(lambda: admission.in_flight)
            self._metrics.queued.set_function(lambda: admission.waiting)
            self._admission = admission
        return self._admission

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, partial(fn, *args))

    async def _serve(
        self, method: str, context: grpc.aio.ServicerContext, work: Callable[[str], Awaitable[T]]
    ) -> T:
        request_id = _request_id(context)
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        admission = self._admit()
        try:
            async with admission.admit():
                remaining = context.time_remaining()
                # No deadline → time_remaining() is None (or huge); timeout(None) waits forever.
                timeout = remaining if remaining is not None and remaining < 1e6 else None
                if timeout is not None and timeout <= 0:
                    raise TimeoutError
                # asyncio.timeout, not wait_for: the work runs in this task (no task per request).
                async with asyncio.timeout(timeout):
                    result = await work(request_id)
        except Exception as exc:
            code, message = status_for(exc, request_id)
            if code == grpc.StatusCode.INTERNAL:
                log.exception("%s failed", method, extra={"request_id": request_id})
            else:
                log.info("%s → %s: %s", method, code.name, message, extra={"request_id": request_id})
            # abort() sends the status at once: count the request first, or a scrape right after
            # the client sees the error could miss it.
            self._record(method, code, started)
            context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
            await context.abort(code, message)
            raise  # unreachable: abort raises
        self._record(method, code, started)
        context.set_trailing_metadata(((REQUEST_ID_HEADER, request_id),))
        log.debug(
            "%s ok in %.1f ms",
            method,
            (time.perf_counter() - started) * 1000,
            extra={"request_id": request_id},
        )
        return result

    def _record(self, method: str, code: grpc.StatusCode, started: float) -> None:
        self._metrics.record_request(method, code.name, time.perf_counter() - started)

    # ---- RPCs ---------------------------------------------------------------------------------

    async def Search(self, request: pb.SearchRequest, context: grpc.aio.ServicerContext) -> pb.SearchResponse:
        async def work(request_id: str) -> pb.SearchResponse:
            query = wire.search_query(request)
            if query.kind == "video":
                # Decoding a query video takes long: it runs on its own instead of holding up a batch.
                return await self._run(self._search_alone, query, request_id)
            image = None
            if query.kind == "image":  # decoded before batching, so that decodes run in parallel
                image = await self._run(self._engine.decode_query_image, query.image or b"")
            return await self._search_batcher.submit(_BatchEntry(query, image, request_id))

        return await self._serve("Search", context, work)

    def _encode_batch(self, entries: Sequence[_BatchEntry]) -> tuple[Sequence[_BatchEntry], EncodedBatch]:
        """Batch thread, first step: validate, route and encode every query of the batch."""
        images = [entry.image for entry in entries]
        encoded = self._engine.encode_batch([entry.query for entry in entries], images, self._observe_encode)
        return entries, encoded

    def _finish_batch(
        self, step: tuple[Sequence[_BatchEntry], EncodedBatch]
    ) -> list[pb.SearchResponse | BaseException]:
        """Batch thread, second step: search, hydrate and build every response."""
        entries, encoded = step
        responses: list[pb.SearchResponse | BaseException] = []
        for entry, outcome in zip(entries, self._engine.finish_batch(encoded), strict=True):
            if isinstance(outcome, BaseException):
                responses.append(outcome)
            else:
                responses.append(self._respond(outcome, entry.request_id))
        return responses

    def _search_alone(self, query: SearchQuery, request_id: str) -> pb.SearchResponse:
        return self._respond(self._engine.search(query), request_id)

    def _respond(self, result: SearchResult, request_id: str) -> pb.SearchResponse:
        self._metrics.observe_stages(result.timings)
        return wire.search_response(result, request_id)

    def _observe_encode(self, kind: str, size: int) -> None:
        self._metrics.observe_batch(kind, size)

    async def Encode(self, request: pb.EncodeRequest, context: grpc.aio.ServicerContext) -> pb.EncodeResponse:
        async def work(_request_id: str) -> pb.EncodeResponse:
            which = request.WhichOneof("input")
            if which is None:
                from clipsearch.errors import InvalidRequest

                raise InvalidRequest("set one of text or image")
            text = request.text if which == "text" else None
            image = request.image if which == "image" else None
            encoding = await self._run(
                self._engine.encode, request.space, request.collection, text, image, request.language
            )
            return wire.encode_response(encoding)

        return await self._serve("Encode", context, work)

    async def GetItem(
        self, request: pb.GetItemRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetItemResponse:
        async def work(_request_id: str) -> pb.GetItemResponse:
            item = await self._run(self._engine.get_item, request.collection, request.id)
            return pb.GetItemResponse(item=wire.item_message(item))

        return await self._serve("GetItem", context, work)

    async def ListCollections(
        self, request: pb.ListCollectionsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ListCollectionsResponse:
        async def work(_request_id: str) -> pb.ListCollectionsResponse:
            collections = await self._run(self._engine.list_collections)
            return wire.collections_response(collections)

        return await self._serve("ListCollections", context, work)


def _request_id(context: grpc.aio.ServicerContext) -> str:
    """The caller's `x-request-id` when it sent a sane one, else a fresh one."""
    for key, value in context.invocation_metadata() or ():
        if (
            key == REQUEST_ID_HEADER
            and isinstance(value, str)
            and 0 < len(value) <= 64
            and value.isprintable()
        ):
            return value
    return os.urandom(8).hex()  # 64 random bits, as uuid4().hex[:16] gave, without the UUID object


class SearchServer:
    """Owns the grpc.aio server, the engine's refresh loop and the metrics endpoint.

    `await start()` → serving (health SERVING); `await stop()` → health NOT_SERVING, stop accepting,
    let in-flight calls finish within the grace period, shut the thread pool down.
    """

    def __init__(
        self,
        settings: Settings,
        engine: SearchEngine,
        *,
        interceptors: Sequence[grpc.aio.ServerInterceptor] | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.metrics = ServerMetrics()
        self.metrics.watch_item_cache(engine.catalog.item_cache_counts)
        self.servicer = SearchServicer(engine, settings, self.metrics)
        self.health = health.aio.HealthServicer()
        self._interceptors = (
            list(interceptors) if interceptors is not None else _default_interceptors(settings)
        )
        self._server: grpc.aio.Server | None = None
        self._poller: asyncio.Task[None] | None = None
        self.admin: AdminServicer | None = None
        self.port = 0
        self.metrics_port = 0

    @property
    def address(self) -> str:
        return f"{self.settings.server.host}:{self.port}"

    async def start(self) -> int:
        settings = self.settings
        limit = min(settings.server.max_message_mb * 1024 * 1024, settings.limits.max_request_bytes)
        options = [
            ("grpc.max_receive_message_length", limit),
            ("grpc.max_send_message_length", settings.server.max_message_mb * 1024 * 1024),
            ("grpc.so_reuseport", 0),
        ]
        server = grpc.aio.server(interceptors=self._interceptors, options=options)
        pb_grpc.add_SearchServiceServicer_to_server(self.servicer, server)
        # AdminService (lifecycle): status, rebuilds, version moves; admin credential by method prefix.
        from clipsearch.searcher.admin import ADMIN_SERVICE_NAME, add_admin_service

        self.admin = add_admin_service(server, settings, self.servicer.executor)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, ADMIN_SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        from clipsearch.searcher.tls import add_listening_port

        self.port = add_listening_port(
            server, f"{settings.server.host}:{settings.server.port}", settings.auth
        )
        # Load models and the active indices before answering SERVING.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self.servicer.executor, self.engine.warm_up)
        await loop.run_in_executor(self.servicer.executor, self.engine.refresh)
        self.metrics.set_indexes(self.engine.indexes.snapshot.refs())
        await server.start()
        self._server = server
        if settings.server.metrics_port:
            self.metrics_port = self.metrics.start_http(settings.server.host, settings.server.metrics_port)
        await self.health.set("", health_pb2.HealthCheckResponse.SERVING)
        await self.health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        self._poller = asyncio.create_task(self._poll_indexes())
        log.info("clipsearch serving on %s", self.address)
        return self.port

    async def _poll_indexes(self) -> None:
        """Hot swap: load newly activated versions off the loop, then swap the snapshot reference."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.settings.server.index_poll_seconds)
            try:
                swapped = await loop.run_in_executor(self.servicer.executor, self.engine.refresh)
            except Exception:
                log.exception("index refresh failed; still serving the current versions")
                continue
            if swapped:
                self.metrics.swaps.inc(len(swapped))
                self.metrics.set_indexes(self.engine.indexes.snapshot.refs())
                log.info("swapped in %s", ", ".join(swapped))

    async def stop(self, grace: float | None = None) -> None:
        grace = self.settings.server.grace_seconds if grace is None else grace
        await self.health.enter_graceful_shutdown()
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._server is not None:
            await self._server.stop(grace)
            self._server = None
        self.metrics.stop_http()
        if self.admin is not None:
            self.admin.shutdown()
        self.servicer.close()
        log.info("clipsearch server stopped")

    async def wait(self) -> None:
        if self._server is not None:
            await self._server.wait_for_termination()


def _default_interceptors(settings: Settings) -> list[grpc.aio.ServerInterceptor]:
    from clipsearch.searcher.auth import auth_interceptors

    return auth_interceptors(settings.auth)
