"""Metadata filters: a small typed language, parsed from JSON, compiled to parameterised SQL.

JSON form (one leaf per object; combine with "and" / "or" / "not"):

    {"field": "media_type", "eq": "image"}
    {"field": "meta.year", "gte": 2019, "lt": 2024}          range: any of gt / gte / lt / lte
    {"field": "meta.tag", "in": ["cat", "dog"]}
    {"field": "uri", "prefix": "s3://bucket/cats/"}
    {"field": "meta.license", "exists": true}
    {"and": [ ... ]}   {"or": [ ... ]}   {"not": { ... }}
    [ ... ]                                                   a list is an "and"

Fields are asset columns (`COLUMNS`) or `meta.<key>`, a top-level key of the asset's metadata JSON
(the whole rest after "meta." is the key, dots included).

Semantics (the same in SQL on SQLite and PostgreSQL, and in `matches`, the Python reference):
- Values are typed: a string only equals/compares with strings, a number with numbers (ints and
  floats compare numerically), a boolean equals only a boolean. A metadata value of another type
  (or missing) simply does not match; it is never an error and never coerced.
- Strings compare by code point (PostgreSQL uses COLLATE "C" for that).
- `prefix` is case-sensitive and literal (no wildcards).
- `exists` tests presence of the key (a JSON null counts as present) or, for a column, non-NULL.
- Every leaf is two-valued (never SQL NULL), so `not` is plain negation.
Keys and values always travel as bound parameters: they are data, never SQL.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, case, false, func, literal, not_, or_, true

from clipsearch.errors import InvalidRequest
from clipsearch.storage.records import AssetRecord

Scalar = str | int | float | bool
ColumnKind = Literal["str", "int", "float", "datetime"]

#: filterable asset columns and the kind of value they hold
COLUMNS: dict[str, ColumnKind] = {
    "id": "int",
    "uri": "str",
    "media_type": "str",
    "status": "str",
    "content_hash": "str",
    "size_bytes": "int",
    "mtime": "float",
    "duration_sec": "float",
    "width": "int",
    "height": "int",
    "created_at": "datetime",
    "updated_at": "datetime",
    "indexed_at": "datetime",
}
_NULLABLE = {"content_hash", "size_bytes", "mtime", "duration_sec", "width", "height", "indexed_at"}
META_PREFIX = "meta."
MAX_DEPTH = 32
MAX_NODES = 1000
MAX_IN = 1000
_RANGE_OPS = ("gt", "gte", "lt", "lte")
_LEAF_OPS = ("eq", "in", "prefix", "exists", *_RANGE_OPS)


@dataclass(frozen=True, slots=True)
class Field:
    """A column name, or a metadata key when `meta` is True."""

    name: str
    meta: bool = False

    def __str__(self) -> str:
        return f"{META_PREFIX}{self.name}" if self.meta else self.name


@dataclass(frozen=True, slots=True)
class Eq:
    field: Field
    value: Scalar


@dataclass(frozen=True, slots=True)
class In:
    field: Field
    values: tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class Range:
    field: Field
    gt: Scalar | None = None
    gte: Scalar | None = None
    lt: Scalar | None = None
    lte: Scalar | None = None


@dataclass(frozen=True, slots=True)
class Prefix:
    field: Field
    prefix: str


@dataclass(frozen=True, slots=True)
class Exists:
    field: Field
    present: bool = True


@dataclass(frozen=True, slots=True)
class And:
    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Or:
    children: tuple[Filter, ...]


@dataclass(frozen=True, slots=True)
class Not:
    child: Filter


Filter = Eq | In | Range | Prefix | Exists | And | Or | Not


# --------------------------------------------------------------------------- parsing
def parse_filter(obj: Mapping[str, Any] | Sequence[Any] | str | None) -> Filter | None:
    """Parse the JSON form (a string or already-decoded object). Empty input means no filter."""
    if obj is None:
        return None
    if isinstance(obj, str):
        if not obj.strip():
            return None
        try:
            obj = json.loads(obj)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"filter is not valid JSON: {exc.msg} at position {exc.pos}") from None
    if isinstance(obj, Mapping | list) and not obj:
        return None
    counter = [0]
    return _parse(obj, "filter", 0, counter)


def _parse(node: Any, where: str, depth: int, counter: list[int]) -> Filter:
    counter[0] += 1
    if depth > MAX_DEPTH or counter[0] > MAX_NODES:
        raise InvalidRequest(f"filter too large: at most {MAX_NODES} nodes nested {MAX_DEPTH} deep")
    if isinstance(node, list):
        return And(tuple(_parse(c, f"{where}[{i}]", depth + 1, counter) for i, c in enumerate(node)))
    if not isinstance(node, Mapping):
        raise InvalidRequest(f"{where}: expected an object or a list, got {type(node).__name__}")
    keys = set(node)
    for combinator in ("and", "or"):
        if combinator in keys:
            if keys != {combinator}:
                raise InvalidRequest(f"{where}: '{combinator}' must be the only key (got {sorted(keys)})")
            children = node[combinator]
            if not isinstance(children, list) or not children:
                raise InvalidRequest(f"{where}.{combinator}: expected a non-empty list")
            parsed = tuple(
                _parse(c, f"{where}.{combinator}[{i}]", depth + 1, counter) for i, c in enumerate(children)
            )
            return And(parsed) if combinator == "and" else Or(parsed)
    if "not" in keys:
        if keys != {"not"}:
            raise InvalidRequest(f"{where}: 'not' must be the only key (got {sorted(keys)})")
        return Not(_parse(node["not"], f"{where}.not", depth + 1, counter))
    return _parse_leaf(node, where)


def _parse_leaf(node: Mapping[str, Any], where: str) -> Filter:
    if "field" not in node:
        raise InvalidRequest(
            f"{where}: expected 'field' with one of {', '.join(_LEAF_OPS)}, or 'and'/'or'/'not' (got {sorted(node)})"
        )
    field = _parse_field(node["field"], where)
    ops = [k for k in node if k != "field"]
    unknown = [k for k in ops if k not in _LEAF_OPS]
    if unknown:
        raise InvalidRequest(f"{where}: unknown operator(s) {unknown}; use {', '.join(_LEAF_OPS)}")
    if not ops:
        raise InvalidRequest(f"{where}: field '{field}' needs an operator ({', '.join(_LEAF_OPS)})")
    range_ops = [k for k in ops if k in _RANGE_OPS]
    if len(ops) > 1 and len(range_ops) != len(ops):
        raise InvalidRequest(f"{where}: one operator per leaf (only gt/gte/lt/lte combine); got {ops}")
    op = ops[0]
    if op == "eq":
        return Eq(field, _check_value(field, node["eq"], f"{where}.eq"))
    if op == "in":
        values = node["in"]
        if not isinstance(values, list) or not values or len(values) > MAX_IN:
            raise InvalidRequest(f"{where}.in: expected a list of 1..{MAX_IN} values")
        return In(field, tuple(_check_value(field, v, f"{where}.in[{i}]") for i, v in enumerate(values)))
    if op == "prefix":
        prefix = node["prefix"]
        if not isinstance(prefix, str) or not prefix:
            raise InvalidRequest(f"{where}.prefix: expected a non-empty string")
        if not field.meta and COLUMNS[field.name] != "str":
            raise InvalidRequest(f"{where}: prefix needs a text field; '{field}' is {COLUMNS[field.name]}")
        return Prefix(field, prefix)
    if op == "exists":
        present = node["exists"]
        if not isinstance(present, bool):
            raise InvalidRequest(f"{where}.exists: expected true or false")
        return Exists(field, present)
    bounds = {k: _check_value(field, node[k], f"{where}.{k}") for k in range_ops}
    if any(isinstance(v, bool) for v in bounds.values()):
        raise InvalidRequest(f"{where}: range bounds must be numbers or strings, not booleans")
    kinds = {isinstance(v, str) for v in bounds.values()}
    if len(kinds) > 1:
        raise InvalidRequest(f"{where}: range bounds mix strings and numbers")
    if ("gt" in bounds and "gte" in bounds) or ("lt" in bounds and "lte" in bounds):
        raise InvalidRequest(f"{where}: give at most one lower (gt|gte) and one upper (lt|lte) bound")
    return Range(field, **bounds)


def _parse_field(raw: Any, where: str) -> Field:
    if not isinstance(raw, str) or not raw:
        raise InvalidRequest(f"{where}.field: expected a non-empty string")
    if raw.startswith(META_PREFIX):
        key = raw[len(META_PREFIX) :]
        if not key or len(key) > 256:
            raise InvalidRequest(f"{where}.field: metadata key must be 1-256 characters")
        # SQLite's JSON path syntax has no escape for these; refuse them rather than mis-address.
        if any(ch in key for ch in '"\\') or any(ord(ch) < 0x20 for ch in key):
            raise InvalidRequest(
                f"{where}.field: metadata key {key!r} must not contain quotes, backslashes or control characters"
            )
        return Field(key, meta=True)
    if raw not in COLUMNS:
        raise InvalidRequest(
            f"{where}.field: unknown field {raw!r}; use meta.<key> or one of {', '.join(COLUMNS)}"
        )
    return Field(raw)


def _check_value(field: Field, value: Any, where: str) -> Scalar:
    if isinstance(value, bool):
        if not field.meta:
            raise InvalidRequest(f"{where}: column '{field}' holds no booleans")
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidRequest(f"{where}: numbers must be finite")
        if not field.meta and COLUMNS[field.name] == "str":
            raise InvalidRequest(f"{where}: column '{field}' is text; got a number")
        return value
    if isinstance(value, str):
        if len(value) > 4096:
            raise InvalidRequest(f"{where}: string values are limited to 4096 characters")
        if not field.meta and COLUMNS[field.name] in ("int", "float"):
            raise InvalidRequest(f"{where}: column '{field}' is numeric; got a string")
        if not field.meta and COLUMNS[field.name] == "datetime":
            _parse_datetime(value, where)
        return value
    raise InvalidRequest(f"{where}: expected a string, number or boolean, got {type(value).__name__}")


def _parse_datetime(value: Scalar, where: str = "filter") -> datetime:
    """ISO 8601 (naive = UTC) or seconds since the epoch."""
    if isinstance(value, bool):
        raise InvalidRequest(f"{where}: expected a timestamp")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{where}: {value!r} is not an ISO 8601 timestamp") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# --------------------------------------------------------------------------- SQL
def compile_filter(filter_: Filter, dialect: str) -> ColumnElement[bool]:
    """A WHERE clause on `Asset` for 'sqlite' or 'postgresql' (every value a bound parameter)."""
    if dialect not in ("sqlite", "postgresql"):
        raise InvalidRequest(f"filters support sqlite and postgresql, not {dialect}")
    return _Compiler(dialect).node(filter_)


def _two_valued(expr: ColumnElement[bool]) -> ColumnElement[bool]:
    # NULL (unknown) becomes false so that NOT behaves like the Python reference.
    return case((expr, true()), else_=false())  # type: ignore[return-value]


class _Compiler:
    def __init__(self, dialect: str) -> None:
        self.pg = dialect == "postgresql"
        from clipsearch.storage.models import Asset

        self.asset = Asset

    def node(self, f: Filter) -> ColumnElement[bool]:
        if isinstance(f, And):
            return and_(*(self.node(c) for c in f.children))
        if isinstance(f, Or):
            return or_(*(self.node(c) for c in f.children))
        if isinstance(f, Not):
            return not_(self.node(f.child))
        if f.field.meta:
            return _two_valued(self.meta_leaf(f))
        expr = self.column_leaf(f)
        return _two_valued(expr) if f.field.name in _NULLABLE else expr

    # -- columns
    def column_leaf(self, f: Eq | In | Range | Prefix | Exists) -> ColumnElement[bool]:
        column = getattr(self.asset, f.field.name)
        kind = COLUMNS[f.field.name]
        if isinstance(f, Exists):
            return column.is_not(None) if f.present else column.is_(None)
        if isinstance(f, Prefix):
            return func.substr(column, 1, len(f.prefix)) == literal(f.prefix)
        convert = (lambda v: _parse_datetime(v)) if kind == "datetime" else (lambda v: v)
        if kind == "str" and self.pg:
            column = column.collate("C")
        if isinstance(f, Eq):
            return column == convert(f.value)
        if isinstance(f, In):
            return column.in_([convert(v) for v in f.values])
        return _range(column, f, convert)

    # -- metadata JSON
    def meta_leaf(self, f: Eq | In | Range | Prefix | Exists) -> ColumnElement[bool]:
        key = f.field.name
        if isinstance(f, Exists):
            present = self.json_type(key).is_not(None)
            return present if f.present else not_(present)
        if isinstance(f, Prefix):
            text = self.text_value(key)
            return func.substr(text, 1, len(f.prefix)) == literal(f.prefix)
        if isinstance(f, Eq):
            return self.meta_eq(key, f.value)
        if isinstance(f, In):
            return or_(*(self.meta_eq(key, v) for v in f.values))
        bound = next(v for v in (f.gt, f.gte, f.lt, f.lte) if v is not None)
        value = self.text_value(key) if isinstance(bound, str) else self.number_value(key)
        return _range(value, f, lambda v: v)

    def meta_eq(self, key: str, value: Scalar) -> ColumnElement[bool]:
        if isinstance(value, bool):
            if self.pg:
                return and_(
                    self.json_type(key) == "boolean", self.raw_text(key) == ("true" if value else "false")
                )
            return self.json_type(key) == ("true" if value else "false")
        if isinstance(value, str):
            return self.text_value(key) == literal(value)
        return self.number_value(key) == literal(value)

    def json_path(self, key: str) -> str:
        return f'$."{key}"'

    def json_type(self, key: str) -> ColumnElement[Any]:
        if self.pg:
            return func.jsonb_typeof(func.jsonb_extract_path(self.asset.meta, literal(key)))
        return func.json_type(self.asset.meta, literal(self.json_path(key)))

    def raw_text(self, key: str) -> ColumnElement[Any]:
        return func.jsonb_extract_path_text(self.asset.meta, literal(key))

    def text_value(self, key: str) -> ColumnElement[Any]:
        """The value as text when it is a JSON string, else NULL."""
        if self.pg:
            return case((self.json_type(key) == "string", self.raw_text(key)), else_=None).collate("C")
        return case(
            (self.json_type(key) == "text", func.json_extract(self.asset.meta, literal(self.json_path(key)))),
            else_=None,
        )

    def number_value(self, key: str) -> ColumnElement[Any]:
        """The value as a number when it is a JSON number, else NULL (CASE guards the cast)."""
        if self.pg:
            from sqlalchemy import Numeric, cast

            return case((self.json_type(key) == "number", cast(self.raw_text(key), Numeric)), else_=None)
        return case(
            (
                self.json_type(key).in_(["integer", "real"]),
                func.json_extract(self.asset.meta, literal(self.json_path(key))),
            ),
            else_=None,
        )


def _range(value: Any, f: Range, convert: Any) -> ColumnElement[bool]:
    parts = []
    if f.gt is not None:
        parts.append(value > convert(f.gt))
    if f.gte is not None:
        parts.append(value >= convert(f.gte))
    if f.lt is not None:
        parts.append(value < convert(f.lt))
    if f.lte is not None:
        parts.append(value <= convert(f.lte))
    return and_(*parts)


# --------------------------------------------------------------------------- reference
def matches(filter_: Filter, asset: AssetRecord) -> bool:
    """Evaluate a filter in Python: the reference semantics the SQL compiler must agree with."""
    if isinstance(filter_, And):
        return all(matches(c, asset) for c in filter_.children)
    if isinstance(filter_, Or):
        return any(matches(c, asset) for c in filter_.children)
    if isinstance(filter_, Not):
        return not matches(filter_.child, asset)
    field = filter_.field
    if field.meta:
        present = field.name in asset.metadata
        value = asset.metadata.get(field.name)
    else:
        value = getattr(asset, field.name)
        present = value is not None
        if COLUMNS[field.name] == "datetime" and isinstance(filter_, Eq | In | Range):
            return _match_value(filter_, value, convert=_parse_datetime)
    if isinstance(filter_, Exists):
        return present == filter_.present
    if isinstance(filter_, Prefix):
        return isinstance(value, str) and value.startswith(filter_.prefix)
    return _match_value(filter_, value, convert=lambda v: v)


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, datetime) or isinstance(b, datetime):
        return isinstance(a, datetime) and isinstance(b, datetime)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str)
    return isinstance(a, int | float) and isinstance(b, int | float)


def _match_value(f: Eq | In | Range, value: Any, convert: Any) -> bool:
    if value is None:
        return False
    if isinstance(f, Eq):
        target = convert(f.value)
        return _same_kind(value, target) and value == target
    if isinstance(f, In):
        return any(_same_kind(value, convert(v)) and value == convert(v) for v in f.values)
    checks = []
    for bound, op in ((f.gt, "gt"), (f.gte, "gte"), (f.lt, "lt"), (f.lte, "lte")):
        if bound is None:
            continue
        target = convert(bound)
        if not _same_kind(value, target) or isinstance(value, bool):
            return False
        checks.append(
            {"gt": value > target, "gte": value >= target, "lt": value < target, "lte": value <= target}[op]
        )
    return all(checks)
