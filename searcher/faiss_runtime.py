"""How FAISS runs in this process: OpenMP threads per search call, and BLAS for batched searches.

`configure(faiss_threads)` applies both; `build_engine` (`app.py`) calls it, so the server and every
in-process engine search the same way.

Threads. OpenMP's thread count is a per-thread setting, and FAISS and PyTorch share one OpenMP
runtime. A count set once for FAISS in a thread that also runs the model makes the model
single-threaded there; and PyTorch's first use of a thread (a cross-space rerank encodes in the
search thread) sets that thread's count to its own, undoing FAISS's. So the count is set around each
search call and put back after it (two cheap calls), and any thread may run both a model and a
search. A small count suits serving: one query's search is short, and idle OpenMP teams spin on the
cores that the model and the other requests need.

BLAS. FAISS scores a batch of `nq` queries on a flat index either with its own scan, one query
after the other, or with BLAS (one matrix product over the batch). Current FAISS (1.15 here) picks
BLAS once `nq × d` reaches `distance_compute_blas_threshold`, whose default, 128000, keeps every
micro-batch of the server (at most `server.max_batch` queries) on the scan: a batch of 31 queries on
10k × 512 then costs as much as 31 single searches, ~6× its cost through BLAS (`bench/hotpath.py`).
A single query stays faster on the scan, so the threshold sits above one query of any usual width.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: OpenMP threads per FAISS search call; 0 = leave each thread's setting alone (the library default).
_search_threads = 0

#: BLAS from this many query components per batch (4 queries at d=512, 16 at d=128); one query of up to
#: 2047 dimensions keeps the scan.
BATCH_BLAS_THRESHOLD = 2048


def configure(faiss_threads: int) -> None:
    """Process-wide: `server.faiss_threads` per search call, and BLAS for batched searches."""
    set_search_threads(faiss_threads)
    use_blas_for_batches()


def use_blas_for_batches() -> None:
    """Lower FAISS's BLAS threshold to `BATCH_BLAS_THRESHOLD` (idempotent).

    Only lowered: older FAISS releases count queries, not query components, against a default of
    20, and there this leaves their setting alone.
    """
    import faiss

    if faiss.cvar.distance_compute_blas_threshold > BATCH_BLAS_THRESHOLD:
        faiss.cvar.distance_compute_blas_threshold = BATCH_BLAS_THRESHOLD


def set_search_threads(threads: int) -> None:
    """Process-wide (`configure` sets it from `server.faiss_threads`)."""
    global _search_threads
    if threads < 0:
        raise ValueError("threads must be >= 0")
    _search_threads = threads


def search_threads() -> int:
    return _search_threads


@contextmanager
def faiss_search_threads() -> Iterator[None]:
    """Within the block this thread's FAISS calls use the configured count; the old one is restored."""
    threads = _search_threads
    if not threads:
        yield
        return
    import faiss

    before = faiss.omp_get_max_threads()
    if before == threads:
        yield
        return
    faiss.omp_set_num_threads(threads)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
