"""`clipsearch serve` as a real process: a real client talks to it, SIGTERM stops it gracefully."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from clipsearch.client import SearchClient
from clipsearch.searcher.synthetic import write_corpus
from clipsearch.storage.db import Database


def test_serve_subprocess_answers_every_rpc_and_stops_on_sigterm(tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = Database(f"sqlite:///{data / 'clipsearch.db'}")
    db.create_all()
    corpus = write_corpus(db, data, n_items=60, dim=16)
    db.dispose()
    config = tmp_path / "clipsearch.toml"
    config.write_text(
        f"""
data_dir = "{data}"
[spaces.default]
model = "local-dir:{tmp_path / "no-model"}"
[collections.synthetic]
spaces = ["default"]
[server]
port = 0
grace_seconds = 2.0
"""
    )
    env = {**os.environ, "CLIPSEARCH_CONFIG": str(config), "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "clipsearch", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"serving on (\S+):(\d+)", line)
        assert match, line + (process.stderr.read() if process.poll() is not None and process.stderr else "")
        target = f"127.0.0.1:{match.group(2)}"
        with SearchClient(target) as client:
            result = client.search(
                collection="synthetic", vector=[float(x) for x in corpus.centres[2]], top_k=4
            )
            assert len(result.hits) == 4
            assert client.get_item("synthetic", result.hits[0].id).uri == result.hits[0].uri
            assert [c.name for c in client.list_collections()] == ["synthetic"]
            try:
                client.encode("hello", space="default")
            except Exception as exc:  # no model here: the error must say so, not crash the server
                assert "model" in str(exc) or "encoder" in str(exc)
        process.send_signal(signal.SIGTERM)
        started = time.monotonic()
        rc = process.wait(timeout=30)
        assert rc == 0
        assert time.monotonic() - started < 15
        assert "stopped" in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
