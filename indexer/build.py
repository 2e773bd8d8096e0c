"""FAISS index builds: choose a structure, train on a sample, add with ids, tune, measure recall.

Every index uses inner product on L2-normalised vectors and carries the vector-store row ids as its
labels (`IndexIDMap2` + `add_with_ids`). Search parameters (`nprobe`, `efSearch`) are tuned at build
time on held-out queries — stored vectors with a little noise — against exact search, so the
measured recall@10 travels with the version and a version below the floor is never activated.
Tuning uses two independent query samples and picks the smallest value whose recall reaches the
target plus `TUNING_MARGIN` on both, so the choice generalises to queries it was not tuned on; the
recall recorded is the lower of the two.

Auto rules (after autofaiss), for N vectors of dimension d and a memory budget B:
  - N <= FLAT_MAX                       → Flat (exact)
  - N·d·4 bytes (+ lists) fits B        → IVF{K},Flat,        K ≈ 4·√N
  - N·d·2 fits B                        → IVF{K},SQfp16
  - N·d fits B                          → IVF{K},SQ8
  - otherwise                           → OPQ{m}_{4m},IVF{K}_HNSW32,PQ{m}x8  (m = d/4 sub-quantizers, capped)
For K > 2^16 the coarse quantizer is an HNSW graph (`IVF{K}_HNSW32`) so assignment stays fast.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clipsearch.errors import InvalidRequest

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

FLAT_MAX = 30_000
RECALL_K = 10
#: held-out tuning queries (capped so exact ground truth stays cheap at millions of vectors).
TUNING_QUERIES = 500
#: noise added to a stored vector to make a tuning query (relative to its unit norm).
QUERY_NOISE = 0.3
#: recall above the target that both tuning samples must reach (sampling error of 500 queries ≈ 0.005).
TUNING_MARGIN = 0.01
_NPROBE_STEPS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048, 4096)
_EF_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 2048)


@dataclass(frozen=True, slots=True)
class IndexPlan:
    factory: str
    reason: str


@dataclass(frozen=True, slots=True)
class BuiltIndex:
    """A built, tuned index and what was measured about it."""

    index: Any  # faiss.Index (kept untyped: faiss is imported lazily)
    factory: str
    ntotal: int
    dim: int
    #: tuned search parameters, e.g. {"nprobe": 32} (empty for exact indices).
    search_params: dict[str, int]
    recall_at_10: float
    tuning_queries: int
    train_seconds: float
    add_seconds: float
    tune_seconds: float
    device: str
    bytes_per_vector: float
    reason: str = ""
    #: recall at every parameter value tried, for the record.
    sweep: dict[str, float] = field(default_factory=dict)

    def metrics(self) -> dict[str, Any]:
        """What goes into the index version's `metrics`."""
        return {
            "factory": self.factory,
            "ntotal": self.ntotal,
            "dim": self.dim,
            "search_params": dict(self.search_params),
            "recall_at_10": round(self.recall_at_10, 4),
            "tuning_queries": self.tuning_queries,
            "train_seconds": round(self.train_seconds, 3),
            "add_seconds": round(self.add_seconds, 3),
            "tune_seconds": round(self.tune_seconds, 3),
            "device": self.device,
            "bytes_per_vector": round(self.bytes_per_vector, 1),
            "reason": self.reason,
            "sweep": self.sweep,
        }


