"""`assets.write_assets`: the indexer's batched insert-or-update by uri, on real SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from clipsearch.errors import InvalidRequest
from clipsearch.storage import assets, catalog
from clipsearch.storage.db import Database
from clipsearch.storage.records import AssetWrite


def test_inserts_new_updates_existing_and_keeps_input_order(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.db'}")
    db.upgrade()
    with db.session() as session:
        cid = catalog.ensure_collection(session, "c").id
        old, _ = assets.upsert_asset(session, cid, "/b.png", "image", content_hash="h0")
    rows = [
        AssetWrite(
            "/a.png", "image", "indexed", content_hash="ha", size_bytes=10, mtime=1.5, width=4, height=3
        ),
        AssetWrite("/b.png", "image", "failed", error="corrupt: bad", metadata={"failure_reason": "corrupt"}),
        AssetWrite("/c.txt", "text", "indexed", text="hello", content_hash="hc"),
    ]
    with db.session() as session:
        ids = assets.write_assets(session, cid, rows)
    assert ids[1] == old.id and len(set(ids)) == 3
    with db.session() as session:
        got = assets.get_assets(session, ids)
    a, b, c = (got[i] for i in ids)
    assert (a.status, a.content_hash, a.size_bytes, a.mtime, a.width, a.height) == (
        "indexed",
        "ha",
        10,
        1.5,
        4,
        3,
    )
    assert a.indexed_at is not None
    assert (b.status, b.error, b.content_hash, b.metadata) == (
        "failed",
        "corrupt: bad",
        None,
        {"failure_reason": "corrupt"},
    )
    assert b.indexed_at is None
    assert (c.media_type, c.text) == ("text", "hello")
    with db.session() as session, pytest.raises(InvalidRequest, match="twice"):
        assets.write_assets(session, cid, [rows[0], rows[0]])
    with db.session() as session, pytest.raises(InvalidRequest):
        assets.write_assets(session, cid, [AssetWrite("/d", "image", "bogus")])  # type: ignore[arg-type]
    db.dispose()
