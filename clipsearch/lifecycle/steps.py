"""The real rebuild work: rescan + embed what changed → build stale indices → gate → activate → compact.

Decisions (docs/operations.md repeats them for operators):

- **Up to date.** A rebuild records, for every version it leaves active, a fingerprint of the live
  vector rows (sha1 of the sorted store row ids) in its Job. The next rebuild recomputes the
  fingerprint per (space, unit); where the active version's recorded fingerprint matches, that key
  is up to date and nothing is built. When every key is up to date the rebuild reports
  `up_to_date`, creates no version and activates nothing — so a cron every five minutes costs one
  directory scan and a few queries, and leaves the state exactly as it was. `force` builds anyway.
  A version made outside a rebuild (`clipsearch build`) has no recorded fingerprint, so the next
  rebuild builds once and records one. A rollback target built by an earlier rebuild stays active
  as long as the data it was built from has not changed.
- **Retraining.** `indexer.build.build_index` trains IVF/PQ quantizers from scratch on a bounded
  sample every time it builds, so every rebuilt version is trained on the current data: there is
  no stale quantizer to drift. The Job records growth and churn since the previously active
  version (`drift`) so operators can see why recall moved.
- **Recall gate.** Each built version must reach `indexer.recall_floor` recall@10 against exact
  search or it is marked failed and the active version stays; the rebuild then fails (exit 75).
- **Compaction.** After the builds, a space's vector store is compacted when more than
  `COMPACT_DEAD_FRACTION` of its rows are dead (tombstoned, or no longer referenced by any
  collection). A store that another process is writing is skipped and retried next time. Index
  versions hold their own vectors, so compaction never affects serving or rollback.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipsearch.config import Settings
from clipsearch.errors import Conflict, NotFound
from clipsearch.lifecycle.rebuild import REBUILD_JOB_KIND, RebuildContext, RebuildWork
from clipsearch.storage import catalog, jobs, vector_refs, versions

if TYPE_CHECKING:
    import numpy as np

    from clipsearch.indexer.encoders.base import Encoder

log = logging.getLogger(__name__)

UNITS = ("item", "frame")
#: compact a space's vector store when more than this fraction of its rows are dead.
COMPACT_DEAD_FRACTION = 0.1
#: how many earlier rebuild jobs are searched for the fingerprint of the active version.
FINGERPRINT_HISTORY = 200


def rows_fingerprint(row_ids: np.ndarray) -> str:
    import numpy as np

    return hashlib.sha1(np.ascontiguousarray(np.sort(row_ids), dtype="<i8").tobytes()).hexdigest()


def rebuild_work(settings: Settings, *, encoders: Mapping[str, Encoder] | None = None) -> RebuildWork:
    """The rebuild of a configured collection, for `Rebuilder` (encoders are loaded once and reused)."""
    loaded: dict[str, Encoder] = dict(encoders or {})

    def work(ctx: RebuildContext) -> Mapping[str, Any]:
        return _rebuild(settings, ctx, loaded)

    return work


def _encoders(settings: Settings, spaces: tuple[str, ...], loaded: dict[str, Encoder]) -> dict[str, Encoder]:
    from clipsearch.indexer.runner import load_encoders

    missing = [s for s in spaces if s not in loaded]
    if missing:
        loaded.update(load_encoders(settings, missing))
    return {s: loaded[s] for s in spaces}


def _rebuild(settings: Settings, ctx: RebuildContext, loaded: dict[str, Encoder]) -> dict[str, Any]:
    from clipsearch.indexer.pipeline import RunOptions
    from clipsearch.indexer.runner import index_collection

    config = settings.collection(ctx.collection)
    details: dict[str, Any] = {}
    with ctx.step("load_models"):
        encoders = _encoders(settings, tuple(config.spaces), loaded)
    ctx.progress(0.05, "scanning sources")
    with ctx.step("index"):
        summary = index_collection(
            settings,
            ctx.db,
            ctx.collection,
            RunOptions(full_scan=True),
            encoders=encoders,
            on_progress=lambda done, total: ctx.progress(0.05 + 0.55 * done / max(total, 1), "embedding"),
        )
    details["index"] = summary.as_dict()
    ctx.progress(0.6, "checking versions")

    with ctx.step("plan"):
        plan = _plan(ctx, tuple(config.spaces))
    stale = [key for key, state in plan.items() if not state["up_to_date"] or ctx.options.force_build]
    details["keys"] = {f"{space}/{unit}": state for (space, unit), state in plan.items()}
    built: list[dict[str, Any]] = []
    gated: list[str] = []
    if stale:
        with ctx.step("build"):
            for number, (space, unit) in enumerate(stale):
                ctx.check()  # never activate after losing the lease
                outcome = _build_one(settings, ctx, space, unit)
                built.append(outcome)
                if outcome["status"] == "gated":
                    gated.append(f"{space}/{unit}: {outcome['reason']}")
                ctx.progress(0.6 + 0.3 * (number + 1) / len(stale), f"built {space}/{unit}")
    details["built"] = built
    details["rows"] = _fingerprints_of_active(ctx, plan)
    with ctx.step("compact"):
        details["compaction"] = _compact(settings, ctx, tuple(config.spaces))
    activated = [b for b in built if b["status"] == "activated"]
    details["outcome"] = "gated" if gated else ("rebuilt" if activated else "up_to_date")
    if gated:
        details["error"] = "recall gate: " + "; ".join(gated)
    return details


def _plan(ctx: RebuildContext, spaces: tuple[str, ...]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (space, unit): live rows, their fingerprint, the active version, and whether it is current."""
    known = _known_fingerprints(ctx)
    plan: dict[tuple[str, str], dict[str, Any]] = {}
    with ctx.db.session() as session:
        for space in spaces:
            try:
                space_id = catalog.get_space(session, space).id
            except NotFound:
                continue  # nothing embedded in this space yet
            for unit in UNITS:
                rows = vector_refs.vector_rows(session, ctx.collection_id, space_id, unit, live_only=True)
                active = versions.get_active_version(session, ctx.collection_id, space_id, unit)
                if len(rows) == 0 and active is None:
                    continue
                fingerprint = rows_fingerprint(rows)
                previous_rows = int(active.ntotal) if active is not None else 0
                current = active is not None and known.get(active.id) == fingerprint
                plan[(space, unit)] = {
                    "rows": len(rows),
                    "fingerprint": fingerprint,
                    "active_version": active.version if active is not None else None,
                    "active_id": active.id if active is not None else None,
                    "up_to_date": current,
                    "drift": {
                        "growth": round((len(rows) - previous_rows) / previous_rows, 4)
                        if previous_rows
                        else None,
                    },
                }
    return plan