def choose_index(n: int, dim: int, memory_gb: float) -> IndexPlan:
    """The auto rule: the most accurate structure that fits the memory budget and stays fast."""
    if n <= FLAT_MAX:
        return IndexPlan("Flat", f"{n} vectors <= {FLAT_MAX}: exact search is fast enough")
    budget = memory_gb * 1024**3
    lists = _nlist(n)
    coarse = f"IVF{lists}_HNSW32" if lists > 65_536 else f"IVF{lists}"
    overhead = n * 8 * 2  # ids in the inverted lists + the IDMap2 reverse map
    if n * dim * 4 + overhead <= budget:
        return IndexPlan(
            f"{coarse},Flat", f"{n} vectors fit as float32 in {memory_gb:g} GB: IVF-Flat, K={lists}"
        )
    if n * dim * 2 + overhead <= budget:
        return IndexPlan(f"{coarse},SQfp16", f"float16 fits {memory_gb:g} GB: IVF-SQfp16, K={lists}")
    if n * dim + overhead <= budget:
        return IndexPlan(f"{coarse},SQ8", f"8-bit scalar codes fit {memory_gb:g} GB: IVF-SQ8, K={lists}")
    m = _pq_subquantizers(dim)
    return IndexPlan(
        f"OPQ{m}_{4 * m},{coarse},PQ{m}x8",
        f"only product-quantised codes fit {memory_gb:g} GB: OPQ/IVF-PQ with {m} bytes/vector, K={lists}",
    )


