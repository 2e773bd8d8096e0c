"""Where inputs come from: directories, JSONL/CSV manifests and plain text files.

Discovery is cheap (a `stat` per file); the media type is decided later by content sniffing in the
decode workers, so an unchanged corpus is rescanned without reading any file.

Manifest rows (JSONL objects or CSV rows with a header):
  - `path` (relative to the manifest's folder) or `text` (an inline document) — exactly one;
  - `id` — optional stable identity for inline texts (default: a hash of the text);
  - `type` — optional `image` / `video` / `text` override of content sniffing;
  - `caption` (string) or `captions` (object language → string, JSONL) or `caption_<lang>` columns;
  - `metadata` (object, JSONL) and every other field/column — kept as item metadata.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
import re
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from clipsearch.errors import InvalidRequest, NotFound
from clipsearch.indexer.failures import DecodeFailed
from clipsearch.indexer.sniff import MediaKind

log = logging.getLogger(__name__)

SourceKind = Literal["auto", "directory", "manifest", "text"]
_MANIFEST_SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".tsv": "tsv"}
_RESERVED = {"path", "text", "id", "type", "caption", "captions", "metadata"}
_DECLARED_TYPES = {"image", "video", "text"}


@dataclass(frozen=True, slots=True)
class SourceItem:
    """One input found by discovery (a file, or an inline manifest text)."""

    #: stable identity within a collection (resolved path, or `manifest#id` for inline texts).
    key: str
    #: the file to read; None for inline texts.
    path: Path | None
    #: an inline document (manifest `text` rows).
    text: str | None = None
    #: `image`/`video`/`text` when declared (manifest `type`, text sources); None = sniff the content.
    declared_kind: MediaKind | None = None
    size: int = 0
    mtime_ns: int = 0
    #: language code ("" = unspecified) → caption.
    captions: Mapping[str, str] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    #: where it came from (the source's path), for listings.
    origin: str = ""
    #: set when the entry is already known bad at discovery (bad manifest row, unreadable file).
    problem: DecodeFailed | None = None

    @property
    def quick_signature(self) -> str:
        """Size + mtime: the fast path for "unchanged" (a content hash confirms when it differs)."""
        if self.path is None:
            return "inline:" + inline_text_hash(self.text or "", self.captions, self.metadata)
        return f"{self.size}:{self.mtime_ns}"


def inline_text_hash(text: str, captions: Mapping[str, str], metadata: Mapping[str, Any]) -> str:
    payload = json.dumps(
        [text, dict(captions), dict(metadata)], sort_keys=True, ensure_ascii=False, default=str
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class Source:
    """A configured input: a directory, a manifest or a text file."""

    path: Path
    kind: SourceKind = "auto"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def resolved_kind(self) -> Literal["directory", "manifest", "text"]:
        if self.kind != "auto":
            return self.kind
        if self.path.is_dir():
            return "directory"
        if self.path.suffix.lower() in _MANIFEST_SUFFIXES:
            return "manifest"
        return "text"

    def iter_items(self) -> Iterator[SourceItem]:
        if not self.path.exists():
            raise NotFound(f"source {self.path} does not exist")
        kind = self.resolved_kind()
        if kind == "directory":
            yield from iter_directory(self.path, self.include, self.exclude)
        elif kind == "manifest":
            yield from iter_manifest(self.path)
        else:
            yield _file_item(self.path, declared_kind="text", origin=str(self.path))


def iter_sources(sources: Sequence[Source]) -> Iterator[SourceItem]:
    """Every item of every source once (the first source that names a key wins)."""
    seen: set[str] = set()
    for source in sources:
        for item in source.iter_items():
            if item.key in seen:
                continue
            seen.add(item.key)
            yield item


# ---------------------------------------------------------------- directories


def iter_directory(
    root: Path, include: Sequence[str] = (), exclude: Sequence[str] = ()
) -> Iterator[SourceItem]:
    """Files under `root`, recursively, in a stable order.

    Symlinks are followed, but each real directory is entered once (tracked by device+inode), so a
    link cycle ends; each real file is yielded once. Hidden names (leading dot) are skipped. Entries
    that cannot be read as files (dangling links, link loops, FIFOs, sockets, devices) are yielded with
    a `problem`, so the run records them as failed instead of silently skipping them.
    Globs match the path relative to `root` (`*` stays within a folder, `**` crosses folders); a
    glob without `/` matches the file name alone.
    """
    includes = [_GlobPattern(p) for p in include]
    excludes = [_GlobPattern(p) for p in exclude]
    visited_dirs: set[tuple[int, int]] = set()
    seen_files: set[tuple[int, int]] = set()
    root_stat = root.stat()
    visited_dirs.add((root_stat.st_dev, root_stat.st_ino))
    stack: list[tuple[Path, str]] = [(root, "")]
    origin = str(root)
    while stack:
        folder, rel_folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            log.warning("cannot list %s: %s", folder, exc.strerror)
            continue
        files: list[tuple[os.DirEntry[str], str]] = []
        broken: list[SourceItem] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = f"{rel_folder}{entry.name}"
            try:
                st = entry.stat(follow_symlinks=True)
            except OSError as exc:
                # A dangling link, a link loop or an unreadable entry: recorded as failed, not skipped.
                if _selected(rel, includes, excludes):
                    broken.append(_broken_entry(entry, rel, origin, exc))
                continue
            if stat.S_ISDIR(st.st_mode):
                ident = (st.st_dev, st.st_ino)
                if ident in visited_dirs:
                    log.debug("not re-entering %s (already visited: link loop or duplicate)", entry.path)
                    continue
                if any(p.excludes_dir(rel) for p in excludes):
                    continue
                visited_dirs.add(ident)
                stack.append((Path(entry.path), rel + "/"))
            elif stat.S_ISREG(st.st_mode):
                files.append((entry, rel))
            elif _selected(rel, includes, excludes):
                # A FIFO, socket or device: opening it could block or never end, so it is not read.
                problem = DecodeFailed("unsupported", f"{entry.path}: not a regular file")
                broken.append(
                    SourceItem(
                        key=_entry_key(entry),
                        path=Path(entry.path),
                        origin=origin,
                        problem=problem,
                        metadata={"relpath": rel},
                    )
                )
        yield from reversed(broken)
        for entry, rel in reversed(files):
            if not _selected(rel, includes, excludes):
                continue
            st = entry.stat(follow_symlinks=True)
            ident = (st.st_dev, st.st_ino)
            if ident in seen_files:
                continue
            seen_files.add(ident)
            path = Path(entry.path)
            yield SourceItem(
                key=str(path.resolve()),
                path=path,
                size=st.st_size,
                mtime_ns=st.st_mtime_ns,
                origin=origin,
                metadata={"relpath": rel},
            )


def _selected(rel: str, includes: Sequence[_GlobPattern], excludes: Sequence[_GlobPattern]) -> bool:
    if includes and not any(p.matches(rel) for p in includes):
        return False
    return not any(p.matches(rel) for p in excludes)


def _entry_key(entry: os.DirEntry[str]) -> str:
    """The entry's resolved path; its own absolute path when resolving fails (a link loop)."""
    try:
        return str(Path(entry.path).resolve())
    except (OSError, RuntimeError):
        return os.path.abspath(entry.path)


