"""Index version directories: atomic, immutable, verified against the space before serving."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clipsearch.errors import AlreadyExists, Conflict, DataCorrupt, InvalidRequest, NotFound
from clipsearch.storage.index_files import (
    INDEX_FILE,
    MANIFEST_FILE,
    load_version_dir,
    read_manifest,
    remove_version_dir,
    verify_version_dir,
    version_dir,
    write_version_dir,
)

PAYLOAD = bytes(range(256)) * 100


def _write(tmp_path: Path, version: int = 1, **kw: object) -> Path:
    path, _ = write_version_dir(
        tmp_path,
        collection="photos",
        space="default",
        unit="item",
        version=version,
        fingerprint="open_clip:ViT-B-32:abc",
        dim=512,
        factory="HNSW32,Flat",
        metric="ip",
        ntotal=1000,
        index_bytes=PAYLOAD,
        extra_files={"ids.npy": b"\x01\x02"},
        build_params={"efConstruction": 40, "recall_at_10": 0.97},
        **kw,  # type: ignore[arg-type]
    )
    return path


def test_write_then_load_round_trips(tmp_path: Path) -> None:
    path = _write(tmp_path)
    assert path == tmp_path / "indexes" / "photos" / "default" / "item" / "v1"
    assert path == version_dir(tmp_path, "photos", "default", "item", 1)
    assert sorted(p.name for p in path.iterdir()) == sorted([INDEX_FILE, MANIFEST_FILE, "ids.npy"])
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp")]
    loaded = load_version_dir(path, fingerprint="open_clip:ViT-B-32:abc", dim=512)
    assert loaded.index_bytes == PAYLOAD
    m = loaded.manifest
    assert (m.factory, m.ntotal, m.metric, m.version) == ("HNSW32,Flat", 1000, "ip", 1)
    assert set(m.checksums) == {INDEX_FILE, "ids.npy"} and m.build_params["efConstruction"] == 40
    assert read_manifest(path) == m


def test_versions_are_immutable(tmp_path: Path) -> None:
    _write(tmp_path)
    with pytest.raises(AlreadyExists):
        _write(tmp_path)
    assert load_version_dir(version_dir(tmp_path, "photos", "default", "item", 1)).index_bytes == PAYLOAD


def test_model_mismatch_refuses_to_serve(tmp_path: Path) -> None:
    path = _write(tmp_path)
    with pytest.raises(Conflict, match="refusing to serve"):
        load_version_dir(path, fingerprint="open_clip:ViT-L-14:zzz", dim=512)
    with pytest.raises(Conflict, match="dim"):
        verify_version_dir(path, fingerprint="open_clip:ViT-B-32:abc", dim=768)


@pytest.mark.parametrize("victim", [INDEX_FILE, "ids.npy"])
def test_damaged_or_missing_files_are_data_corrupt(tmp_path: Path, victim: str) -> None:
    path = _write(tmp_path)
    data = bytearray((path / victim).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (path / victim).write_bytes(bytes(data))
    with pytest.raises(DataCorrupt, match="damaged"):
        load_version_dir(path)
    (path / victim).unlink()
    with pytest.raises(DataCorrupt, match="missing"):
        verify_version_dir(path)


def test_bad_manifest_and_paths(tmp_path: Path) -> None:
    path = _write(tmp_path)
    (path / MANIFEST_FILE).write_text("{ nope")
    with pytest.raises(DataCorrupt, match="unreadable"):
        load_version_dir(path)
    manifest = json.loads(json.dumps({"format": 99}))
    (path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(DataCorrupt, match="format"):
        read_manifest(path)
    with pytest.raises(NotFound):
        load_version_dir(tmp_path / "nowhere")
    with pytest.raises(InvalidRequest):
        version_dir(tmp_path, "../etc", "default", "item", 1)
    with pytest.raises(InvalidRequest):
        _write(tmp_path, version=2, index_file=tmp_path / "x")  # both bytes and a file


def test_copy_from_file_and_remove(tmp_path: Path) -> None:
    source = tmp_path / "built.faiss"
    source.write_bytes(PAYLOAD)
    path, manifest = write_version_dir(
        tmp_path,
        collection="c",
        space="s",
        unit="frame",
        version=3,
        fingerprint="fp",
        dim=4,
        factory="Flat",
        metric="ip",
        ntotal=1,
        index_file=source,
    )
    assert load_version_dir(path).index_bytes == PAYLOAD and manifest.unit == "frame"
    remove_version_dir(path)
    assert not path.exists() and list(path.parent.iterdir()) == []
