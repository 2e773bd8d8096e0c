"""`clipsearch build`: FAISS indices per (collection, space, unit) from the vector store, behind the recall gate.

For each key: take the live row ids from SQL, their vectors from the store, build and tune the
index (`clipsearch.indexer.build`), write it to a new version directory, mark the version ready with
its measured metrics, and activate it atomically — unless its recall@10 is below
`indexer.recall_floor`, in which case the version is marked failed with the reason and the active one
stays.

Version directories have one format, `clipsearch.storage.index_files` (index.faiss + manifest.json with
the space's model fingerprint, dim and checksums); `write_built_version` is the only writer and the
searcher loads them with `load_version_dir`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipsearch.indexer.build import BuiltIndex, build_index

if TYPE_CHECKING:
    from clipsearch.storage.db import Database
    from clipsearch.storage.records import IndexVersionRecord
    from clipsearch.storage.vectors import VectorStore

log = logging.getLogger(__name__)

UNITS = ("item", "frame")


@dataclass(frozen=True, slots=True)
class BuildOutcome:
    collection: str
    space: str
    unit: str
    #: "activated", "gated" (below the recall floor), or "empty" (nothing to index).
    status: str
    version: int | None = None
    factory: str = ""
    ntotal: int = 0
    recall_at_10: float | None = None
    search_params: dict[str, int] | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "space": self.space,
            "unit": self.unit,
            "status": self.status,
            "version": self.version,
            "factory": self.factory,
            "ntotal": self.ntotal,
            "recall_at_10": self.recall_at_10,
            "search_params": self.search_params,
            "reason": self.reason,
        }


def build_collection(
    db: Database,
    data_dir: Path,
    collection: str,
    stores: dict[str, VectorStore],
    *,
    spec: str = "auto",
    units: Sequence[str] = UNITS,
    memory_gb: float = 8.0,
    recall_floor: float = 0.95,
    device: str = "auto",
    threads: int | None = None,
) -> list[BuildOutcome]:
    """Build (and, past the gate, activate) an index per space in `stores` and per unit."""
    outcomes = []
    for space, store in stores.items():
        for unit in units:
            outcomes.append(
                build_one(
                    db,
                    data_dir,
                    collection,
                    space,
                    unit,
                    store,
                    spec=spec,
                    memory_gb=memory_gb,
                    recall_floor=recall_floor,
                    device=device,
                    threads=threads,
                )
            )
    return outcomes


def build_one(
    db: Database,
    data_dir: Path,
    collection: str,
    space: str,
    unit: str,
    store: VectorStore,
    *,
    spec: str = "auto",
    memory_gb: float = 8.0,
    recall_floor: float = 0.95,
    device: str = "auto",
    threads: int | None = None,
) -> BuildOutcome:
    import numpy as np

    from clipsearch.storage import catalog, vector_refs, versions

    with db.session() as session:
        collection_id = catalog.get_collection(session, collection).id
        space_record = catalog.get_space(session, space)
        row_ids = vector_refs.vector_rows(session, collection_id, space_record.id, unit, live_only=True)
    if len(row_ids) == 0:
        return BuildOutcome(collection, space, unit, "empty", reason="no indexed vectors")
    store.refresh()
    vectors = store.get(row_ids).astype(np.float32)
    # The store may keep float16: re-normalise so inner product stays a cosine.
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    built = build_index(
        vectors,
        row_ids,
        spec=spec,
        memory_gb=memory_gb,
        recall_target=max(0.95, recall_floor),
        device=device,
        threads=threads,
    )
    record = write_built_version(
        db, data_dir, collection, space, unit, built, extra_metrics={"recall_floor": recall_floor}
    )
    number, faiss_ntotal = record.version, record.ntotal
    with db.session() as session:
        if built.recall_at_10 + 1e-9 < recall_floor:
            reason = (
                f"recall gate: recall@10 {built.recall_at_10:.4f} < floor {recall_floor:.4f} "
                f"({built.factory}, {built.search_params or 'exact'})"
            )
            versions.mark_version_failed(session, record.id, reason)
            log.warning("%s/%s/%s v%d not activated: %s", collection, space, unit, number, reason)
            status, why = "gated", reason
        else:
            versions.activate_version(session, record.id)
            status, why = "activated", built.reason
            log.info(
                "%s/%s/%s v%d active: %s, %d vectors, recall@10 %.4f",
                collection,
                space,
                unit,
                number,
                built.factory,
                faiss_ntotal,
                built.recall_at_10,
            )
    return BuildOutcome(
        collection,
        space,
        unit,
        status,
        number,
        built.factory,
        faiss_ntotal,
        built.recall_at_10,
        built.search_params,
        why,
    )


def write_built_version(
    db: Database,
    data_dir: Path,
    collection: str,
    space: str,
    unit: str,
    built: BuiltIndex,
    *,
    extra_metrics: Mapping[str, Any] | None = None,
) -> IndexVersionRecord:
    """Register a new version (`building`), write its directory atomically, mark it `ready`.

    The directory carries the space's model fingerprint, so a server configured with another model
    refuses to serve it. A failed write marks the version failed (and leaves no partial directory).
    """
    import faiss

    from clipsearch.storage import catalog, versions
    from clipsearch.storage.index_files import version_dir, write_version_dir

    with db.session() as session:
        collection_id = catalog.get_collection(session, collection).id
        space_record = catalog.get_space(session, space)
        number = versions.next_version_number(session, collection_id, space_record.id, unit)
        record = versions.create_version(
            session,
            collection_id,
            space_record.id,
            unit,
            factory=built.factory,
            path=str(version_dir(data_dir, collection, space, unit, number)),
            version=number,
        )
    metrics = {**built.metrics(), **dict(extra_metrics or {})}
    try:
        write_version_dir(
            data_dir,
            collection=collection,
            space=space,
            unit=unit,
            version=number,
            fingerprint=space_record.fingerprint,
            dim=built.dim,
            factory=built.factory,
            metric="ip",
            ntotal=built.ntotal,
            index_bytes=faiss.serialize_index(built.index).tobytes(),
            build_params=metrics,
        )
    except BaseException as exc:
        with db.session() as session:
            versions.mark_version_failed(session, record.id, f"writing the index failed: {exc}")
        raise
    with db.session() as session:
        return versions.mark_version_ready(session, record.id, ntotal=built.ntotal, metrics=metrics)
