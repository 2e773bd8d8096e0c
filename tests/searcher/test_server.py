"""The gRPC service end to end: real SQLite, real FAISS, real port, real client."""

from __future__ import annotations

import math
from typing import Any

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clipsearch.client import SearchClient
from clipsearch.errors import InvalidRequest, NotFound
from clipsearch.searcher.synthetic import SyntheticCorpus
from helpers.servers import ServerThread


def _vector(corpus: SyntheticCorpus, cluster: int) -> list[float]:
    return [float(x) for x in corpus.centres[cluster]]


def test_vector_search_returns_the_cluster_with_hydrated_hits(
    server: ServerThread, corpus: SyntheticCorpus
) -> None:
    with SearchClient(server.target) as client:
        result = client.search(
            collection="synthetic", vector=_vector(corpus, 3), top_k=8, media_types=["image"]
        )
    assert len(result.hits) == 8
    for hit in result.hits:
        assert hit.media_type == "image"
        assert corpus.clusters[int(hit.id)] == 3
        assert hit.metadata["cluster"] == 3
        assert hit.uri.startswith("synthetic://synthetic/")
        assert hit.text.endswith("of cluster 3")
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert result.space == "default" and result.route_reason == "vector"
    assert {(v.unit, v.version) for v in result.index_versions} >= {("item", "1")}
    assert {"candidates", "hydrate"} <= set(result.timings_ms)
    assert result.request_id


def test_pages_concatenate_to_the_unpaged_list(server: ServerThread, corpus: SyntheticCorpus) -> None:
    with SearchClient(server.target) as client:
        whole = client.search(
            collection="synthetic", vector=_vector(corpus, 1), top_k=12, media_types=["image"]
        )
        first = client.search(
            collection="synthetic", vector=_vector(corpus, 1), top_k=6, media_types=["image"]
        )
        second = client.search(
            collection="synthetic",
            vector=_vector(corpus, 1),
            top_k=6,
            media_types=["image"],
            page_token=first.next_page_token,
        )
        assert first.next_page_token
        assert [h.id for h in first.hits + second.hits] == [h.id for h in whole.hits]
        assert [h.rank for h in second.hits] == list(range(6, 12))
        with pytest.raises(InvalidRequest, match="different query"):
            client.search(
                collection="synthetic", vector=_vector(corpus, 2), top_k=6, page_token=first.next_page_token
            )


def test_more_like_this_excludes_the_item_and_stays_in_its_cluster(
    server: ServerThread, corpus: SyntheticCorpus
) -> None:
    item = next(i for i, m in corpus.media.items() if m == "image")
    with SearchClient(server.target) as client:
        result = client.search(collection="synthetic", item_id=str(item), top_k=5, media_types=["image"])
    assert result.route_reason == "item"
    assert str(item) not in [h.id for h in result.hits]
    assert all(corpus.clusters[int(h.id)] == corpus.clusters[item] for h in result.hits)


def test_video_hits_carry_the_event_moment(server: ServerThread, corpus: SyntheticCorpus) -> None:
    with SearchClient(server.target) as client:
        result = client.search(
            collection="synthetic", vector=_vector(corpus, 6), top_k=3, media_types=["video"]
        )
    assert result.hits and all(h.media_type == "video" for h in result.hits)
    for hit in result.hits:
        assert hit.moment is not None and hit.frame_score is not None
        if corpus.clusters[int(hit.id)] == 6:
            assert hit.moment.t_sec == corpus.event_t[int(hit.id)]
            assert hit.moment.segment_start_sec <= hit.moment.t_sec <= hit.moment.segment_end_sec
            assert hit.moment.top_frames[0].t_sec == hit.moment.t_sec
    assert any(v.unit == "frame" for v in result.index_versions)


def test_several_media_types_are_fused_by_rank(server: ServerThread, corpus: SyntheticCorpus) -> None:
    with SearchClient(server.target) as client:
        result = client.search(
            collection="synthetic", vector=_vector(corpus, 4), top_k=6, media_types=["image", "text"]
        )
    kinds = [h.media_type for h in result.hits]
    # RRF alternates the two lists' ranks instead of letting one modality's raw cosines win.
    assert kinds.count("image") == 3 and kinds.count("text") == 3
    assert result.hits[0].score == pytest.approx(1 / 61)


