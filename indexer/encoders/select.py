"""Pick the fastest CPU backend/precision that passes parity on this machine, once per model.

Candidates are timed on probe batches and checked against fp32 PyTorch (cosine >= 0.999 for
fp32/bf16, >= 0.99 for int8). The decision is cached beside the exported graphs, keyed by the model
fingerprint and by what decides speed here (CPU features, thread count), so later loads skip the
measurement.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from clipsearch.config import SpaceSettings
from clipsearch.errors import ClipsearchError, ConfigError
from clipsearch.indexer.encoders.base import EncoderInfo
from clipsearch.indexer.encoders.build import LoadedModel, encoder_info
from clipsearch.indexer.encoders.common import BaseEncoder
from clipsearch.indexer.encoders.hardware import cpu_flags, cpu_has_fast_bf16
from clipsearch.indexer.encoders.parity import MIN_COSINE, PROBE_TEXTS, measure_parity, probe_pixels

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Candidate:
    backend: str
    precision: str  # fp32 | bf16 | int8


@dataclass(frozen=True, slots=True)
class Trial:
    backend: str
    precision: str
    seconds: float
    cosine: float
    passed: bool


def candidates_for(space: SpaceSettings, fast_bf16: bool) -> list[Candidate]:
    """Paths worth measuring for these settings (bf16 only where the CPU has it natively).

    All of them are measured: on this project's CPUs ONNX Runtime int8 and PyTorch bf16 trade places
    depending on model and tower (bench/encode.py), so no fixed order is right everywhere.
    """
    backend, precision = space.backend, space.precision
    if backend == "onnx":
        if precision == "bf16":
            raise ConfigError("precision 'bf16' is a torch-backend precision; use backend 'torch' or 'auto'")
        return [Candidate("onnx", "fp32")] + ([Candidate("onnx", "int8")] if precision == "auto" else [])
    if precision == "bf16":
        return [Candidate("torch", "bf16")]
    if precision == "fp32":
        return [Candidate("torch", "fp32"), Candidate("onnx", "fp32")]
    bf16 = [Candidate("torch", "bf16")] if fast_bf16 else []
    return [Candidate("torch", "fp32"), *bf16, Candidate("onnx", "fp32"), Candidate("onnx", "int8")]


def choose_cpu_encoder(
    name: str, space: SpaceSettings, loaded: LoadedModel, fingerprint: str, cache_dir: Path
) -> BaseEncoder:
    import torch

    from clipsearch.indexer.encoders.onnx_encoder import graphs_dir

    threads = torch.get_num_threads()
    options = candidates_for(space, cpu_has_fast_bf16())
    directory = graphs_dir(cache_dir, fingerprint)
    decision_file = directory / f"decision-{_machine_key(threads, options)}.json"
    build = _builder(name, space, loaded, fingerprint, directory, threads)
    if len(options) == 1:
        return build(options[0])
    cached = _read_decision(decision_file)
    if cached is not None and cached in options:
        log.info("space %s: using cached choice %s/%s", name, cached.backend, cached.precision)
        return build(cached)
    reference = build(Candidate("torch", "fp32"))
    trials: list[tuple[Trial, BaseEncoder]] = []
    for option in options:
        try:
            encoder = reference if option == Candidate("torch", "fp32") else build(option)
        except ClipsearchError as exc:  # e.g. a tower the exporter cannot handle: skip this path
            log.warning("space %s: %s/%s unavailable: %s", name, option.backend, option.precision, exc)
            continue
        cosine = measure_parity(reference, encoder).worst
        seconds = _time(encoder)
        passed = cosine >= MIN_COSINE[option.precision]
        trials.append((Trial(option.backend, option.precision, seconds, cosine, passed), encoder))
        log.info("space %s: %s/%s %.3fs cosine %.5f", name, option.backend, option.precision, seconds, cosine)
    if not trials:
        raise ConfigError(
            f"space '{name}': no CPU backend could be built for {space.backend}/{space.precision}"
        )
    passing = [t for t in trials if t[0].passed] or trials[:1]
    best_trial, best = min(passing, key=lambda t: t[0].seconds)
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "choice": asdict(Candidate(best_trial.backend, best_trial.precision)),
        "trials": [asdict(t) for t, _ in trials],
    }
    # Atomic: another process loading the same model may be reading the decision right now.
    tmp = decision_file.with_name(f".{decision_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(tmp, decision_file)
    return best


def read_trials(cache_dir: Path, fingerprint: str) -> list[dict[str, object]]:
    """Measured trials of earlier auto choices for this model (for `clipsearch models info`)."""
    from clipsearch.indexer.encoders.onnx_encoder import graphs_dir

    out: list[dict[str, object]] = []
    for path in sorted(graphs_dir(cache_dir, fingerprint).glob("decision-*.json")):
        try:
            out.extend(json.loads(path.read_text(encoding="utf-8")).get("trials", []))
        except (OSError, ValueError):
            continue
    return out


def _builder(
    name: str, space: SpaceSettings, loaded: LoadedModel, fingerprint: str, directory: Path, threads: int
) -> Callable[[Candidate], BaseEncoder]:
    from clipsearch.indexer.encoders.onnx_encoder import OnnxEncoder, ensure_graphs
    from clipsearch.indexer.encoders.torch_encoder import TorchEncoder

    def info(option: Candidate) -> EncoderInfo:
        return encoder_info(name, space, loaded, fingerprint, option.precision, option.backend, "cpu")

    def build(option: Candidate) -> BaseEncoder:
        if option.backend == "torch":
            # Keep the shared fp32 model intact: other candidates (and the reference) still need it.
            return TorchEncoder(loaded, info(option), space.batch_size, copy_model=option.precision != "fp32")
        graphs = ensure_graphs(loaded, directory, int8=option.precision == "int8")
        return OnnxEncoder(loaded, info(option), space.batch_size, graphs, threads)

    return build


def _time(encoder: BaseEncoder, repeats: int = 2) -> float:
    pixels = probe_pixels(encoder.image_shape, n=8, seed=1)
    texts = list(PROBE_TEXTS) * 2
    encoder.encode_preprocessed(pixels[:2])  # warm-up (allocations, lazy init)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.encode_preprocessed(pixels)
        encoder.encode_texts(texts)
        best = min(best, time.perf_counter() - start)
    return best


def _machine_key(threads: int, options: list[Candidate]) -> str:
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma", "sse4", "neon", "asimd")))
    text = json.dumps([flags, threads, [asdict(o) for o in options]])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _read_decision(path: Path) -> Candidate | None:
    try:
        choice = json.loads(path.read_text(encoding="utf-8"))["choice"]
        return Candidate(str(choice["backend"]), str(choice["precision"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
