"""Rerank and frame-scoring fields through a real gRPC server and the client SDK."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from clipsearch.client import SearchClient
from clipsearch.config import ServerSettings
from clipsearch.errors import InvalidRequest
from clipsearch.searcher.app import build_engine
from clipsearch.searcher.server import SearchServer

from .conftest import MomentCorpus

pytestmark = pytest.mark.xdist_group("rerank-moments")


@pytest.fixture(scope="module")
def target(moment_corpus: MomentCorpus) -> Iterator[str]:
    settings = moment_corpus.settings.model_copy(
        update={"server": ServerSettings(port=0, index_poll_seconds=5.0, grace_seconds=0.5)}
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def run(coro: Any, timeout: float) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, loop)
        return future.result(timeout)

    server = SearchServer(settings, build_engine(settings))
    port = run(server.start(), 60)
    yield f"127.0.0.1:{port}"
    run(server.stop(0.5), 30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def test_moment_and_component_scores_over_grpc(target: str, moment_corpus: MomentCorpus) -> None:
    with SearchClient(target, timeout=30) as client:
        correct = inside = 0
        for j in range(10):
            result = client.search(
                collection=moment_corpus.collection,
                vector=[float(x) for x in moment_corpus.concepts[j]],
                media_types=("video",),
                top_k=3,
                rerank=True,
                rerank_depth=50,
                frame_scoring=True,
                frame_alpha=0.4,
                top_frames=2,
                frame_delta=0.05,
            )
            top = result.hits[0]
            assert top.moment is not None and len(top.moment.top_frames) == 2
            assert top.frame_score is not None and top.rerank_score is not None
            assert top.score == pytest.approx(0.4 * top.rerank_score + 0.6 * top.frame_score, abs=1e-4)
            if top.id == str(moment_corpus.event_video[j]):
                correct += 1
                start, end = moment_corpus.event_window[moment_corpus.event_video[j]]
                inside += start <= top.moment.t_sec <= end
            assert {"rerank", "frames"} <= set(result.timings_ms)
        assert correct >= 9 and inside >= correct - 1
        holistic = client.search(
            collection=moment_corpus.collection,
            vector=[float(x) for x in moment_corpus.concepts[0]],
            media_types=("video",),
            top_k=3,
            frame_scoring=False,
        )
        assert holistic.hits[0].score == pytest.approx(holistic.hits[0].rerank_score, abs=1e-6)
        with pytest.raises(InvalidRequest, match="rerank space"):
            client.search(
                collection=moment_corpus.collection,
                vector=[float(x) for x in moment_corpus.concepts[0]],
                rerank_space="nope",
            )
