"""Bulk asset inserts: ids in input order, the same rows as per-row upserts, duplicates refused."""

from __future__ import annotations

import pytest

from clipsearch.errors import AlreadyExists, InvalidRequest
from clipsearch.storage import assets, catalog
from clipsearch.storage.db import Database
from clipsearch.storage.records import NewAsset


def test_insert_assets_returns_ids_in_order_and_stores_every_field(db: Database) -> None:
    new = [
        NewAsset(
            f"file:///{i:04d}.png",
            "video" if i % 3 == 0 else "image",
            {"n": i},
            f"t{i}",
            2.0 if i % 3 == 0 else None,
        )
        for i in range(1200)  # more rows than one multi-row INSERT batch
    ]
    with db.session() as session:
        coll = catalog.ensure_collection(session, "bulk")
        ids = assets.insert_assets(session, coll.id, new, status="indexed")
    assert len(ids) == len(new) == len(set(ids))
    with db.session() as session:
        stored = assets.get_assets(session, ids)
        counts = assets.count_assets(session, coll.id)
    for asset_id, asset in zip(ids, new, strict=True):
        record = stored[asset_id]
        assert (record.uri, record.media_type, record.metadata, record.text, record.duration_sec) == (
            asset.uri,
            asset.media_type,
            asset.metadata,
            asset.text,
            asset.duration_sec,
        )
        assert record.status == "indexed" and record.indexed_at is not None
    assert counts.get("indexed") == len(new)


def test_insert_assets_refuses_existing_uris_and_bad_values(db: Database) -> None:
    with db.session() as session:
        coll = catalog.ensure_collection(session, "bulk")
        assets.upsert_asset(session, coll.id, "file:///a.png", "image")
    with pytest.raises(AlreadyExists), db.session() as session:
        assets.insert_assets(
            session, coll.id, [NewAsset("file:///b.png", "image"), NewAsset("file:///a.png", "image")]
        )
    with db.session() as session:
        assert assets.find_asset(session, coll.id, "file:///b.png") is None  # nothing half-written
        with pytest.raises(InvalidRequest, match="media type"):
            assets.insert_assets(session, coll.id, [NewAsset("file:///c.png", "sound")])  # type: ignore[arg-type]
        with pytest.raises(InvalidRequest, match="status"):
            assets.insert_assets(session, coll.id, [NewAsset("file:///c.png", "image")], status="nope")
        assert assets.insert_assets(session, coll.id, []) == []