def test_get_item_and_list_collections(server: ServerThread, corpus: SyntheticCorpus) -> None:
    video = next(i for i, m in corpus.media.items() if m == "video")
    with SearchClient(server.target) as client:
        item = client.get_item("synthetic", str(video))
        assert item.media_type == "video" and len(item.frame_times) == 8
        by_uri = client.get_item("synthetic", item.uri)
        assert by_uri.id == item.id
        with pytest.raises(NotFound):
            client.get_item("synthetic", "999999")
        collections = client.list_collections()
    assert [c.name for c in collections] == ["synthetic"]
    assert set(collections[0].media_types) == {"image", "video", "text"}
    (space,) = collections[0].spaces
    assert {v.unit for v in space.active_versions} == {"item", "frame"}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text_query": "   "}, "empty"),
        ({"vector": [math.nan] * 32}, "NaN"),
        ({"vector": [1.0] * 31}, "32 components"),
        ({"vector": [0.0] * 32}, "zeros"),
        ({"vector": [1.0] * 32, "top_k": 100_000}, "top_k"),
        ({"image": b"not an image at all"}, "cannot be decoded"),
        ({"video": b"not a video"}, "cannot be decoded"),
        ({"vector": [1.0] * 32, "filter": "{not json"}, "filter"),
        ({"vector": [1.0] * 32, "frame_alpha": 1.5}, "alpha"),
        ({"vector": [1.0] * 32, "space": "nope"}, "space"),
        ({"vector": [1.0] * 32, "page_token": "garbage!"}, "page_token"),
        ({"vector": [1.0] * 32, "language": "not a language"}, None),
    ],
)
def test_invalid_requests_get_invalid_argument_with_a_message(
    server: ServerThread, kwargs: dict[str, Any], message: str | None
) -> None:
    kwargs = dict(kwargs)
    text: str | None = kwargs.pop("text_query", None)
    with SearchClient(server.target) as client:
        if message is None:  # language is ignored for vector queries: must still succeed
            client.search(collection="synthetic", **kwargs)
            return
        with pytest.raises(InvalidRequest, match=message) as info:
            client.search(text, collection="synthetic", **kwargs)
    assert info.value.status_code == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]


def test_unknown_collection_is_not_found_and_missing_query_is_invalid(server: ServerThread) -> None:
    with SearchClient(server.target) as client:
        with pytest.raises(NotFound, match="unknown collection"):
            client.search(collection="nope", vector=[1.0] * 32)
        with pytest.raises(InvalidRequest, match="query is required"):
            client.search(collection="synthetic")
        with pytest.raises(InvalidRequest, match="text or image"):
            client.encode(space="default")


def test_health_and_reflection_answer(server: ServerThread) -> None:
    from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

    with grpc.insecure_channel(server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "clipsearch.v1.SearchService"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        (answer,) = list(stub.ServerReflectionInfo(iter([request]), timeout=5))
    names = {s.name for s in answer.list_services_response.service}
    assert "clipsearch.v1.SearchService" in names and "grpc.health.v1.Health" in names


def test_request_id_is_returned_in_trailing_metadata(server: ServerThread, corpus: SyntheticCorpus) -> None:
    from clipsearch.client import search_request
    from clipsearch.proto.v1 import search_pb2_grpc

    with grpc.insecure_channel(server.target) as channel:
        stub = search_pb2_grpc.SearchServiceStub(channel)
        request = search_request("synthetic", vector=_vector(corpus, 0), top_k=2)
        response, call = stub.Search.with_call(request, metadata=(("x-request-id", "req-abc"),), timeout=10)
        assert response.request_id == "req-abc"
        assert ("x-request-id", "req-abc") in list(call.trailing_metadata())
        with pytest.raises(grpc.RpcError) as info:
            stub.Search(search_request("synthetic", vector=[1.0]), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert any(k == "x-request-id" for k, _ in info.value.trailing_metadata())


def test_query_vectors_are_normalised(server: ServerThread, corpus: SyntheticCorpus) -> None:
    scaled = [x * 7.0 for x in _vector(corpus, 2)]
    with SearchClient(server.target) as client:
        a = client.search(collection="synthetic", vector=scaled, top_k=3, media_types=["image"])
        b = client.search(collection="synthetic", vector=_vector(corpus, 2), top_k=3, media_types=["image"])
    assert [h.id for h in a.hits] == [h.id for h in b.hits]
    assert np.allclose([h.score for h in a.hits], [h.score for h in b.hits], atol=1e-5)


def test_metadata_filter_keeps_only_matching_items(server: ServerThread, corpus: SyntheticCorpus) -> None:
    import json

    flt = json.dumps({"field": "meta.tag", "eq": "odd"})
    with SearchClient(server.target) as client:
        result = client.search(
            collection="synthetic", vector=_vector(corpus, 5), top_k=6, filter=flt, media_types=["image"]
        )
        assert len(result.hits) == 6
        assert all(h.metadata["tag"] == "odd" and corpus.clusters[int(h.id)] == 5 for h in result.hits)
        with pytest.raises(InvalidRequest, match="filter"):
            client.search(
                collection="synthetic",
                vector=_vector(corpus, 5),
                filter=json.dumps({"field": "meta.x", "zz": 1}),
            )


def test_search_cli_prints_a_table_and_json(server: ServerThread, corpus: SyntheticCorpus) -> None:
    import json

    from typer.testing import CliRunner

    from clipsearch.cli import app

    vector = ",".join(f"{x:.6f}" for x in corpus.centres[7])
    runner = CliRunner()
    args = ["search", "--collection", "synthetic", "--vector", vector, "--server", server.target, "-k", "3"]
    table = runner.invoke(app, [*args, "--media", "video"], env={"COLUMNS": "220"})
    assert table.exit_code == 0, table.output
    assert "synthetic://synthetic/" in table.output and "video" in table.output
    as_json = runner.invoke(app, [*args, "--json"])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.output)
    assert len(payload["hits"]) == 3 and payload["space"] == "default"
    bad = runner.invoke(
        app, ["search", "--collection", "synthetic", "--vector", "1,2", "--server", server.target]
    )
    assert bad.exit_code == 64 and "32 components" in bad.output
