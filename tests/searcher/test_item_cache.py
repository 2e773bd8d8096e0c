"""Hydrated items are cached: hits stay right; an edit shows at the next poll for changed assets, and
at the latest once the entry expires."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipsearch.searcher.item_cache import ItemCache
from clipsearch.searcher.storage_catalog import StorageCatalog
from clipsearch.searcher.synthetic import write_corpus
from clipsearch.storage import assets, catalog
from clipsearch.storage.db import Database


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _corpus(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'catalog.db'}")
    db.create_all()
    write_corpus(db, tmp_path / "data", collection="synthetic", n_items=40, dim=8, video_every=10**9)
    return db


def _age(db: Database) -> None:
    """As if the corpus were written a day ago (outside any look's overlap window)."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from clipsearch.storage.models import Asset

    with db.session() as session:
        session.execute(update(Asset).values(updated_at=datetime.now(UTC) - timedelta(days=1)))


def _retag(db: Database, item_id: int, tag: str) -> None:
    with db.session() as session:
        asset = assets.get_asset(session, item_id)
        collection_id = catalog.get_collection(session, "synthetic").id
        assets.upsert_asset(session, collection_id, asset.uri, asset.media_type, metadata={"tag": tag})


def test_cached_catalog_hydrates_like_the_uncached_one_and_sees_edits_after_the_ttl(
    tmp_path: Path,
) -> None:
    db = _corpus(tmp_path)
    try:
        fresh = StorageCatalog(db, item_cache_seconds=0)
        cached = StorageCatalog(db, item_cache_seconds=1.0)
        clock = Clock()
        cached._item_cache = ItemCache(1.0, clock=clock)
        ids = [3, 1, 2, 999_999]  # an unknown id is simply absent, cached or not
        first = cached.items("synthetic", ids)
        assert first == fresh.items("synthetic", ids)
        assert sorted(first) == [1, 2, 3]

        _retag(db, 2, "edited")
        assert fresh.items("synthetic", [2])[2].metadata == {"tag": "edited"}
        assert cached.items("synthetic", [1, 2])[2] == first[2]  # still within the ttl
        clock.now += 1.5
        assert cached.items("synthetic", [1, 2])[2].metadata == {"tag": "edited"}
    finally:
        db.dispose()


def test_entries_are_per_collection_and_the_cache_stays_bounded() -> None:
    from clipsearch.searcher.types import ItemRecord

    clock = Clock()
    cache = ItemCache(5.0, max_entries=3, clock=clock)
    records = [ItemRecord(item_id=i, collection="a", uri=f"u{i}", media_type="image") for i in range(3)]
    cache.put_many("a", records)
    assert cache.get_many("a", [0, 1, 7]) == ({0: records[0], 1: records[1]}, [7])
    assert cache.get_many("b", [0]) == ({}, [0])
    cache.put_many("a", [ItemRecord(item_id=9, collection="a", uri="u9", media_type="image")])
    found, missing = cache.get_many("a", [0, 9])
    assert list(found) == [9] and missing == [0]  # full → cleared before the new entry
    assert not ItemCache(0).enabled and ItemCache(0).get_many("a", [1]) == ({}, [1])


def test_an_edit_shows_at_the_next_poll_without_waiting_for_the_ttl(tmp_path: Path) -> None:
    db = _corpus(tmp_path)
    try:
        _age(db)
        cached = StorageCatalog(db, item_cache_seconds=3600.0)
        cached.forget_changed_items()  # the first look (the server's start)
        first = cached.items("synthetic", [1, 2, 3])
        _retag(db, 2, "edited")
        assert cached.items("synthetic", [2])[2] == first[2]  # cached, and no poll yet
        assert cached.item_cache_counts() == (1, 3)  # (hits, misses): what the metrics export
        cached.forget_changed_items()  # the next index poll
        again = cached.items("synthetic", [1, 2, 3])
        assert again[2].metadata == {"tag": "edited"}
        assert again[1] is first[1] and again[3] is first[3]  # unchanged items stay cached

        with db.session() as session:
            assets.mark_assets_deleted(session, [3])
        cached.forget_changed_items()
        assert cached.items("synthetic", [3])[3] is not first[3]  # read again: its row changed
        cached.forget_changed_items()  # later looks still see recent changes (the overlap): harmless
        assert cached.items("synthetic", [1])[1] is first[1]
    finally:
        db.dispose()


def test_a_bulk_change_clears_the_cache_instead_of_listing_every_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import clipsearch.searcher.storage_catalog as storage_catalog

    db = _corpus(tmp_path)
    try:
        _age(db)
        cached = StorageCatalog(db, item_cache_seconds=3600.0)
        cached.forget_changed_items()
        cached.items("synthetic", [1, 2, 3, 4])
        _retag(db, 5, "one")
        cached.forget_changed_items()
        assert len(cached._item_cache) == 4  # one change, not cached: nothing dropped
        monkeypatch.setattr(storage_catalog, "FORGET_AT_MOST", 2)
        for item_id in (6, 7):  # with 5: more changes than one look drops one by one
            _retag(db, item_id, "bulk")
        cached.forget_changed_items()
        assert len(cached._item_cache) == 0
    finally:
        db.dispose()


def test_changed_asset_ids(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    db = _corpus(tmp_path)
    try:
        _age(db)
        before = datetime.now(UTC)
        with db.read_session() as session:
            assert assets.changed_asset_ids(session, before, 100) == []
            assert len(assets.changed_asset_ids(session, before - timedelta(days=2), 10)) == 10
        _retag(db, 7, "edited")
        with db.read_session() as session:
            assert assets.changed_asset_ids(session, before, 100) == [7]
    finally:
        db.dispose()


def test_a_failed_look_is_made_up_by_the_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    import clipsearch.searcher.storage_catalog as storage_catalog
    from clipsearch.errors import Unavailable

    # No overlap: only the looks' own bounds decide what the next look sees.
    monkeypatch.setattr(storage_catalog, "CHANGE_OVERLAP", timedelta(0))
    db = _corpus(tmp_path)
    try:
        _age(db)
        cached = StorageCatalog(db, item_cache_seconds=3600.0)
        cached.forget_changed_items()
        first = cached.items("synthetic", [2])
        _retag(db, 2, "edited")
        real = assets.changed_asset_ids

        def unavailable(*_args: object) -> list[int]:
            raise Unavailable("database error")

        monkeypatch.setattr(assets, "changed_asset_ids", unavailable)
        with pytest.raises(Unavailable):
            cached.forget_changed_items()  # the poll logs it and carries on serving
        monkeypatch.setattr(assets, "changed_asset_ids", real)
        assert cached.items("synthetic", [2])[2] == first[2]  # still the old one
        cached.forget_changed_items()
        assert cached.items("synthetic", [2])[2].metadata == {"tag": "edited"}
    finally:
        db.dispose()
