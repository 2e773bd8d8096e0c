"""Index version directories: immutable, written atomically, verified before they are served.

    <data_dir>/indexes/<collection>/<space>/<unit>/v<N>/
        index.faiss      the serialized FAISS index (bytes; this module never imports faiss)
        manifest.json    fingerprint, dim, factory, metric, ntotal, sha256 of every file, build params
        <extra files>    e.g. ids.npy, written and checksummed the same way

The builder writes into a hidden temp directory next to the target, fsyncs every file and the
directory, then renames it to `v<N>` (atomic); an existing `v<N>` is never overwritten. The loader
recomputes every checksum and compares the manifest with the space the server is configured with:
a different model fingerprint or dimension refuses to serve (`Conflict`), a damaged file is
`DataCorrupt`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from clipsearch.errors import AlreadyExists, Conflict, DataCorrupt, InvalidRequest, NotFound
from clipsearch.storage.durable import fsync_dir, write_synced

INDEX_FILE = "index.faiss"
MANIFEST_FILE = "manifest.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True, slots=True)
class IndexManifest:
    collection: str
    space: str
    unit: str
    version: int
    fingerprint: str
    dim: int
    factory: str
    metric: str
    ntotal: int
    #: file name → sha256 hex digest (index.faiss and every extra file)
    checksums: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    build_params: dict[str, Any] = field(default_factory=dict)
    format: int = MANIFEST_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: Path) -> IndexManifest:
        try:
            data = json.loads(text)
            if data.get("format") != MANIFEST_FORMAT:
                raise DataCorrupt(f"{where}: unsupported manifest format {data.get('format')!r}")
            return cls(**data)
        except (json.JSONDecodeError, TypeError, AttributeError) as exc:
            raise DataCorrupt(f"{where}: unreadable index manifest ({exc})") from None


@dataclass(frozen=True, slots=True)
class LoadedIndex:
    path: Path
    manifest: IndexManifest
    index_bytes: bytes


def _safe_part(kind: str, value: str) -> str:
    if not value or value in (".", "..") or "/" in value or "\\" in value or "\x00" in value:
        raise InvalidRequest(f"invalid {kind} name for an index path: {value!r}")
    return value


def version_dir(data_dir: str | Path, collection: str, space: str, unit: str, version: int) -> Path:
    if version < 1:
        raise InvalidRequest(f"index version numbers start at 1 (got {version})")
    return (
        Path(data_dir)
        / "indexes"
        / _safe_part("collection", collection)
        / _safe_part("space", space)
        / _safe_part("unit", unit)
        / f"v{version}"
    )


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_version_dir(
    data_dir: str | Path,
    *,
    collection: str,
    space: str,
    unit: str,
    version: int,
    fingerprint: str,
    dim: int,
    factory: str,
    metric: str,
    ntotal: int,
    index_bytes: bytes | None = None,
    index_file: str | Path | None = None,
    extra_files: Mapping[str, bytes] | None = None,
    build_params: Mapping[str, Any] | None = None,
) -> tuple[Path, IndexManifest]:
    """Write a complete version directory atomically; give the index as bytes or as a file to copy."""
    if (index_bytes is None) == (index_file is None):
        raise InvalidRequest("give exactly one of index_bytes or index_file")
    target = version_dir(data_dir, collection, space, unit, version)
    if target.exists():
        raise AlreadyExists(f"index version directory {target} exists already (versions are immutable)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-v{version}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        if index_bytes is not None:
            write_synced(tmp / INDEX_FILE, index_bytes)
        else:
            shutil.copyfile(Path(index_file), tmp / INDEX_FILE)  # type: ignore[arg-type]
            with open(tmp / INDEX_FILE, "rb+") as fh:
                os.fsync(fh.fileno())
        for name, data in (extra_files or {}).items():
            if name in (INDEX_FILE, MANIFEST_FILE) or _safe_part("file", name) != name:
                raise InvalidRequest(f"extra file name {name!r} is reserved or invalid")
            write_synced(tmp / name, data)
        checksums = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        manifest = IndexManifest(
            collection=collection,
            space=space,
            unit=unit,
            version=version,
            fingerprint=fingerprint,
            dim=dim,
            factory=factory,
            metric=metric,
            ntotal=ntotal,
            checksums=checksums,
            created_at=datetime.now(UTC).isoformat(),
            build_params=dict(build_params or {}),
        )
        write_synced(tmp / MANIFEST_FILE, manifest.to_json().encode())
        fsync_dir(tmp)
        try:
            # rename(2) onto a missing name is atomic; onto an existing non-empty dir it fails.
            os.rename(tmp, target)
        except OSError:
            raise AlreadyExists(f"index version directory {target} appeared while writing") from None
        fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target, manifest


def read_manifest(path: str | Path) -> IndexManifest:
    directory = Path(path)
    manifest_path = directory / MANIFEST_FILE
    if not manifest_path.is_file():
        raise NotFound(f"no index version at {directory} (manifest.json missing)")
    return IndexManifest.from_json(manifest_path.read_text(encoding="utf-8"), manifest_path)


def _check_identity(
    directory: Path, manifest: IndexManifest, fingerprint: str | None, dim: int | None
) -> None:
    if fingerprint is not None and manifest.fingerprint != fingerprint:
        raise Conflict(
            f"index {directory} was built with model {manifest.fingerprint}, but space '{manifest.space}' "
            f"is now configured with {fingerprint}; refusing to serve it (rebuild the index)"
        )
    if dim is not None and manifest.dim != dim:
        raise Conflict(
            f"index {directory} has dim {manifest.dim}, the space has dim {dim}; refusing to serve it"
        )
    if INDEX_FILE not in manifest.checksums:
        raise DataCorrupt(f"index manifest {directory / MANIFEST_FILE} has no checksum for {INDEX_FILE}")


def _check_file(file: Path, expected: str, actual: str | None = None) -> None:
    if actual is None:
        if not file.is_file():
            raise DataCorrupt(f"index version {file.parent} is missing {file.name}")
        actual = sha256_file(file)
    if actual != expected:
        raise DataCorrupt(
            f"index file {file} is damaged: sha256 {actual[:12]}…, manifest says {expected[:12]}…"
        )


def verify_version_dir(
    path: str | Path, *, fingerprint: str | None = None, dim: int | None = None
) -> IndexManifest:
    """Check every checksum and, when given, that the index was built for this model and dim."""
    directory = Path(path)
    manifest = read_manifest(directory)
    _check_identity(directory, manifest, fingerprint, dim)
    for name, expected in manifest.checksums.items():
        _check_file(directory / _safe_part("file", name), expected)
    return manifest


def load_version_dir(
    path: str | Path, *, fingerprint: str | None = None, dim: int | None = None
) -> LoadedIndex:
    """Verify, then return the index bytes (hand them to `faiss.deserialize_index`).

    The index file is read once and the checksum is computed on exactly the bytes returned.
    """
    directory = Path(path)
    manifest = read_manifest(directory)
    _check_identity(directory, manifest, fingerprint, dim)
    index_path = directory / INDEX_FILE
    if not index_path.is_file():
        raise DataCorrupt(f"index version {directory} is missing {INDEX_FILE}")
    data = index_path.read_bytes()
    _check_file(index_path, manifest.checksums[INDEX_FILE], hashlib.sha256(data).hexdigest())
    for name, expected in manifest.checksums.items():
        if name != INDEX_FILE:
            _check_file(directory / _safe_part("file", name), expected)
    return LoadedIndex(path=directory, manifest=manifest, index_bytes=data)


def remove_version_dir(path: str | Path) -> None:
    """Delete a (retired) version directory: renamed aside first so a half-deleted dir is never loaded."""
    directory = Path(path)
    if not directory.exists():
        return
    trash = directory.parent / f".trash-{directory.name}-{uuid.uuid4().hex[:8]}"
    os.rename(directory, trash)
    shutil.rmtree(trash, ignore_errors=True)