def _known_fingerprints(ctx: RebuildContext) -> dict[int, str]:
    """version id → rows fingerprint, from earlier rebuild jobs of this collection (newest wins)."""
    known: dict[int, str] = {}
    with ctx.db.session() as session:
        history = jobs.list_jobs(
            session,
            collection_id=ctx.collection_id,
            kind=REBUILD_JOB_KIND,
            states=("succeeded",),
            limit=FINGERPRINT_HISTORY,
        )
    for job in history:
        for version_id, fingerprint in (job.details.get("rows") or {}).items():
            known.setdefault(int(version_id), str(fingerprint))
    return known


def _build_one(settings: Settings, ctx: RebuildContext, space: str, unit: str) -> dict[str, Any]:
    from clipsearch.indexer.activate import build_one
    from clipsearch.indexer.layout import vector_store_dir
    from clipsearch.storage.vectors import VectorStore

    config = settings.collection(ctx.collection)
    with VectorStore.open(vector_store_dir(settings.data_dir, space)) as store:
        outcome = build_one(
            ctx.db,
            settings.data_dir,
            ctx.collection,
            space,
            unit,
            store,
            spec=config.index,
            memory_gb=settings.indexer.index_memory_gb,
            recall_floor=settings.indexer.recall_floor,
            device=settings.indexer.faiss_device,
        )
    return outcome.as_dict()


def _fingerprints_of_active(
    ctx: RebuildContext, plan: dict[tuple[str, str], dict[str, Any]]
) -> dict[str, str]:
    """version id → fingerprint for every version active now whose rows are the planned rows.

    Rows are re-read after the builds: a version built from them carries exactly their fingerprint.
    """
    out: dict[str, str] = {}
    with ctx.db.session() as session:
        for (space, unit), state in plan.items():
            space_id = catalog.get_space(session, space).id
            active = versions.get_active_version(session, ctx.collection_id, space_id, unit)
            if active is None:
                continue
            rows = vector_refs.vector_rows(session, ctx.collection_id, space_id, unit, live_only=True)
            fingerprint = rows_fingerprint(rows)
            built_now = active.id != state["active_id"]
            if built_now or state["up_to_date"]:
                out[str(active.id)] = fingerprint
    return out


def _compact(settings: Settings, ctx: RebuildContext, spaces: tuple[str, ...]) -> dict[str, Any]:
    from clipsearch.indexer.layout import vector_store_dir
    from clipsearch.storage.vectors import VectorStore

    report: dict[str, Any] = {}
    for space in spaces:
        path = vector_store_dir(settings.data_dir, space)
        if not (path / "store.json").exists():
            continue
        ctx.check()
        try:
            with ctx.db.session() as session:
                space_id = catalog.get_space(session, space).id
                live = vector_refs.live_row_ids(session, space_id)
            with VectorStore.open(path, writable=True) as store:
                # Dead = tombstoned rows + rows no collection refers to any more.
                tombstoned = _tombstones(path)
                total = len(store) + tombstoned
                dead = tombstoned + max(0, len(store) - len(live))
                fraction = dead / total if total else 0.0
                if fraction <= COMPACT_DEAD_FRACTION:
                    report[space] = {"compacted": False, "dead_fraction": round(fraction, 4)}
                    continue
                removed = store.compact(live_ids=live)
            report[space] = {"compacted": True, "removed": removed, "dead_fraction": round(fraction, 4)}
        except (Conflict, NotFound) as exc:  # another writer has the store: next time
            report[space] = {"compacted": False, "skipped": str(exc)}
            log.info("compaction of %s skipped: %s", space, exc)
    return report


def _tombstones(store_dir: Path) -> int:
    """Tombstoned rows waiting for compaction (`tombstones.log` holds one int64 per row)."""
    log_file = store_dir / "tombstones.log"
    return log_file.stat().st_size // 8 if log_file.exists() else 0
