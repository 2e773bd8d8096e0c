"""OpenMP thread counts per thread role: the batched FAISS searches run with `server.faiss_threads`,
and the thread that runs the model keeps PyTorch's own thread count (FAISS and PyTorch share one
OpenMP setting per thread: limiting FAISS there silently made the model single-threaded)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import faiss
import torch

from clipsearch.client import SearchClient
from clipsearch.searcher.synthetic import write_corpus
from clipsearch.storage.db import Database
from helpers.servers import ServerThread
from searcher.conftest import make_settings


def test_search_thread_uses_faiss_threads_and_the_model_thread_keeps_torchs(tmp_path: Path) -> None:
    # 3 differs from any default on the test machines (OMP_NUM_THREADS / cores).
    settings = make_settings(tmp_path, faiss_threads=3, workers=2)
    db = Database(settings.database_url)
    db.create_all()
    corpus = write_corpus(db, settings.data_dir, collection="synthetic", n_items=100, dim=32)
    db.dispose()
    torch_default = torch.get_num_threads()
    running = ServerThread(settings)
    seen: dict[str, set[tuple[int, int]]] = {"encode": set(), "search": set()}
    engine = running.server.engine
    encode_batch, finish_batch = engine.encode_batch, engine.finish_batch

    def watched_encode(*args: Any, **kwargs: Any) -> Any:
        seen["encode"].add((faiss.omp_get_max_threads(), torch.get_num_threads()))
        return encode_batch(*args, **kwargs)

    def watched_finish(*args: Any, **kwargs: Any) -> Any:
        # FAISS's count only: asking PyTorch here would make it initialise its threads in this
        # thread, which rewrites the shared OpenMP setting (the very effect this test guards).
        seen["search"].add((faiss.omp_get_max_threads(), 0))
        return finish_batch(*args, **kwargs)

    engine.encode_batch = watched_encode  # type: ignore[method-assign]
    engine.finish_batch = watched_finish  # type: ignore[method-assign]
    try:
        with SearchClient(running.target) as client:
            for vector in corpus.centres[:4]:
                assert client.search(collection="synthetic", vector=vector.tolist(), top_k=3).hits
    finally:
        running.stop()
    assert {faiss_threads for faiss_threads, _ in seen["search"]} == {3}
    assert {torch_threads for _, torch_threads in seen["encode"]} == {torch_default}
    assert 3 not in {faiss_threads for faiss_threads, _ in seen["encode"]}
