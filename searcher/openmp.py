"""FAISS searches run with their own OpenMP thread count, whatever thread they run in.

OpenMP's thread count is a per-thread setting, and FAISS and PyTorch share one OpenMP runtime. A
count set once for FAISS in a thread that also runs the model makes the model single-threaded there;
and PyTorch's first use of a thread (a cross-space rerank encodes in the search thread) sets that
thread's count to its own, undoing FAISS's. So the count is set around each search call and put
back after it (two cheap calls), and any thread may run both a model and a search.

A small count suits serving: one query's search is short, and idle OpenMP teams spin on the cores
that the model and the other requests need.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: OpenMP threads per FAISS search call; 0 = leave each thread's setting alone (the library default).
_search_threads = 0


def set_search_threads(threads: int) -> None:
    """Process-wide: the server sets `server.faiss_threads` once at start."""
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