def _nlist(n: int) -> int:
    """≈ 4·√N, rounded to a power of two, at least 16 and at most N/39 (faiss wants ≥ 39 points per list)."""
    target = 4 * math.sqrt(n)
    lists = 2 ** round(math.log2(max(target, 16)))
    return max(16, min(lists, 2 ** int(math.log2(max(n // 39, 16)))))


def _pq_subquantizers(dim: int) -> int:
    for m in (64, 48, 32, 24, 16, 12, 8, 4, 2, 1):
        if m <= max(1, dim // 4) and dim % m == 0:
            return m
    return 1


def normalise_factory(spec: str) -> str:
    """`auto` stays; a factory string loses a leading `IDMap2,` (we always add it) and spaces."""
    spec = spec.strip()
    if not spec:
        raise InvalidRequest("index spec must be 'auto' or a faiss index_factory string")
    for prefix in ("IDMap2,", "IDMap,"):
        if spec.startswith(prefix):
            spec = spec[len(prefix) :]
    return spec


def build_index(
    vectors: np.ndarray,
    ids: np.ndarray,
    *,
    spec: str = "auto",
    memory_gb: float = 8.0,
    recall_target: float = 0.95,
    device: str = "auto",
    seed: int = 0,
    threads: int | None = None,
) -> BuiltIndex:
    """Build, train, fill and tune an index for `vectors` labelled by `ids` (int64 row ids).

    `device`: `auto` uses a GPU for training when faiss-gpu and a CUDA device are present, `cpu`
    never does, `cuda`/`cuda:N` insists (an error if there is none).
    """
    import faiss
    import numpy as np

    data = np.ascontiguousarray(vectors, dtype=np.float32)
    labels = np.ascontiguousarray(ids, dtype=np.int64)
    if data.ndim != 2 or data.shape[0] != labels.shape[0]:
        raise InvalidRequest(f"vectors {data.shape} and ids {labels.shape} do not match")
    n, dim = data.shape
    if n == 0:
        raise InvalidRequest("no vectors to index")
    if len(np.unique(labels)) != n:
        raise InvalidRequest("vector ids must be unique")
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    if spec == "auto":
        plan = choose_index(n, dim, memory_gb)
    else:
        plan = IndexPlan(normalise_factory(spec), "explicit index_factory string")
    log.info("index for %d×%d vectors: %s (%s)", n, dim, plan.factory, plan.reason)
    try:
        inner = faiss.index_factory(dim, plan.factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise InvalidRequest(
            f"invalid faiss index_factory string {plan.factory!r}: {_first_line(exc)}"
        ) from None
    gpu = _gpu_id(device)

    started = time.perf_counter()
    if not inner.is_trained:
        sample = _training_sample(data, inner, seed)
        inner = _train(inner, sample, gpu)
        log.info(
            "trained on %d vectors in %.1f s (%s)", len(sample), time.perf_counter() - started, _where(gpu)
        )
    train_seconds = time.perf_counter() - started

    index = faiss.IndexIDMap2(inner)
    started = time.perf_counter()
    for start in range(0, n, 65_536):
        index.add_with_ids(data[start : start + 65_536], labels[start : start + 65_536])
    add_seconds = time.perf_counter() - started

    started = time.perf_counter()
    params, recall, queries, sweep = tune_search_params(index, data, recall_target, seed)
    tune_seconds = time.perf_counter() - started
    log.info(
        "recall@10 %.4f with %s on %d held-out queries (target %.2f)",
        recall,
        params or "exact search",
        queries,
        recall_target,
    )
    return BuiltIndex(
        index=index,
        factory=plan.factory,
        ntotal=int(index.ntotal),
        dim=dim,
        search_params=params,
        recall_at_10=recall,
        tuning_queries=queries,
        train_seconds=train_seconds,
        add_seconds=add_seconds,
        tune_seconds=tune_seconds,
        device=_where(gpu),
        bytes_per_vector=index_bytes(index) / max(n, 1),
        reason=plan.reason,
        sweep=sweep,
    )


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return next((line for line in lines if "Error" in line or "error" in line), lines[-1] if lines else "")


def _training_sample(data: np.ndarray, inner: Any, seed: int) -> np.ndarray:
    """Enough points for k-means (40 per list) and PQ codebooks, never the whole set beyond that."""
    import faiss
    import numpy as np

    ivf = faiss.try_extract_index_ivf(inner)
    wanted = 40 * int(ivf.nlist) if ivf is not None else 0
    wanted = max(wanted, 32_768)
    if len(data) <= wanted:
        return data
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(data), size=wanted, replace=False))
    return np.ascontiguousarray(data[chosen])


def _gpu_id(device: str) -> int | None:
    """Which GPU to train on, or None for CPU; the decision is logged by the caller."""
    import faiss

    has_gpu_build = hasattr(faiss, "StandardGpuResources")
    gpus = faiss.get_num_gpus() if has_gpu_build else 0
    if device == "cpu":
        return None
    if device == "auto":
        return 0 if gpus > 0 else None
    if device.startswith("cuda"):
        index = int(device.partition(":")[2] or 0)
        if gpus <= index:
            from clipsearch.errors import Unavailable

            raise Unavailable(
                f"faiss_device={device!r} but faiss sees {gpus} GPU(s)"
                + ("" if has_gpu_build else " (faiss-cpu is installed: pip install 'clipsearch[gpu]')")
            )
        return index
    raise InvalidRequest(f"faiss device must be auto, cpu, cuda or cuda:N (got {device!r})")


def _where(gpu: int | None) -> str:
    return "cpu" if gpu is None else f"cuda:{gpu}"


def _train(inner: Any, sample: np.ndarray, gpu: int | None) -> Any:
    import faiss

    if gpu is None:
        inner.train(sample)
        return inner
    try:
        resources = faiss.StandardGpuResources()
        on_gpu = faiss.index_cpu_to_gpu(resources, gpu, inner)
        on_gpu.train(sample)
        return faiss.index_gpu_to_cpu(on_gpu)
    except RuntimeError as exc:  # structures without a GPU implementation (HNSW, OPQ) train on CPU
        log.info("training on CPU: %s has no GPU path (%s)", type(inner).__name__, _first_line(exc))
        inner.train(sample)
        return inner


# ---------------------------------------------------------------- tuning and recall


def tuning_queries(data: np.ndarray, seed: int, count: int = TUNING_QUERIES) -> np.ndarray:
    """Held-out queries: a sample of stored vectors with a little Gaussian noise, re-normalised."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    picks = rng.choice(len(data), size=min(count, len(data)), replace=False)
    dim = data.shape[1]
    noisy = data[picks] + rng.normal(0.0, QUERY_NOISE / math.sqrt(dim), size=(len(picks), dim)).astype(
        np.float32
    )
    norms = np.linalg.norm(noisy, axis=1, keepdims=True)
    out: np.ndarray = (noisy / np.maximum(norms, 1e-12)).astype(np.float32)
    return out


def exact_neighbours(data: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row positions of the exact top-k by inner product (batched, so memory stays bounded)."""
    import faiss
    import numpy as np

    flat = faiss.IndexFlatIP(data.shape[1])
    flat.add(data)
    _, positions = flat.search(queries, k)
    result: np.ndarray = positions.astype(np.int64)
    flat.reset()
    return result


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean |found ∩ truth| / k per query (faiss.contrib's knn_intersection_measure)."""
    k = truth.shape[1]
    hits = sum(len(set(f[f >= 0].tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / (k * len(truth))


def tune_search_params(
    index: Any, data: np.ndarray, target: float, seed: int
) -> tuple[dict[str, int], float, int, dict[str, float]]:
    """The smallest nprobe / efSearch whose recall@10 reaches `target` + margin on two query samples.

    Returns (params, recall, queries, sweep); recall is the lower of the two samples' recalls at the
    chosen value (else the best value tried is kept and its recall reported honestly).
    """
    import faiss
    import numpy as np

    ids = faiss.vector_to_array(index.id_map)
    k = min(RECALL_K, len(data))
    samples = [tuning_queries(data, seed + offset) for offset in (0, 1000)]
    truths = [ids[exact_neighbours(data, queries, k)] for queries in samples]
    total = sum(len(q) for q in samples)
    inner = faiss.downcast_index(index.index)
    name, steps = _tunable(inner)

    def measured() -> float:
        recalls = []
        for queries, truth in zip(samples, truths, strict=True):
            _, found = index.search(queries, k)
            recalls.append(recall_at_k(found, truth))
        return float(np.min(recalls))

    if name is None:
        return {}, measured(), total, {}
    wanted = min(target + TUNING_MARGIN, 1.0)
    sweep: dict[str, float] = {}
    best = (steps[0], -1.0)
    for value in steps:
        apply_search_params(index, _with_quantizer(inner, {name: value}))
        recall = measured()
        sweep[str(value)] = round(recall, 4)
        if recall > best[1] + 1e-9:
            best = (value, recall)
        if recall >= wanted:
            best = (value, recall)
            break
    chosen = _with_quantizer(inner, {name: best[0]})
    apply_search_params(index, chosen)
    return chosen, best[1], total, sweep


def _with_quantizer(inner: Any, params: dict[str, int]) -> dict[str, int]:
    """An HNSW coarse quantizer must look at least as wide as the lists it is asked for."""
    import faiss

    ivf = faiss.try_extract_index_ivf(inner)
    if (
        "nprobe" in params
        and ivf is not None
        and isinstance(faiss.downcast_index(ivf.quantizer), faiss.IndexHNSW)
    ):
        return {**params, "quantizer_efSearch": max(64, 2 * params["nprobe"])}
    return params


def _tunable(inner: Any) -> tuple[str | None, tuple[int, ...]]:
    import faiss

    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is not None:
        steps = (*tuple(s for s in _NPROBE_STEPS if s < ivf.nlist), int(ivf.nlist))
        return "nprobe", steps
    if isinstance(inner, faiss.IndexHNSW):
        return "efSearch", _EF_STEPS
    return None, ()


def apply_search_params(index: Any, params: dict[str, int]) -> None:
    """Set tuned parameters on a freshly loaded index (the searcher calls this after `read_index`)."""
    import faiss

    space = faiss.ParameterSpace()
    for name, value in params.items():
        space.set_index_parameter(index, name, value)


def index_bytes(index: Any) -> int:
    """Size of an index in memory (≈ on disk): counted for IVF, serialised for the rest."""
    import faiss

    inner = faiss.downcast_index(index.index) if isinstance(index, faiss.IndexIDMap) else index
    ivf = faiss.try_extract_index_ivf(inner)
    if ivf is None:
        return int(faiss.serialize_index(index).nbytes)
    n = int(index.ntotal)
    # codes + list ids, the coarse centroids, and the IDMap2 id array + reverse map
    id_maps = 32 * n if isinstance(index, faiss.IndexIDMap) else 0
    return int(n * (ivf.code_size + 8) + ivf.nlist * ivf.d * 4 + id_maps)
