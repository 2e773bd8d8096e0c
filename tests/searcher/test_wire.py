"""The protobuf boundary: search responses built from results, with the per-record item part cached."""

from __future__ import annotations

import datetime

import pytest

from clipsearch.client import _result
from clipsearch.proto.v1 import search_pb2 as pb
from clipsearch.searcher import wire
from clipsearch.searcher.types import (
    FrameScore,
    Hit,
    IndexVersionRef,
    ItemRecord,
    SearchResult,
    StageTiming,
    VideoMoment,
)


def _record(item_id: int, **metadata: object) -> ItemRecord:
    return ItemRecord(item_id, "c", f"file:///{item_id}.png", "image", f"text {item_id}", dict(metadata))


def _result_of(*hits: Hit) -> SearchResult:
    return SearchResult(
        hits=hits,
        next_page_token="tok",
        space="default",
        route_reason="default space",
        language="en",
        long_text="",
        query_truncated=False,
        index_versions=(IndexVersionRef("c", "default", "item", "3", 10),),
        timings=(StageTiming("candidates", 0.5),),
    )


def test_response_carries_every_field() -> None:
    video = ItemRecord(7, "c", "file:///v.mp4", "video", "", {"n": 2, "tags": ["a", "b"], "o": {"x": 1.5}})
    moment = VideoMoment(3.0, 2.0, 4.0, (FrameScore(3.0, 0.9), FrameScore(2.5, 0.8)))
    response = wire.search_response(
        _result_of(
            Hit(_record(1, tag="odd", n=1), rank=0, score=0.9, initial=0.8, rerank=0.9),
            Hit(video, rank=1, score=0.7, initial=0.6, frame=0.7, moment=moment),
        ),
        "rid",
    )
    first, second = response.hits
    assert (first.id, first.uri, first.media_type, first.text) == (
        "1",
        "file:///1.png",
        pb.MEDIA_TYPE_IMAGE,
        "text 1",
    )
    assert first.score == pytest.approx(0.9) and first.rank == 0
    assert first.scores.HasField("initial") and first.scores.HasField("rerank")
    assert not first.scores.HasField("frame") and not first.HasField("moment")
    assert second.media_type == pb.MEDIA_TYPE_VIDEO and second.rank == 1
    assert second.scores.frame == pytest.approx(0.7) and not second.scores.HasField("rerank")
    assert second.moment.t_sec == 3.0 and [f.t_sec for f in second.moment.top_frames] == [3.0, 2.5]
    assert (response.request_id, response.next_page_token, response.space) == ("rid", "tok", "default")
    assert response.index_versions[0].version == "3" and response.timings[0].stage == "candidates"
    # What the client makes of it: the metadata's JSON types come back as they went in.
    hits = _result(pb.SearchResponse.FromString(response.SerializeToString())).hits
    assert hits[0].metadata == {"tag": "odd", "n": 1}
    assert hits[1].metadata == {"n": 2, "tags": ["a", "b"], "o": {"x": 1.5}}


def test_an_edited_record_is_never_answered_from_the_cache() -> None:
    before = _record(5, tag="old")
    assert wire.search_response(_result_of(Hit(before, 0, 0.5)), "r").hits[0].metadata["tag"] == "old"
    # The item cache hands out a new record after an edit (same id, other metadata).
    after = _record(5, tag="new")
    assert wire.search_response(_result_of(Hit(after, 0, 0.5)), "r").hits[0].metadata["tag"] == "new"
    assert wire.search_response(_result_of(Hit(before, 0, 0.5)), "r").hits[0].metadata["tag"] == "old"


def test_changing_a_response_leaves_the_cached_part_alone() -> None:
    record = _record(6, tag="kept")
    response = wire.search_response(_result_of(Hit(record, 0, 0.5, initial=0.5)), "r")
    response.hits[0].metadata["tag"] = "changed"
    response.hits[0].uri = "file:///elsewhere"
    again = wire.search_response(_result_of(Hit(record, 3, 0.25)), "r").hits[0]
    assert again.metadata["tag"] == "kept" and again.uri == "file:///6.png"
    # Scores and rank belong to the hit, not to the cached part.
    assert again.rank == 3 and again.score == pytest.approx(0.25) and not again.scores.HasField("initial")


def test_the_cache_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "ITEM_PARTS_MAX", 3)
    monkeypatch.setattr(wire, "_item_parts", {})
    records = [_record(i, i=i) for i in range(10)]
    for record in records:
        hit = wire.search_response(_result_of(Hit(record, 0, 0.5)), "r").hits[0]
        assert hit.metadata["i"] == record.item_id
        assert len(wire._item_parts) <= 3


def test_metadata_beyond_json_types_is_sent_as_text() -> None:
    record = _record(8, when=datetime.date(2026, 12, 1), n=3)
    hit = wire.search_response(_result_of(Hit(record, 0, 0.5)), "r").hits[0]
    assert hit.metadata["when"] == "2026-12-01" and hit.metadata["n"] == 3
