"""Where a space's vector store lives under `data_dir` (one place, so every component agrees).

<data_dir>/vectors/<space>/     the space's vector store

Index version directories (`<data_dir>/indexes/<collection>/<space>/<unit>/v<N>/`) have their own
single definition: `clipsearch.storage.index_files.version_dir`.
"""

from __future__ import annotations

from pathlib import Path


def vector_store_dir(data_dir: Path, space: str) -> Path:
    return data_dir / "vectors" / space
