"""Prometheus metrics of one server (own registry: several servers in one process stay apart)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from clipsearch.searcher.types import IndexVersionRef, StageTiming

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "clipsearch_requests",
            "RPCs answered, by method and status code",
            ["method", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "clipsearch_request_seconds",
            "RPC latency, by method",
            ["method"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.stage_latency = Histogram(
            "clipsearch_stage_seconds",
            "Search pipeline stage latency",
            ["stage"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "clipsearch_encode_batch_size",
            "Queries per micro-batched encode",
            ["kind"],
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.in_flight = Gauge("clipsearch_in_flight", "Requests being served", registry=self.registry)
        self.queued = Gauge("clipsearch_queued", "Requests waiting for a slot", registry=self.registry)
        self.index_size = Gauge(
            "clipsearch_index_vectors",
            "Vectors in the active index",
            ["collection", "space", "unit"],
            registry=self.registry,
        )
        self.index_version = Gauge(
            "clipsearch_index_version",
            "Active index version number",
            ["collection", "space", "unit"],
            registry=self.registry,
        )
        self.swaps = Counter("clipsearch_index_swaps", "Index versions swapped in", registry=self.registry)
        # Labelled children by label values: `labels()` validates and locks on every call, and the
        # request path records ~10 samples per search.
        self._children: dict[tuple[object, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *labels: str) -> Any:
        key = (metric, labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def record_request(self, method: str, code: str, seconds: float) -> None:
        self._child(self.requests, method, code).inc()
        self._child(self.latency, method).observe(seconds)

    def observe_batch(self, kind: str, size: int) -> None:
        self._child(self.batch_size, kind).observe(size)

    def observe_stages(self, timings: Iterable[StageTiming]) -> None:
        for timing in timings:
            self._child(self.stage_latency, timing.stage).observe(timing.ms / 1000)

    def set_indexes(self, refs: tuple[IndexVersionRef, ...]) -> None:
        for ref in refs:
            labels = (ref.collection, ref.space, ref.unit)
            self.index_size.labels(*labels).set(ref.size)
            try:
                self.index_version.labels(*labels).set(float(ref.version))
            except ValueError:
                pass

    def watch_item_cache(self, counts: Callable[[], tuple[int, int]]) -> None:
        """Export the item cache's (hits, misses), read at scrape time."""
        self.registry.register(_ItemCacheCollector(counts))

    def start_http(self, host: str, port: int) -> int:
        """Serve /metrics; returns the bound port."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._http = server
        return int(server.server_port)

    def stop_http(self) -> None:
        http = getattr(self, "_http", None)
        if http is not None:
            http.shutdown()
            http.server_close()


class _ItemCacheCollector(Collector):
    """`clipsearch_item_cache_lookups_total{outcome="hit"|"miss"}`: items hydrated from the cache or
    read from the database (counted by the cache itself, so nothing is recorded per request here)."""

    def __init__(self, counts: Callable[[], tuple[int, int]]) -> None:
        self._counts = counts

    def describe(self) -> Iterator[CounterMetricFamily]:
        return iter(())  # unchecked: collect() reads the catalog, which is cheap but not free

    def collect(self) -> Iterator[CounterMetricFamily]:
        hits, misses = self._counts()
        family = CounterMetricFamily(
            "clipsearch_item_cache_lookups",
            "Hit items hydrated from the item cache (hit) or read from the database (miss)",
            labels=["outcome"],
        )
        family.add_metric(["hit"], hits)
        family.add_metric(["miss"], misses)
        yield family
