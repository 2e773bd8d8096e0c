"""Filters: parsing errors, injection as data, and SQL == Python reference (hypothesis) on both engines."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, inspect

from clipsearch.errors import InvalidRequest
from clipsearch.storage import assets, catalog
from clipsearch.storage.db import Database
from clipsearch.storage.filters import And, Eq, Field, Filter, Not, Or, Prefix, Range, matches, parse_filter
from clipsearch.storage.models import Asset

INJECTION = "'; DROP TABLE assets; --"


def _ids(db: Database, collection_id: int, f: Filter | None) -> set[int]:
    with db.session() as s:
        return {a.id for a in assets.list_assets(s, collection_id, where=f, limit=100_000)}


def test_parse_json_forms() -> None:
    text = json.dumps(
        {
            "and": [
                {"field": "media_type", "eq": "image"},
                {"field": "meta.year", "gte": 2019, "lt": 2024},
                {
                    "or": [
                        {"field": "uri", "prefix": "s3://b/"},
                        {"not": {"field": "meta.x.y", "exists": True}},
                    ]
                },
            ]
        }
    )
    parsed = parse_filter(text)
    assert isinstance(parsed, And)
    assert parsed.children[0] == Eq(Field("media_type"), "image")
    assert parsed.children[1] == Range(Field("year", meta=True), gte=2019, lt=2024)
    inner = parsed.children[2]
    assert isinstance(inner, Or) and inner.children[0] == Prefix(Field("uri"), "s3://b/")
    assert isinstance(inner.children[1], Not) and inner.children[1].child.field == Field("x.y", meta=True)  # type: ignore[union-attr]
    assert parse_filter("") is None and parse_filter({}) is None and parse_filter(None) is None
    assert isinstance(parse_filter([{"field": "status", "eq": "indexed"}]), And)


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("{not json", "not valid JSON"),
        ({"field": "nope", "eq": 1}, "unknown field"),
        ({"field": "meta.a", "like": "x"}, "unknown operator"),
        ({"field": "meta.a"}, "needs an operator"),
        ({"field": "meta.a", "eq": 1, "in": [1]}, "one operator"),
        ({"field": "meta.a", "gt": 1, "lt": "z"}, "mix strings and numbers"),
        ({"field": "meta.a", "gt": 1, "gte": 2}, "at most one lower"),
        ({"field": "meta.a", "eq": [1, 2]}, "expected a string, number or boolean"),
        ({"field": "meta.a", "eq": float("inf")}, "finite"),
        ({"field": "size_bytes", "eq": "big"}, "numeric"),
        ({"field": "uri", "eq": 3}, "text"),
        ({"field": "size_bytes", "prefix": "1"}, "text field"),
        ({"field": "created_at", "gt": "yesterday"}, "ISO 8601"),
        ({"field": 'meta.a"b', "eq": 1}, "quotes"),
        ({"and": []}, "non-empty list"),
        ({"and": [{"field": "uri", "eq": "a"}], "field": "x"}, "only key"),
        ({"field": "meta.a", "in": []}, "1..1000"),
        ({"field": "meta.a", "exists": "yes"}, "true or false"),
        (42, "expected an object"),
    ],
)
def test_malformed_filters_are_invalid_requests(bad: Any, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_filter(bad)


def test_too_deep_filter_is_refused() -> None:
    node: dict[str, Any] = {"field": "uri", "eq": "x"}
    for _ in range(40):
        node = {"not": node}
    with pytest.raises(InvalidRequest, match="too large"):
        parse_filter(node)


def test_columns_and_injection_are_data(db: Database) -> None:
    with db.session() as s:
        c = catalog.create_collection(s, "c")
        a, _ = assets.upsert_asset(
            s, c.id, INJECTION, "image", size_bytes=100, metadata={INJECTION: INJECTION}
        )
        b, _ = assets.upsert_asset(
            s, c.id, "s3://b/cat.jpg", "image", size_bytes=5000, metadata={"year": 2021}
        )
        t, _ = assets.upsert_asset(s, c.id, "doc-1", "text", metadata={"year": "2021", "lang": "de"})
    for text in (
        {"field": "uri", "eq": INJECTION},
        {"field": f"meta.{INJECTION}", "eq": INJECTION},
        {"field": f"meta.{INJECTION}", "exists": True},
        {"field": "uri", "prefix": "'; DROP"},
        {"field": "meta.x", "in": [INJECTION, "a' OR '1'='1"]},
    ):
        f = parse_filter(text)
        got = _ids(db, c.id, f)
        assert got == ({a.id} if text.get("field") != "meta.x" else set())
    assert "assets" in inspect(db.engine).get_table_names()
    # Typed values: the number 2021 and the string "2021" are different values.
    assert _ids(db, c.id, parse_filter({"field": "meta.year", "eq": 2021})) == {b.id}
    assert _ids(db, c.id, parse_filter({"field": "meta.year", "eq": "2021"})) == {t.id}
    assert _ids(db, c.id, parse_filter({"field": "size_bytes", "gte": 1000})) == {b.id}
    assert _ids(db, c.id, parse_filter({"not": {"field": "size_bytes", "gte": 1000}})) == {a.id, t.id}
    assert _ids(db, c.id, parse_filter({"field": "size_bytes", "exists": False})) == {t.id}
    assert _ids(db, c.id, parse_filter({"field": "media_type", "in": ["text", "video"]})) == {t.id}
    # Prefix is literal and case-sensitive (no LIKE wildcards, no SQLite LIKE case folding).
    assert _ids(db, c.id, parse_filter({"field": "uri", "prefix": "S3://"})) == set()
    assert _ids(db, c.id, parse_filter({"field": "uri", "prefix": "s3://b/%"})) == set()
    hour = datetime.now(UTC) - timedelta(hours=1)
    assert _ids(db, c.id, parse_filter({"field": "created_at", "gt": hour.isoformat()})) == {a.id, b.id, t.id}
    assert _ids(db, c.id, parse_filter({"field": "created_at", "lt": hour.timestamp()})) == set()


# ----------------------------------------------------------------------------- property test
KEYS = ["a", "b.c", INJECTION, "n"]
STRINGS = st.sampled_from(["", "a", "ab", "b", "B", "é", "a%", "a_b", INJECTION, "z"])
NUMBERS = st.one_of(st.integers(-5, 5), st.sampled_from([-1.5, 0.0, 0.5, 2.25, 1e-3, 3.0]))
SCALARS = st.one_of(STRINGS, NUMBERS, st.booleans())
JSON_VALUES = st.one_of(SCALARS, st.none(), st.lists(STRINGS, max_size=2), st.just({"k": 1}))
METADATA = st.dictionaries(st.sampled_from(KEYS), JSON_VALUES, max_size=4)
FIELDS = st.one_of(
    st.sampled_from([f"meta.{k}" for k in KEYS]), st.sampled_from(["uri", "size_bytes", "media_type"])
)


@st.composite
def leaves(draw: st.DrawFn) -> dict[str, Any]:
    field = draw(FIELDS)
    if field in ("uri", "media_type"):
        values = STRINGS if field == "uri" else st.sampled_from(["image", "text", "video"])
    elif field == "size_bytes":
        values = st.integers(-5, 5)
    else:
        values = SCALARS
    op = draw(st.sampled_from(["eq", "in", "range", "prefix", "exists"]))
    if op == "eq":
        return {"field": field, "eq": draw(values)}
    if op == "in":
        return {"field": field, "in": draw(st.lists(values, min_size=1, max_size=3))}
    if op == "exists":
        return {"field": field, "exists": draw(st.booleans())}
    if op == "prefix" and field != "size_bytes":
        return {"field": field, "prefix": draw(STRINGS.filter(bool))}
    bounds = (
        STRINGS
        if field in ("uri", "media_type")
        else (st.integers(-5, 5) if field == "size_bytes" else draw(st.sampled_from([STRINGS, NUMBERS])))
    )
    lower = draw(st.sampled_from([None, "gt", "gte"]))
    upper = draw(st.sampled_from([None if lower else "lt", "lt", "lte"]))
    leaf: dict[str, Any] = {"field": field}
    for op_name in (lower, upper):
        if op_name:
            leaf[op_name] = draw(bounds)
    return leaf


FILTERS = st.recursive(
    leaves(),
    lambda children: st.one_of(
        st.builds(lambda xs: {"and": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda xs: {"or": xs}, st.lists(children, min_size=1, max_size=3)),
        st.builds(lambda x: {"not": x}, children),
    ),
    max_leaves=6,
)
ROWS = st.lists(
    st.tuples(
        METADATA, st.one_of(st.none(), st.integers(-5, 5)), STRINGS, st.sampled_from(["image", "text"])
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=ROWS, raw=FILTERS)
def test_sql_agrees_with_python_reference(db: Database, rows: list[Any], raw: dict[str, Any]) -> None:
    f = parse_filter(raw)
    assert f is not None
    with db.session() as s:
        c = catalog.ensure_collection(s, "prop")
        s.execute(delete(Asset).where(Asset.collection_id == c.id))
        records = [
            assets.upsert_asset(s, c.id, f"{uri}#{i}", media, size_bytes=size, metadata=meta)[0]
            for i, (meta, size, uri, media) in enumerate(rows)
        ]
    expected = {r.id for r in records if matches(f, r)}
    assert _ids(db, c.id, f) == expected, raw
