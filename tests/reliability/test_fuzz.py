"""Bad requests against a real server: a fixed table of malformed requests with the status each must get,
then property-based fuzzing (hypothesis) over every field of the request messages.

Bad input must never be answered INTERNAL/UNKNOWN, must not crash the server, and memory must stay bounded.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clipsearch.proto.v1 import search_pb2 as pb
from clipsearch.proto.v1 import search_pb2_grpc as pb_grpc
from helpers.servers import ServerThread

from .badmedia import image_bytes, png_claiming
from .conftest import COLLECTION, DIM, MAX_REQUEST_BYTES
from .results import check_rows

OK = grpc.StatusCode.OK
INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
EXHAUSTED = grpc.StatusCode.RESOURCE_EXHAUSTED
#: what a bad request may be answered with; INTERNAL / UNKNOWN never.
ACCEPTABLE = {
    OK,
    INVALID,
    NOT_FOUND,
    EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.UNAVAILABLE,
}
#: filters are answered UNAVAILABLE while the storage filter compiler is not in the build.
FILTER_CODES = {OK, INVALID, grpc.StatusCode.UNAVAILABLE}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def stubs(server: ServerThread) -> Iterator[tuple[Any, Any]]:
    channel = grpc.insecure_channel(
        server.target, options=[("grpc.max_send_message_length", 8 * MAX_REQUEST_BYTES)]
    )
    yield pb_grpc.SearchServiceStub(channel), channel
    channel.close()


def _code(call: Callable[[], Any]) -> grpc.StatusCode:
    try:
        call()
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return OK


def _search(stub: Any, **fields: Any) -> grpc.StatusCode:
    fields.setdefault("collection", COLLECTION)
    return _code(lambda: stub.Search(pb.SearchRequest(**fields), timeout=30))


def _vec(values: list[float]) -> pb.Vector:
    return pb.Vector(values=values)


GOOD = [1.0] + [0.0] * (DIM - 1)
INJECTIONS = [
    "x' OR '1'='1",
    "'; DROP TABLE assets; --",
    '" OR 1=1 --',
    "1; SELECT * FROM sqlite_master",
]

#: (input, expected codes, request fields) — Search requests.
Case = tuple[str, set[grpc.StatusCode], dict[str, Any]]
_BASE_CASES: list[Case] = [
    ("unknown collection", {NOT_FOUND}, {"collection": "no-such-collection", "text": "x"}),
    ("empty collection name", {INVALID, NOT_FOUND}, {"collection": "", "text": "x"}),
    ("no query set", {INVALID}, {}),
    ("empty text", {INVALID}, {"text": ""}),
    ("whitespace-only text", {INVALID}, {"text": " \n\t "}),
    ("text over limits.max_query_chars", {INVALID}, {"text": "a " * 15_000}),
    ("text with NUL and control characters", {OK, INVALID}, {"text": "red\x00circle\x1b[0m"}),
    ("garbage image bytes", {INVALID}, {"image": b"\x89PNG not really"}),
    ("empty image", {INVALID}, {"image": b""}),
    ("truncated PNG image", {INVALID}, {"image": image_bytes("PNG")[:100]}),
    (
        "PNG header claiming 100000x100000 (bomb)",
        {INVALID, EXHAUSTED},
        {"image": png_claiming(100_000, 100_000)},
    ),
    ("request over limits.max_request_bytes", {EXHAUSTED}, {"image": b"\xff" * (2 * MAX_REQUEST_BYTES)}),
    ("garbage video bytes", {INVALID}, {"video": b"\x00\x00\x00\x18ftypmp42garbage"}),
    ("vector of wrong length", {INVALID}, {"vector": _vec([1.0, 2.0, 3.0])}),
    ("empty vector", {INVALID}, {"vector": _vec([])}),
    ("vector with NaN", {INVALID}, {"vector": _vec([math.nan] * DIM)}),
    ("vector with +inf", {INVALID}, {"vector": _vec([math.inf] + [0.0] * (DIM - 1))}),
    ("all-zero vector", {INVALID}, {"vector": _vec([0.0] * DIM)}),
    ("huge vector (1M floats)", {INVALID, EXHAUSTED}, {"vector": _vec([0.5] * 1_000_000)}),
    ("top_k = 2^32-1", {INVALID}, {"vector": _vec(GOOD), "top_k": 2**32 - 1}),
    ("offset = 2^32-1", {INVALID}, {"vector": _vec(GOOD), "offset": 2**32 - 1}),
    ("forged page_token", {INVALID}, {"vector": _vec(GOOD), "page_token": "eyJmb28iOiAxfQ=="}),
    ("unknown space", {INVALID, NOT_FOUND}, {"text": "x", "space": "no-such-space"}),
    ("unknown media type enum 99", {INVALID}, {"text": "x", "media_types": [99]}),
    ("min_score NaN", {INVALID}, {"text": "x", "min_score": math.nan}),
    (
        "frame alpha NaN",
        {INVALID},
        {"text": "x", "frame_scoring": pb.FrameScoringOptions(alpha=math.nan)},
    ),
    ("frame alpha 5", {INVALID}, {"text": "x", "frame_scoring": pb.FrameScoringOptions(alpha=5.0)}),
    ("rerank depth 2^32-1", {OK, INVALID}, {"text": "x", "rerank": pb.RerankOptions(depth=2**32 - 1)}),
    (
        "rerank in unknown space",
        {INVALID, NOT_FOUND},
        {"text": "x", "rerank": pb.RerankOptions(space="nope")},
    ),
    ("unknown item id", {NOT_FOUND}, {"item_id": "999999999"}),
    ("item id that is a file path", {NOT_FOUND}, {"item_id": "/etc/passwd"}),
    ("item id that is a file URI", {NOT_FOUND}, {"item_id": "file:///etc/passwd"}),
    ("language code garbage", {OK, INVALID}, {"text": "x", "language": "zz-\x00garbage"}),
    ("filter: invalid JSON", {INVALID}, {"text": "x", "filter": '{"tag": '}),
    ("filter: not an object", {INVALID, grpc.StatusCode.UNAVAILABLE}, {"text": "x", "filter": "[1, 2]"}),
    (
        "filter: unknown operator",
        {INVALID, grpc.StatusCode.UNAVAILABLE},
        {"text": "x", "filter": '{"field": "meta.tag", "regex": "."}'},
    ),
    (
        "filter: deeply nested",
        {INVALID, grpc.StatusCode.UNAVAILABLE},
        {"text": "x", "filter": '{"a": ' * 200 + "1" + "}" * 200},
    ),
]
SEARCH_CASES: list[Case] = (
    _BASE_CASES
    + [
        (
            f"filter injection in a value: {text!r}",
            {OK},
            {"vector": _vec(GOOD), "filter": json.dumps({"field": "meta.tag", "eq": text})},
        )
        for text in INJECTIONS
    ]
    + [
        (
            f"filter injection in a metadata key: {text!r}",
            {OK, INVALID},
            {"vector": _vec(GOOD), "filter": json.dumps({"field": "meta." + text, "exists": True})},
        )
        for text in INJECTIONS
    ]
    + [
        (
            f"filter injection as a field name: {text!r}",
            {INVALID},
            {"vector": _vec(GOOD), "filter": json.dumps({"field": text, "eq": 1})},
        )
        for text in INJECTIONS
    ]
)


#: known defects in other modules: input → (observed code, owner and what is wrong). The test fails when
#: such a case starts behaving correctly, so the list cannot go stale.
KNOWN_DEFECTS: dict[str, tuple[str, str]] = {}


def _row(
    name: str, expected: set[grpc.StatusCode], code: grpc.StatusCode, wrong: list[str]
) -> dict[str, str]:
    ok = code in expected
    defect = KNOWN_DEFECTS.get(name)
    if defect is not None:
        assert not ok, f"{name} now behaves correctly: remove it from KNOWN_DEFECTS"
        assert code.name == defect[0], (name, code.name)
    elif not ok:
        wrong.append(f"{name}: got {code.name}, expected {sorted(c.name for c in expected)}")
    return {
        "input": name,
        "expected": " | ".join(sorted(c.name for c in expected)),
        "observed": code.name,
        "result": "pass" if ok else f"KNOWN DEFECT ({defect[1]})" if defect else "FAIL",
    }


def test_fixed_bad_requests_get_the_right_status(stubs: tuple[Any, Any], server: ServerThread) -> None:
    stub, _ = stubs
    rows = []
    wrong: list[str] = []
    for name, expected, fields in SEARCH_CASES:
        rows.append(_row(name, expected, _search(stub, **fields), wrong))
    for name, expected, call in _other_calls(stub):
        rows.append(_row(name, expected, _code(call), wrong))
    # After all of that the server still answers a good query, and the database still holds the corpus.
    assert _search(stub, vector=_vec(GOOD), top_k=5) == OK
    reply = stub.Search(pb.SearchRequest(collection=COLLECTION, vector=_vec(GOOD), top_k=100), timeout=30)
    assert len(reply.hits) == 100, "the corpus lost items after injection attempts"
    # Injected text is data: it matches nothing, while an honest filter on the same field works.
    for name, _expected, fields in SEARCH_CASES:
        if name.startswith(("filter injection in a value", "filter injection in a metadata key")):
            if _search(stub, **fields) != OK:
                continue
            hits = stub.Search(pb.SearchRequest(collection=COLLECTION, top_k=50, **fields), timeout=30).hits
            assert len(hits) == 0, f"{name}: matched {len(hits)} items"
    honest = json.dumps({"field": "meta.tag", "eq": "even"})
    hits = stub.Search(
        pb.SearchRequest(collection=COLLECTION, vector=_vec(GOOD), top_k=20, filter=honest), timeout=30
    ).hits
    assert len(hits) == 20 and all(h.metadata["tag"] == "even" for h in hits)
    assert not wrong, "\n".join(wrong)
    check_rows(
        "fuzz",
        rows,
        title="Malformed requests (fixed table) against a real server",
        columns=["input", "expected", "observed", "result"],
    )


def _other_calls(stub: Any) -> list[tuple[str, set[grpc.StatusCode], Callable[[], Any]]]:
    return [
        (
            "GetItem: unknown id",
            {NOT_FOUND},
            lambda: stub.GetItem(pb.GetItemRequest(collection=COLLECTION, id="424242"), timeout=30),
        ),
        (
            "GetItem: path as id",
            {NOT_FOUND},
            lambda: stub.GetItem(pb.GetItemRequest(collection=COLLECTION, id="../../etc/passwd"), timeout=30),
        ),
        (
            "GetItem: unknown collection",
            {NOT_FOUND},
            lambda: stub.GetItem(pb.GetItemRequest(collection="nope", id="1"), timeout=30),
        ),
        ("Encode: no input", {INVALID}, lambda: stub.Encode(pb.EncodeRequest(), timeout=30)),
        (
            "Encode: unknown space",
            {INVALID, NOT_FOUND},
            lambda: stub.Encode(pb.EncodeRequest(space="nope", text="x"), timeout=30),
        ),
        (
            "Encode: garbage image",
            {INVALID},
            lambda: stub.Encode(pb.EncodeRequest(image=b"GIF89a\x00"), timeout=30),
        ),
        ("Encode: empty text", {INVALID}, lambda: stub.Encode(pb.EncodeRequest(text=""), timeout=30)),
    ]


# ---------------------------------------------------------------- property-based fuzzing

_floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32),
    st.sampled_from([0.0, -0.0, 1.0, math.nan, math.inf, -math.inf, 3.4e38]),
)
_text = st.one_of(
    st.text(max_size=200), st.sampled_from(["", " ", "a red circle", "\x00", "'; DROP TABLE assets; --"])
)
_filters = st.one_of(
    st.just(""),
    st.text(max_size=60),
    st.recursive(
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=10)),
        lambda children: st.one_of(
            st.lists(children, max_size=3),
            st.dictionaries(
                st.sampled_from(
                    [
                        "field",
                        "eq",
                        "in",
                        "gt",
                        "lte",
                        "prefix",
                        "exists",
                        "and",
                        "or",
                        "not",
                        "meta.tag",
                        "x'",
                    ]
                ),
                children,
                max_size=3,
            ),
        ),
        max_leaves=8,
    ).map(json.dumps),
)
_queries = st.one_of(
    st.builds(dict, text=_text),
    st.builds(
        dict,
        image=st.one_of(
            st.binary(max_size=512), st.just(image_bytes("PNG")), st.just(image_bytes("JPEG")[:300])
        ),
    ),
    st.builds(dict, video=st.binary(max_size=256)),
    st.builds(dict, item_id=st.one_of(st.text(max_size=20), st.integers(-5, 500).map(str))),
    st.builds(
        dict,
        vector=st.one_of(st.lists(_floats, max_size=40), st.lists(_floats, min_size=DIM, max_size=DIM)).map(
            _vec
        ),
    ),
    st.just({}),
)
_u32 = st.one_of(st.integers(0, 20), st.sampled_from([0, 1, 999, 1000, 1001, 10_000, 2**31, 2**32 - 1]))
_requests = st.builds(
    lambda query, **fields: {**query, **{k: v for k, v in fields.items() if v is not None}},
    _queries,
    collection=st.one_of(st.just(COLLECTION), st.text(max_size=12)),
    top_k=_u32,
    offset=_u32,
    page_token=st.one_of(st.just(""), st.text(max_size=40)),
    filter=_filters,
    space=st.sampled_from(["", "default", "nope", "long"]),
    media_types=st.lists(st.integers(0, 5), max_size=3),
    language=st.sampled_from(["", "en", "de", "xx", "\x00"]),
    min_score=st.one_of(st.none(), _floats),
    rerank=st.one_of(
        st.none(),
        st.builds(
            pb.RerankOptions, enabled=st.booleans(), depth=_u32, space=st.sampled_from(["", "default", "x"])
        ),
    ),
    frame_scoring=st.one_of(
        st.none(),
        st.builds(
            pb.FrameScoringOptions, enabled=st.booleans(), alpha=_floats, top_frames=_u32, delta=_floats
        ),
    ),
)


def fuzz(stub: Any, examples: int) -> Counter[str]:
    seen: Counter[str] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(_requests)
    def one(fields: dict[str, Any]) -> None:
        code = _search(stub, **fields)
        seen[code.name] += 1
        assert code in ACCEPTABLE, f"{code.name} for {fields!r}"

    one()
    return seen


def test_fuzzed_search_requests_never_internal_and_memory_bounded(stubs: tuple[Any, Any]) -> None:
    stub, _ = stubs
    fuzz(stub, 20)  # warm-up: model, caches, thread pool
    before = _rss_mb()
    seen = fuzz(stub, 100)
    grown = _rss_mb() - before
    assert sum(seen.values()) >= 100
    assert seen[INVALID.name] > 0, seen
    assert grown < 200, f"RSS grew {grown:.0f} MB over 100 fuzzed requests"
    # Still serving.
    assert _search(stub, vector=_vec(GOOD)) == OK


@pytest.mark.soak
def test_fuzz_soak(stubs: tuple[Any, Any]) -> None:
    stub, _ = stubs
    fuzz(stub, 50)
    before = _rss_mb()
    fuzz(stub, 3000)
    assert _rss_mb() - before < 300
