"""A bounded load generator (loopback only): N concurrent clients send a fixed number of requests each.

Bounded in count and time: every call has a deadline, the whole run has a wall-clock cap.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc
import numpy as np


@dataclass(frozen=True, slots=True)
class LoadReport:
    sent: int
    codes: dict[str, int]
    p50_ms: float
    p99_ms: float
    seconds: float

    @property
    def failed(self) -> int:
        return self.sent - self.codes.get("OK", 0)


def run_load(
    target: str,
    call: Callable[[Any, int], Any],
    *,
    stub_factory: Callable[[grpc.Channel], Any],
    clients: int,
    requests_per_client: int,
    deadline_s: float = 20.0,
    max_seconds: float = 120.0,
) -> LoadReport:
    """Run `call(stub, i)` from `clients` threads, `requests_per_client` times each."""
    assert target.startswith(("127.0.0.1:", "localhost:", "[::1]:")), "loopback only"
    codes: Counter[str] = Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + max_seconds
    start = threading.Barrier(clients)

    def client(n: int) -> None:
        with grpc.insecure_channel(target) as channel:
            stub = stub_factory(channel)
            start.wait()
            for i in range(requests_per_client):
                if time.monotonic() > stop_at:
                    break
                t0 = time.perf_counter()
                try:
                    call(stub, n * requests_per_client + i)
                    code = "OK"
                except grpc.RpcError as exc:
                    code = exc.code().name
                elapsed = (time.perf_counter() - t0) * 1000
                with lock:
                    codes[code] += 1
                    latencies.append(elapsed)

    t0 = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,), daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + deadline_s)
    seconds = time.monotonic() - t0
    values = np.asarray(latencies or [0.0])
    return LoadReport(
        sent=sum(codes.values()),
        codes=dict(codes),
        p50_ms=float(np.percentile(values, 50)),
        p99_ms=float(np.percentile(values, 99)),
        seconds=seconds,
    )