def _broken_entry(entry: os.DirEntry[str], rel: str, origin: str, exc: OSError) -> SourceItem:
    """An entry `stat` failed on, as an item that is already known bad (keyed by the link's own path)."""
    if isinstance(exc, FileNotFoundError):
        problem = DecodeFailed("not_found", f"{entry.path}: dangling link")
    else:
        problem = DecodeFailed("unreadable", f"{entry.path}: {exc.strerror or exc}")
    log.warning("%s", problem)
    return SourceItem(
        key=os.path.abspath(entry.path),
        path=Path(entry.path),
        origin=origin,
        problem=problem,
        metadata={"relpath": rel},
    )


class _GlobPattern:
    """A small glob: `*` and `?` stay inside one path segment, `**` crosses segments."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern.strip("/")
        self.name_only = "/" not in self.pattern
        self.regex = re.compile(_glob_to_regex(self.pattern))

    def matches(self, rel: str) -> bool:
        target = rel.rsplit("/", 1)[-1] if self.name_only else rel
        return self.regex.fullmatch(target) is not None

    def excludes_dir(self, rel_dir: str) -> bool:
        """An exclude pattern that names a folder (`cache`, `tmp/**`) prunes the whole folder."""
        if self.pattern.endswith("/**"):
            return re.fullmatch(_glob_to_regex(self.pattern[:-3]), rel_dir) is not None
        return self.matches(rel_dir)


def _glob_to_regex(pattern: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


# ---------------------------------------------------------------- manifests


def iter_manifest(path: Path) -> Iterator[SourceItem]:
    """Items named by a JSONL or CSV/TSV manifest; a bad row becomes an item with a `problem`."""
    fmt = _MANIFEST_SUFFIXES.get(path.suffix.lower(), "jsonl")
    try:
        content = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"manifest {path} is not UTF-8: {exc.reason} at byte {exc.start}") from None
    except OSError as exc:
        raise InvalidRequest(f"cannot read manifest {path}: {exc.strerror}") from None
    base = path.resolve().parent
    manifest_key = str(path.resolve())
    rows = _jsonl_rows(content) if fmt == "jsonl" else _csv_rows(content, "\t" if fmt == "tsv" else ",")
    for line_no, row in rows:
        where = f"{manifest_key}:{line_no}"
        if isinstance(row, DecodeFailed):
            yield SourceItem(key=where, path=None, origin=manifest_key, problem=row)
            continue
        try:
            yield _manifest_item(row, base, manifest_key, where)
        except DecodeFailed as exc:
            yield SourceItem(key=where, path=None, origin=manifest_key, problem=exc)


def _jsonl_rows(content: str) -> Iterator[tuple[int, dict[str, Any] | DecodeFailed]]:
    for line_no, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield line_no, DecodeFailed("bad_manifest_row", f"line {line_no}: invalid JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            yield line_no, DecodeFailed("bad_manifest_row", f"line {line_no}: expected a JSON object")
            continue
        yield line_no, row


def _csv_rows(content: str, delimiter: str) -> Iterator[tuple[int, dict[str, Any] | DecodeFailed]]:
    reader = csv.DictReader(io.StringIO(content), delimiter=delimiter)
    for row in reader:
        line_no = reader.line_num
        if None in row:
            yield line_no, DecodeFailed("bad_manifest_row", f"line {line_no}: more fields than the header")
            continue
        yield line_no, {k.strip(): v for k, v in row.items() if k and v not in (None, "")}


def _manifest_item(row: Mapping[str, Any], base: Path, manifest_key: str, where: str) -> SourceItem:
    raw_path, text = row.get("path"), row.get("text")
    if (raw_path is None) == (text is None):
        raise DecodeFailed("bad_manifest_row", f"{where}: needs exactly one of 'path' or 'text'")
    declared = row.get("type")
    if declared is not None and declared not in _DECLARED_TYPES:
        raise DecodeFailed(
            "bad_manifest_row", f"{where}: type must be image, video or text (got {declared!r})"
        )
    captions = _captions(row, where)
    metadata: dict[str, Any] = {}
    extra = row.get("metadata")
    if extra is not None:
        if not isinstance(extra, dict):
            raise DecodeFailed("bad_manifest_row", f"{where}: 'metadata' must be an object")
        metadata.update(extra)
    for key, value in row.items():
        if key not in _RESERVED and not key.startswith("caption_"):
            metadata[key] = value
    if text is not None:
        if not isinstance(text, str):
            raise DecodeFailed("bad_manifest_row", f"{where}: 'text' must be a string")
        ident = str(row["id"]) if row.get("id") not in (None, "") else inline_text_hash(text, {}, {})[:16]
        return SourceItem(
            key=f"{manifest_key}#{ident}",
            path=None,
            text=text,
            declared_kind="text",
            captions=captions,
            metadata=metadata,
            origin=manifest_key,
        )
    if not isinstance(raw_path, str) or not raw_path:
        raise DecodeFailed("bad_manifest_row", f"{where}: 'path' must be a non-empty string")
    file_path = Path(raw_path).expanduser()
    if not file_path.is_absolute():
        file_path = base / file_path
    if row.get("id") not in (None, ""):
        metadata["id"] = row["id"]
    return _file_item(file_path, declared, manifest_key, captions, metadata)


def _captions(row: Mapping[str, Any], where: str) -> dict[str, str]:
    captions: dict[str, str] = {}
    caption = row.get("caption")
    if caption is not None:
        if not isinstance(caption, str):
            raise DecodeFailed("bad_manifest_row", f"{where}: 'caption' must be a string")
        captions[""] = caption
    many = row.get("captions")
    if many is not None:
        if isinstance(many, dict) and all(isinstance(v, str) for v in many.values()):
            captions.update({str(k): v for k, v in many.items()})
        elif isinstance(many, list) and all(isinstance(v, str) for v in many):
            captions.update({("" if i == 0 else f"#{i}"): v for i, v in enumerate(many)})
        else:
            raise DecodeFailed("bad_manifest_row", f"{where}: 'captions' must map languages to strings")
    for key, value in row.items():
        if key.startswith("caption_") and isinstance(value, str):
            captions[key[len("caption_") :]] = value
    return captions


def _file_item(
    path: Path,
    declared_kind: Any,
    origin: str,
    captions: Mapping[str, str] | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> SourceItem:
    key = str(path.resolve())
    try:
        st = path.stat()
    except FileNotFoundError:
        problem = DecodeFailed("not_found", f"{path} does not exist")
        return SourceItem(key=key, path=path, origin=origin, problem=problem, metadata=metadata or {})
    except OSError as exc:
        problem = DecodeFailed("unreadable", f"{path}: {exc.strerror}")
        return SourceItem(key=key, path=path, origin=origin, problem=problem, metadata=metadata or {})
    return SourceItem(
        key=key,
        path=path,
        declared_kind=declared_kind,
        size=st.st_size,
        mtime_ns=st.st_mtime_ns,
        captions=captions or {},
        metadata=metadata or {},
        origin=origin,
    )
