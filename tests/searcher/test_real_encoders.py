"""Queries through the real gRPC server with real encoders on a corpus indexed by the real indexer.

The models are tiny random-weight open_clip models (three spaces: 77-token default, 248-token long,
XLM-R-style multilingual), so these tests check that the service computes the right thing, not that
the model is good: every ranking is recomputed here independently — the same encoder loaded in the
test process, applied to the original files — and the server's answer must agree with it. Identical
inputs must find themselves with cosine 1. Retrieval quality with trained models is tested in
`test_shapes_models.py`.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from clipsearch.client import AsyncSearchClient, SearchClient, SearchResult
from clipsearch.config import Settings
from helpers.servers import ServerThread
from helpers.tiny_models import write_tiny_model
from searcher.real_corpus import TEXTS, VIDEOS, RealCorpus, build_real_corpus, corpus_settings, shot_frame

pytestmark = pytest.mark.xdist_group("real_encoders")

# Sentences of ~45 BPE tokens each: two of them never fit a 77-token context together, one always does.
_SENTENCES = [
    " ".join(["red circle"] * 20) + " on the left.",
    " ".join(["blue square"] * 20) + " in the middle.",
    " ".join(["green triangle"] * 20) + " at the bottom.",
]
LONG_TEXT = " ".join(_SENTENCES)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> RealCorpus:
    root = tmp_path_factory.mktemp("real")
    models = {
        "default": write_tiny_model(root / "models/base", "base", seed=1, dtype="float32"),
        "long": write_tiny_model(root / "models/long", "long", seed=2, dtype="float32"),
        "multilingual": write_tiny_model(root / "models/multi", "multilingual", seed=3, dtype="float32"),
    }
    return build_real_corpus(root / "corpus", models)


@pytest.fixture(scope="module")
def server(corpus: RealCorpus) -> Iterator[ServerThread]:
    # A wide batching window so that concurrent queries reliably share a model call.
    settings = corpus.settings.model_copy(
        update={"server": corpus.settings.server.model_copy(update={"batch_window_ms": 25.0})}
    )
    running = ServerThread(settings)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def encoders(corpus: RealCorpus) -> dict[str, Any]:
    """The same models loaded independently in the test process (the reference computation)."""
    from clipsearch.indexer.encoders import load_encoder

    return {name: load_encoder(name, corpus.settings.space(name)) for name in corpus.settings.spaces}


def _image(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


def _expected(query: np.ndarray, candidates: dict[str, np.ndarray], k: int) -> list[tuple[str, float]]:
    names = list(candidates)
    scores = np.stack([candidates[n] for n in names]) @ query.reshape(-1)
    order = np.argsort(-scores, kind="stable")[:k]
    return [(names[i], float(scores[i])) for i in order]


def _names(result: SearchResult) -> list[str]:
    return [Path(h.uri).name for h in result.hits]


def _assert_same_ranking(result: SearchResult, expected: list[tuple[str, float]]) -> None:
    got = [(Path(h.uri).name, h.score) for h in result.hits]
    assert [n for n, _ in got] == [n for n, _ in expected], (got, expected)
    assert np.allclose([s for _, s in got], [s for _, s in expected], atol=2e-4)


def _image_vectors(corpus: RealCorpus, encoder: Any) -> dict[str, np.ndarray]:
    names = list(corpus.images)
    vectors = encoder.encode_images([_image(corpus.images[n]) for n in names])
    return dict(zip(names, vectors, strict=True))


def _text_vectors(encoder: Any) -> dict[str, np.ndarray]:
    vectors = encoder.encode_texts(list(TEXTS.values()))
    return dict(zip(TEXTS, vectors, strict=True))


# ---- text, image and video queries ----------------------------------------------------------------


def test_image_to_image_finds_itself_and_ranks_like_the_encoder(
    server: ServerThread, corpus: RealCorpus, encoders: dict[str, Any]
) -> None:
    reference = _image_vectors(corpus, encoders["default"])
    with SearchClient(server.target) as client:
        for name in ("red_circle.png", "blue_triangle.png", "yellow_square.png"):
            result = client.search(
                collection="media",
                image=corpus.images[name].read_bytes(),
                media_types=["image"],
                top_k=5,
                rerank=False,
            )
            assert result.space == "default" and result.route_reason == "media"
            assert result.hits[0].uri == str(corpus.images[name].resolve())
            assert result.hits[0].score == pytest.approx(1.0, abs=1e-4)
            _assert_same_ranking(result, _expected(reference[name], reference, 5))
            assert {"decode", "encode", "candidates", "hydrate"} <= set(result.timings_ms)


def test_text_to_image_ranks_like_the_encoder(
    server: ServerThread, corpus: RealCorpus, encoders: dict[str, Any]
) -> None:
    reference = _image_vectors(corpus, encoders["default"])
    query = "a green square on a dark background"
    (vector,) = encoders["default"].encode_texts([query])
    with SearchClient(server.target) as client:
        plain = client.search(query, collection="media", media_types=["image"], top_k=6, rerank=False)
        reranked = client.search(query, collection="media", media_types=["image"], top_k=6)
    assert plain.space == "default" and plain.route_reason == "default" and plain.long_text == "fitted"
    _assert_same_ranking(plain, _expected(vector, reference, 6))
    # Exact reranking from the vector store changes nothing on a Flat index with float32 vectors.
    _assert_same_ranking(reranked, _expected(vector, reference, 6))


def test_text_to_text_finds_the_identical_document(server: ServerThread, corpus: RealCorpus) -> None:
    with SearchClient(server.target) as client:
        for name, content in TEXTS.items():
            result = client.search(content, collection="media", media_types=["text"], top_k=2)
            assert _names(result)[0] == name
            assert result.hits[0].score == pytest.approx(1.0, abs=1e-4)
            assert result.hits[0].text == content


def test_image_to_text_ranks_like_the_encoder(
    server: ServerThread, corpus: RealCorpus, encoders: dict[str, Any]
) -> None:
    texts = _text_vectors(encoders["default"])
    image = corpus.images["blue_triangle.png"]
    (vector,) = encoders["default"].encode_images([_image(image)])
    with SearchClient(server.target) as client:
        result = client.search(
            collection="media", image=image.read_bytes(), media_types=["text"], top_k=len(TEXTS), rerank=False
        )
    assert all(h.media_type == "text" for h in result.hits)
    _assert_same_ranking(result, _expected(vector, texts, len(TEXTS)))


def _shot_of(t_sec: float) -> int:
    return int(t_sec)  # every shot lasts one second


def test_image_to_video_returns_the_shot_showing_that_frame(server: ServerThread) -> None:
    with SearchClient(server.target) as client:
        for video, shots in VIDEOS.items():
            for index, colour in enumerate(shots):
                buffer = io.BytesIO()
                shot_frame(colour).save(buffer, format="PNG")
                result = client.search(
                    collection="media", image=buffer.getvalue(), media_types=["video"], top_k=2
                )
                top = result.hits[0]
                assert Path(top.uri).name == video, (colour, _names(result))
                assert top.moment is not None and _shot_of(top.moment.t_sec) == index, (colour, top.moment)
                assert top.moment.segment_start_sec <= top.moment.t_sec <= top.moment.segment_end_sec
                assert top.frame_score == pytest.approx(top.moment.top_frames[0].score, abs=1e-5)


def test_text_to_video_moment_is_the_shot_the_encoder_prefers(
    server: ServerThread, encoders: dict[str, Any]
) -> None:
    encoder = encoders["default"]
    shots = [(video, i, colour) for video, colours in VIDEOS.items() for i, colour in enumerate(colours)]
    frames = encoder.encode_images([shot_frame(colour) for _, _, colour in shots])
    candidates = [f"a {c} picture" for c in ("red", "green", "blue", "yellow", "purple", "white")] + list(
        TEXTS.values()
    )
    queries = encoder.encode_texts(candidates)
    # The query whose best shot wins by the widest margin: a random-weight model's answer is then
    # stable under video compression, so the server must agree with it.
    scores = queries @ frames.T
    ordered = np.sort(scores, axis=1)
    best_query = int(np.argmax(ordered[:, -1] - ordered[:, -2]))
    video, shot, _ = shots[int(np.argmax(scores[best_query]))]
    with SearchClient(server.target) as client:
        result = client.search(candidates[best_query], collection="media", media_types=["video"], top_k=2)
        item = client.get_item("media", result.hits[0].id)
    moment = result.hits[0].moment
    assert moment is not None and moment.t_sec in item.frame_times
    assert len(item.frame_times) == 6  # fps:2 over three seconds
    # Both videos are candidates; the frame score picks the moment within the winning video.
    own = [h for h in result.hits if Path(h.uri).name == video]
    assert own and own[0].moment is not None and _shot_of(own[0].moment.t_sec) == shot


def test_video_query_finds_the_same_video(server: ServerThread, corpus: RealCorpus) -> None:
    with SearchClient(server.target) as client:
        for name, path in corpus.videos.items():
            result = client.search(
                collection="media", video=path.read_bytes(), media_types=["video"], top_k=2
            )
            assert _names(result)[0] == name
            assert result.route_reason == "media"


# ---- Encode and routing ----------------------------------------------------------------------------


def test_encode_returns_the_encoders_vectors_in_each_space(
    server: ServerThread, corpus: RealCorpus, encoders: dict[str, Any]
) -> None:
    image = corpus.images["green_circle.png"]
    with SearchClient(server.target) as client:
        for space in ("default", "long", "multilingual"):
            text = client.encode("a green circle", space=space, collection="media")
            assert text.space == space and not text.truncated
            assert text.fingerprint == encoders[space].info.fingerprint
            assert np.allclose(text.vector, encoders[space].encode_texts(["a green circle"])[0], atol=1e-5)
            picture = client.encode(image=image.read_bytes(), space=space)
            assert picture.space == space
            assert np.allclose(picture.vector, encoders[space].encode_images([_image(image)])[0], atol=1e-5)
        assert len(text.vector) == encoders["multilingual"].info.dim


def test_routing_by_language_and_length_answers_from_the_right_space(
    server: ServerThread, encoders: dict[str, Any]
) -> None:
    german = "ein roter Kreis und ein blaues Quadrat auf schwarzem Hintergrund"
    with SearchClient(server.target) as client:
        by_language = client.search(german, collection="media", top_k=3)
        assert (by_language.space, by_language.route_reason, by_language.language) == (
            "multilingual",
            "language",
            "de",
        )
        explicit = client.search("a red circle", collection="media", language="fr", top_k=3)
        assert explicit.space == "multilingual" and explicit.language == "fr"
        encoded = client.encode(german, collection="media")
        assert encoded.space == "multilingual"
        assert np.allclose(encoded.vector, encoders["multilingual"].encode_texts([german])[0], atol=1e-5)

        assert encoders["default"].count_tokens(LONG_TEXT) > encoders["default"].info.context_length
        long = client.search(LONG_TEXT, collection="media", top_k=3)
        assert (long.space, long.route_reason, long.long_text, long.query_truncated) == (
            "long",
            "long_text",
            "fitted",
            False,
        )
        encoded_long = client.encode(LONG_TEXT, collection="media")
        assert encoded_long.space == "long" and not encoded_long.truncated
        assert np.allclose(encoded_long.vector, encoders["long"].encode_texts([LONG_TEXT])[0], atol=1e-5)


def test_long_text_on_a_short_space_is_truncated_and_says_so(
    server: ServerThread, encoders: dict[str, Any]
) -> None:
    with SearchClient(server.target) as client:
        result = client.search(LONG_TEXT, collection="media", space="default", media_types=["text"], top_k=3)
        encoded = client.encode(LONG_TEXT, space="default")
    assert (result.route_reason, result.long_text, result.query_truncated) == ("explicit", "truncated", True)
    assert encoded.truncated
    reference = encoders["default"].encode_texts_detailed([LONG_TEXT])
    assert reference.truncated == (True,)
    assert np.allclose(encoded.vector, reference.vectors[0], atol=1e-5)


def test_long_text_chunk_policy_averages_sentence_chunks(
    corpus: RealCorpus, encoders: dict[str, Any]
) -> None:
    settings: Settings = corpus_settings(corpus.root, _models_of(corpus), long_text_policy="chunk")
    chunking = ServerThread(settings)
    try:
        with SearchClient(chunking.target) as client:
            result = client.search(
                LONG_TEXT, collection="media", space="default", media_types=["image"], top_k=4
            )
            encoded = client.encode(LONG_TEXT, space="default")
    finally:
        chunking.stop()
    assert (result.long_text, result.query_truncated) == ("chunked", False)
    assert not encoded.truncated
    # Each sentence fits alone and no two fit together, so the chunks are exactly the sentences.
    pieces = encoders["default"].encode_texts(_SENTENCES)
    mean = pieces.mean(axis=0)
    assert np.allclose(encoded.vector, mean / np.linalg.norm(mean), atol=1e-5)
    truncated = encoders["default"].encode_texts([LONG_TEXT])[0]
    assert not np.allclose(encoded.vector, truncated, atol=1e-3)


def _models_of(corpus: RealCorpus) -> dict[str, Path]:
    return {
        name: Path(corpus.settings.space(name).model.removeprefix("local-dir:"))
        for name in corpus.settings.spaces
    }


# ---- micro-batching --------------------------------------------------------------------------------


def test_concurrent_text_queries_share_model_calls_and_get_their_own_answers(
    server: ServerThread, corpus: RealCorpus
) -> None:
    queries = [
        f"a {c} {s}"
        for c in ("red", "green", "blue", "yellow")
        for s in ("circle", "square", "star", "cross")
    ]
    registry = server.server.metrics.registry

    def counted() -> tuple[float, float]:
        count = registry.get_sample_value("clipsearch_encode_batch_size_count", {"kind": "text"}) or 0.0
        total = registry.get_sample_value("clipsearch_encode_batch_size_sum", {"kind": "text"}) or 0.0
        return count, total

    with SearchClient(server.target) as client:
        alone = {q: client.search(q, collection="media", media_types=["image"], top_k=4) for q in queries}
    before = counted()

    async def together() -> list[SearchResult]:
        async with AsyncSearchClient(server.target) as client:
            await client.list_collections()  # connected before the burst
            return list(
                await asyncio.gather(
                    *(client.search(q, collection="media", media_types=["image"], top_k=4) for q in queries)
                )
            )

    results = asyncio.run(together())
    after = counted()
    batches, items = after[0] - before[0], after[1] - before[1]
    assert items == len(queries)
    assert batches < len(queries) / 2, f"{len(queries)} concurrent queries took {batches} model calls"
    for query, result in zip(queries, results, strict=True):
        assert _names(result) == _names(alone[query])
        assert np.allclose([h.score for h in result.hits], [h.score for h in alone[query].hits], atol=1e-5)
