"""Pick the fastest CPU backend/precision that passes parity on this machine, once per model.

Candidates are timed on probe batches and checked against fp32 PyTorch (cosine >= 0.999 for
fp32/bf16, >= 0.99 for int8). Each tower takes its own fastest path: when the image and the text
winners differ, the space runs a `SplitEncoder` (images one way, texts the other). The decision is
cached beside the exported graphs, keyed by the model fingerprint and by what decides speed here
(CPU features, thread count, how the backends run), so later loads skip the measurement.
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

    def __str__(self) -> str:
        return f"{self.backend}/{self.precision}"


@dataclass(frozen=True, slots=True)
class Trial:
    backend: str
    precision: str
    seconds: float  # both towers
    cosine: float
    passed: bool
    image_seconds: float = 0.0
    text_seconds: float = 0.0


#: Part of the cache key: a decision measured before a backend changed speed is measured again
#: (2: trimmed text batches in PyTorch, per-tower choice; 3: in ONNX Runtime too).
DECISION_VERSION = 3


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
    if cached is not None and all(choice in options for choice in cached):
        images, texts = cached
        log.info("space %s: using cached choice %s, texts %s", name, images, texts)
        return _combine(loaded, build(images), build(texts) if texts != images else None)
    reference = build(Candidate("torch", "fp32"))
    trials: list[tuple[Trial, BaseEncoder]] = []
    for option in options:
        try:
            encoder = reference if option == Candidate("torch", "fp32") else build(option)
        except ClipsearchError as exc:  # e.g. a tower the exporter cannot handle: skip this path
            log.warning("space %s: %s/%s unavailable: %s", name, option.backend, option.precision, exc)
            continue
        cosine = measure_parity(reference, encoder).worst
        image_s, text_s = _time(encoder)
        passed = cosine >= MIN_COSINE[option.precision]
        trial = Trial(option.backend, option.precision, image_s + text_s, cosine, passed, image_s, text_s)
        trials.append((trial, encoder))
        log.info(
            "space %s: %s/%s images %.3fs texts %.3fs cosine %.5f",
            name, option.backend, option.precision, image_s, text_s, cosine,
        )  # fmt: skip
    if not trials:
        raise ConfigError(
            f"space '{name}': no CPU backend could be built for {space.backend}/{space.precision}"
        )
    passing = [t for t in trials if t[0].passed] or trials[:1]
    image_trial, image_encoder = min(passing, key=lambda t: t[0].image_seconds)
    text_trial, text_encoder = min(passing, key=lambda t: t[0].text_seconds)
    directory.mkdir(parents=True, exist_ok=True)
    record = {
        "choice": asdict(Candidate(image_trial.backend, image_trial.precision)),
        "text_choice": asdict(Candidate(text_trial.backend, text_trial.precision)),
        "trials": [asdict(t) for t, _ in trials],
    }
    # Atomic: another process loading the same model may be reading the decision right now.
    tmp = decision_file.with_name(f".{decision_file.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")
    os.replace(tmp, decision_file)
    return _combine(loaded, image_encoder, text_encoder if text_trial is not image_trial else None)


def _combine(loaded: LoadedModel, images: BaseEncoder, texts: BaseEncoder | None) -> BaseEncoder:
    if texts is None:
        return images
    from clipsearch.indexer.encoders.split import SplitEncoder

    return SplitEncoder(loaded, images, texts)


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


def _time(encoder: BaseEncoder, repeats: int = 2) -> tuple[float, float]:
    """(seconds for 8 images, seconds for the probe texts twice over), each the best of `repeats`."""
    pixels = probe_pixels(encoder.image_shape, n=8, seed=1)
    texts = list(PROBE_TEXTS) * 2
    encoder.encode_preprocessed(pixels[:2])  # warm-up (allocations, lazy init)
    encoder.encode_texts(texts[:2])
    images = text = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.encode_preprocessed(pixels)
        middle = time.perf_counter()
        encoder.encode_texts(texts)
        images = min(images, middle - start)
        text = min(text, time.perf_counter() - middle)
    return images, text


def _machine_key(threads: int, options: list[Candidate]) -> str:
    flags = sorted(f for f in cpu_flags() if f.startswith(("avx", "amx", "fma", "sse4", "neon", "asimd")))
    text = json.dumps([DECISION_VERSION, flags, threads, [asdict(o) for o in options]])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _read_decision(path: Path) -> tuple[Candidate, Candidate] | None:
    """(the image tower's choice, the text tower's choice)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        images = record["choice"]
        texts = record.get("text_choice", images)
        return (
            Candidate(str(images["backend"]), str(images["precision"])),
            Candidate(str(texts["backend"]), str(texts["precision"])),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
