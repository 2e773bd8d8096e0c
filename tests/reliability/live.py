"""A live collection for the fault-injection tests: real images indexed with a tiny random-weight model
into real SQLite + vector store + FAISS, a TOML config for subprocess runs of the CLI, and probes that
ask a running server whether the active index still answers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import numpy as np

from clipsearch.config import Settings, load_settings
from clipsearch.proto.v1 import search_pb2 as pb
from clipsearch.proto.v1 import search_pb2_grpc as pb_grpc
from clipsearch.storage.db import Database

REPO = Path(__file__).resolve().parents[2]
COLLECTION = "photos"
#: fast reconnects, so a probe sees a restarted server within a fraction of a second.
CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 300),
]


def write_images(folder: Path, count: int, start: int = 0) -> list[Path]:
    """Small distinct PNGs (random pixels seeded by their number)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(start, start + count):
        pixels = np.random.default_rng(i).integers(0, 255, size=(40, 40, 3), dtype=np.uint8)
        path = folder / f"img{i:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def live_settings(root: Path, model_dir: Path, **overrides: Any) -> Settings:
    """One collection `photos` over `root/photos`, exact (Flat) indices, fast server polling."""
    data: dict[str, Any] = {
        "data_dir": str(root / "data"),
        "spaces": {
            "default": {
                "model": f"local-dir:{model_dir}",
                "precision": "fp32",
                "backend": "torch",
                "batch_size": 8,
            }
        },
        "collections": {
            COLLECTION: {"spaces": ["default"], "sources": [{"path": str(root / "photos")}], "index": "Flat"}
        },
        "indexer": {"decode_workers": 1, "prefetch_batches": 1, "vector_dtype": "float32"},
        "server": {"port": 0, "index_poll_seconds": 0.2, "grace_seconds": 0.5, "batch_window_ms": 1.0},
        "scheduler": {"lease_seconds": 30.0},
    }
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return load_settings(None, environ={}, overrides=data)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # JSON string escapes are valid TOML basic-string escapes
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = [f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items() if v is not None]
        return "{ " + ", ".join(items) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def write_config(path: Path, settings: Settings) -> Path:
    """A TOML file equivalent to `settings` (every section as an inline table)."""
    data = settings.model_dump(mode="json", exclude={"source"}, exclude_none=True)
    lines = [f"{key} = {_toml_value(value)}" for key, value in data.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def cli_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}


def cli_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "clipsearch", "--config", str(config), *args]


def run_cli(config: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cli_command(config, *args), cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=timeout
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class LiveCollection:
    settings: Settings
    config: Path
    photos: Path

    def db(self) -> Database:
        return Database(self.settings.database_url, busy_timeout_ms=self.settings.database.busy_timeout_ms)

    def query_vectors(self, count: int = 4) -> list[np.ndarray]:
        """Stored item vectors (queries that must find their own item)."""
        from clipsearch.indexer.layout import vector_store_dir
        from clipsearch.storage.vectors import VectorStore

        with VectorStore.open(vector_store_dir(self.settings.data_dir, "default")) as store:
            return [np.asarray(store.get([i]), dtype=np.float32)[0] for i in range(1, count + 1)]


def make_live_collection(root: Path, model_dir: Path, images: int = 12, **overrides: Any) -> LiveCollection:
    """Index `images` PNGs and activate version 1 (in-process: the runner API)."""
    from clipsearch.indexer.runner import build_indices, index_collection

    photos = root / "photos"
    write_images(photos, images)
    settings = live_settings(root, model_dir, **overrides)
    db = Database(settings.database_url)
    db.upgrade()  # as deployments do (the CLI's subprocesses expect the Alembic version table)
    try:
        index_collection(settings, db, COLLECTION)
        outcomes = build_indices(settings, db, COLLECTION, units=("item",))
        assert [o.status for o in outcomes] == ["activated"], outcomes
    finally:
        db.dispose()
    return LiveCollection(settings, write_config(root / "clipsearch.toml", settings), photos)


@dataclass(frozen=True, slots=True)
class Probe:
    """What one search answered: the status code name and the active item version it was served from."""

    code: str
    version: str = ""
    hits: int = 0


def probe(
    target: str, vector: np.ndarray, *, timeout: float = 5.0, channel: grpc.Channel | None = None
) -> Probe:
    """One vector search against `target`; never raises for an RPC status."""
    request = pb.SearchRequest(collection=COLLECTION, vector=pb.Vector(values=vector.tolist()), top_k=5)
    own = channel is None
    chan = channel or grpc.insecure_channel(target, options=CHANNEL_OPTIONS)
    try:
        reply = pb_grpc.SearchServiceStub(chan).Search(request, timeout=timeout)
    except grpc.RpcError as exc:
        return Probe(exc.code().name)
    finally:
        if own:
            chan.close()
    versions = sorted(ref.version for ref in reply.index_versions if ref.unit == "item")
    return Probe("OK", ",".join(versions), len(reply.hits))


def wait_for(predicate: Any, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
