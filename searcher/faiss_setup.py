"""Process-wide FAISS settings for serving, applied once where the engine is composed (`app.py`).

FAISS scores a batch of `nq` queries on a flat index either with its own scan, one query after the
other, or with BLAS (one matrix product over the batch). Current FAISS (1.15 here) picks BLAS once
`nq × d` reaches `distance_compute_blas_threshold`, whose default, 128000, keeps every micro-batch
of the server (at most `server.max_batch` queries) on the scan: a batch of 31 queries on 10k × 512
then costs as much as 31 single searches, ~6× its cost through BLAS (`bench/hotpath.py`). A single
query stays faster on the scan, so the threshold sits above one query of any usual width.
"""

from __future__ import annotations

#: BLAS from this many query components per batch (4 queries at d=512, 16 at d=128); one query of up
#: to 2047 dimensions keeps the scan.
BATCH_BLAS_THRESHOLD = 2048


def use_blas_for_batches() -> None:
    """Lower FAISS's BLAS threshold to `BATCH_BLAS_THRESHOLD` (idempotent).

    Only lowered: older FAISS releases count queries, not query components, against a default of
    20, and there this leaves their setting alone.
    """
    import faiss

    if faiss.cvar.distance_compute_blas_threshold > BATCH_BLAS_THRESHOLD:
        faiss.cvar.distance_compute_blas_threshold = BATCH_BLAS_THRESHOLD
