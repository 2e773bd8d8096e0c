"""Where the indexer keeps files under `data_dir` (one place, so every component agrees).

<data_dir>/vectors/<space>/                                  the space's vector store
<data_dir>/indexes/<collection>/<space>/<unit>/v<N>/index.faiss   one index version
"""

from __future__ import annotations

from pathlib import Path


def vector_store_dir(data_dir: Path, space: str) -> Path:
    return data_dir / "vectors" / space


def index_version_dir(data_dir: Path, collection: str, space: str, unit: str, version: int) -> Path:
    return data_dir / "indexes" / collection / space / unit / f"v{version}"
