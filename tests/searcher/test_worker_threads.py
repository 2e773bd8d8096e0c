"""OpenMP thread counts: every FAISS search runs with `server.faiss_threads`, and the model keeps
PyTorch's own thread count in every thread (FAISS and PyTorch share one OpenMP setting per thread:
a count set once for FAISS in a thread that also encodes made the model single-threaded there)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

import faiss
import pytest
import torch

from clipsearch.client import SearchClient
from clipsearch.searcher import faiss_runtime
from clipsearch.searcher.catalog import LoadedIndex
from clipsearch.searcher.synthetic import write_corpus
from clipsearch.storage.db import Database
from helpers.servers import ServerThread
from searcher.conftest import make_settings


@pytest.fixture
def restore_search_threads() -> Any:
    before = faiss_runtime.search_threads()
    yield
    faiss_runtime.set_search_threads(before)


def test_the_count_is_set_around_the_call_and_restored(restore_search_threads: None) -> None:
    faiss_runtime.set_search_threads(3)
    seen: list[int] = []
    before = faiss.omp_get_max_threads()
    with faiss_runtime.faiss_search_threads():
        seen.append(faiss.omp_get_max_threads())
    assert seen == [3]
    assert faiss.omp_get_max_threads() == before
    faiss_runtime.set_search_threads(0)  # 0: the thread's own setting is left alone
    with faiss_runtime.faiss_search_threads():
        assert faiss.omp_get_max_threads() == before
    with pytest.raises(ValueError):
        faiss_runtime.set_search_threads(-1)


def test_every_search_uses_faiss_threads_and_the_model_keeps_torchs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_search_threads: None
) -> None:
    # 3 differs from any default on the test machines (OMP_NUM_THREADS / cores).
    settings = make_settings(tmp_path, faiss_threads=3, workers=2)
    db = Database(settings.database_url)
    db.create_all()
    corpus = write_corpus(db, settings.data_dir, collection="synthetic", n_items=100, dim=32)
    db.dispose()
    torch_default = torch.get_num_threads()
    seen: dict[str, set[int]] = {"search": set(), "model": set()}
    threads: set[str] = set()
    search = LoadedIndex.search

    class ProbedIndex:
        """The FAISS index, noting the OpenMP count each search call runs with."""

        def __init__(self, index: Any) -> None:
            self._index = index
            self.ntotal = index.ntotal

        def search(self, *args: Any) -> Any:
            seen["search"].add(faiss.omp_get_max_threads())
            return self._index.search(*args)

    def watched_search(self: LoadedIndex, vectors: Any, k: int) -> Any:
        result = search(dataclasses.replace(self, index=ProbedIndex(self.index)), vectors, k)
        # After the call, in the same thread: PyTorch's count is what it was.
        seen["model"].add(torch.get_num_threads())
        threads.add(threading.current_thread().name)
        return result

    monkeypatch.setattr(LoadedIndex, "search", watched_search)
    running = ServerThread(settings)
    try:
        with SearchClient(running.target) as client:
            for vector in corpus.centres[:4]:
                assert client.search(collection="synthetic", vector=vector.tolist(), top_k=3).hits
    finally:
        running.stop()
    assert threads, "no search ran"
    assert seen["search"] == {3}
    assert seen["model"] == {torch_default}
