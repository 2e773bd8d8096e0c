"""ONNX Runtime backend: both towers exported once per model fingerprint, fp32 or dynamic int8.

Graphs live under `<cache_dir>/graphs/<fingerprint>/` and are written atomically (temp file, then
rename), so concurrent processes never read a half-written graph.

A text tower whose padding can be cut exactly (`text_trim.py`) also gets graphs at shorter fixed
lengths (`text.16.onnx`, `text.32.onnx`, and `text.77.onnx` below Long-CLIP's 248); each batch
runs on the shortest that holds its texts. Fixed lengths, not one dynamic length axis: the
exporter bakes the traced batch size into nn.MultiheadAttention's reshapes once both axes are
dynamic.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clipsearch.errors import MissingDependency, ModelUnavailable
from clipsearch.indexer.encoders.base import EncoderInfo
from clipsearch.indexer.encoders.common import BaseEncoder
from clipsearch.indexer.encoders.text_trim import trimmed_text_parts

if TYPE_CHECKING:
    import torch

    from clipsearch.indexer.encoders.build import LoadedModel

log = logging.getLogger(__name__)
OPSET = 17
#: shorter text graph lengths, where cutting the padding is exact (a query is ~10-20 tokens).
TEXT_LENGTHS = (16, 32, 77)


def graphs_dir(cache_dir: Path, fingerprint: str) -> Path:
    return cache_dir / "graphs" / fingerprint


@dataclass(frozen=True, slots=True)
class ExportedGraphs:
    """A model's exported towers: the image graph, the full-context text graph, and the text graphs
    at shorter fixed lengths (length -> path; empty where cutting the padding is not exact)."""

    image: Path
    text: Path
    short_text: dict[int, Path] = field(default_factory=dict)


def ensure_graphs(loaded: LoadedModel, directory: Path, *, int8: bool) -> ExportedGraphs:
    """Export (and quantise) the towers unless the cache already holds them."""
    directory.mkdir(parents=True, exist_ok=True)

    def graph(tower: str, length: int | None) -> Path:
        stem = tower if length is None else f"{tower}.{length}"
        fp32 = directory / f"{stem}.onnx"
        if not fp32.is_file():
            _atomic(fp32, lambda tmp: _export(loaded, tower, tmp, length))
        if not int8:
            return fp32
        quantised = directory / f"{stem}.int8.onnx"
        if not quantised.is_file():
            _atomic(quantised, lambda tmp: _quantise(fp32, tmp))
        return quantised

    return ExportedGraphs(
        image=graph("image", None),
        text=graph("text", None),
        short_text={n: graph("text", n) for n in short_text_lengths(loaded)},
    )


def short_text_lengths(loaded: LoadedModel) -> list[int]:
    """The shorter text graph lengths for this model (none where cutting the padding is not exact)."""
    if trimmed_text_parts(loaded.model) is None:
        return []
    return [n for n in TEXT_LENGTHS if n < loaded.context_length]


class OnnxEncoder(BaseEncoder):
    def __init__(
        self, loaded: LoadedModel, info: EncoderInfo, batch_size: int, graphs: ExportedGraphs, threads: int
    ) -> None:
        super().__init__(loaded, info, batch_size)
        self._image = _session(graphs.image, threads)
        self._text = _session(graphs.text, threads)
        # (length, session) shortest first, for batches that fit them; the full context otherwise.
        self._short_text = sorted((n, _session(path, threads)) for n, path in graphs.short_text.items())
        parts = trimmed_text_parts(loaded.model) if self._short_text else None
        self._text_length = parts[0] if parts is not None else None

    def _image_forward(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(
            self._image.run(None, {"pixels": np.ascontiguousarray(pixels, dtype=np.float32)})[0]
        )

    def _text_forward(self, tokens: np.ndarray) -> np.ndarray:
        session = self._text
        if self._text_length is not None:
            import torch

            used = self._text_length(torch.from_numpy(np.asarray(tokens)))
            for length, short in self._short_text:
                if used <= length:
                    session, tokens = short, tokens[:, :length]
                    break
        return np.asarray(session.run(None, {"tokens": np.ascontiguousarray(tokens, dtype=np.int64)})[0])


def _session(path: Path, threads: int) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependency("onnxruntime", purpose="the onnx encoder backend") from None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle ORT threads otherwise spin and steal the cores that decode workers (and the server) need.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types for corrupt/unsupported graphs
        raise ModelUnavailable(f"cannot load exported graph {path}: {exc}") from None


class _Tower:
    """A module exposing one tower's encode function, for the exporter."""

    @staticmethod
    def wrap(model: torch.nn.Module, tower: str, cut: bool = False) -> torch.nn.Module:
        import torch

        parts = trimmed_text_parts(model) if cut else None

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                if parts is not None:
                    return parts[1](x)  # tokens cut to the graph's length
                encode = getattr(self.model, "encode_image" if tower == "image" else "encode_text")
                result: torch.Tensor = encode(x)
                return result

        return Wrapped().eval()


def _export(loaded: LoadedModel, tower: str, target: Path, length: int | None = None) -> None:
    """One tower's graph; `length` = a text graph at that fixed length (tokens cut to it)."""
    import copy

    import torch

    model = copy.deepcopy(loaded.model).float().eval()
    # Trainable-looking parameters with grad enabled keep nn.MultiheadAttention off its fused fast path,
    # which the ONNX exporter cannot express.
    model.requires_grad_(True)
    if tower == "image":
        example = torch.zeros((2, 3, *loaded.image_size), dtype=torch.float32)
        name = "pixels"
    else:
        example = loaded.tokenizer(["a photo", "an exported graph"])
        if length is not None:
            example = example[:, :length]
        name = "tokens"
    log.info("exporting the %s tower of %s to ONNX", tower, loaded.resolved.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                _Tower.wrap(model, tower, cut=length is not None),
                (example,),
                str(target),
                input_names=[name],
                output_names=["features"],
                dynamic_axes={name: {0: "n"}, "features": {0: "n"}},
                opset_version=OPSET,
                dynamo=False,
            )
        except Exception as exc:  # exporter failures are many types; the model just cannot use this backend
            raise ModelUnavailable(
                f"ONNX export of the {tower} tower failed: {type(exc).__name__}: {exc}"
            ) from None


def _quantise(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def _atomic(target: Path, write: Any) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
