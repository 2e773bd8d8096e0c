"""Subprocess for the crash test: appends vectors, then records them in SQL, forever (until killed).

Usage: python crash_writer.py DB_URL STORE_DIR START_K
Asset k gets `vector_for(k)` (deterministic) so the parent can check every committed row's content.
"""

from __future__ import annotations

import sys

import numpy as np

from clipsearch.storage import assets, catalog, vector_refs
from clipsearch.storage.db import Database
from clipsearch.storage.records import NewVectorRef
from clipsearch.storage.vectors import VectorStore

DIM = 16


def vector_for(k: int) -> np.ndarray:
    return np.random.default_rng(k).standard_normal(DIM).astype(np.float32)


def main() -> None:
    url, store_dir, start = sys.argv[1], sys.argv[2], int(sys.argv[3])
    db = Database(url)
    store = VectorStore.create(store_dir, DIM, "float16", chunk_rows=24)
    with db.session() as s:
        collection = catalog.ensure_collection(s, "crash")
        space = catalog.ensure_space(s, "default", fingerprint="fp", dim=DIM, context_length=77)
    k = start
    while True:
        batch = list(range(k, k + 5))
        ids = store.append(np.stack([vector_for(j) for j in batch]))  # durable before SQL points at it
        with db.session() as s:
            refs = []
            for j, row_id in zip(batch, ids.tolist(), strict=True):
                asset, _ = assets.upsert_asset(s, collection.id, f"asset-{j}", "image")
                refs.append(NewVectorRef(asset.id, row_id))
            vector_refs.add_vector_refs(s, space.id, refs)
        # Every few batches forget one asset: tombstone after the SQL commit, like the indexer does.
        if k % 20 == 0:
            with db.session() as s:
                victim = assets.find_asset(s, collection.id, f"asset-{k}")
                assert victim is not None
                gone = vector_refs.remove_vector_refs(s, [victim.id])
                assets.mark_assets_deleted(s, [victim.id])
            store.delete(gone)
        k += 5
        sys.stdout.write(f"{k}\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
