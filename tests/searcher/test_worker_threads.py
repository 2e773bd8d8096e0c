"""The server's worker threads run faiss with `server.faiss_threads` OpenMP threads each."""

from __future__ import annotations

from pathlib import Path

import faiss

from clipsearch.storage.db import Database
from helpers.servers import ServerThread
from searcher.conftest import make_settings


def test_every_worker_thread_uses_the_configured_faiss_threads(tmp_path: Path) -> None:
    # OpenMP's thread count is per thread: set only on the loop thread, the pool threads would keep
    # the process default. 3 differs from any default on the test machines (OMP_NUM_THREADS / cores).
    settings = make_settings(tmp_path, faiss_threads=3, workers=2)
    db = Database(settings.database_url)
    db.create_all()
    db.dispose()
    running = ServerThread(settings)
    try:
        executor = running.server.servicer.executor
        seen = {executor.submit(faiss.omp_get_max_threads).result(10) for _ in range(8)}
    finally:
        running.stop()
    assert seen == {3}
