"""ONNX Runtime backend: both towers exported once per model fingerprint, fp32 or dynamic int8.

Graphs live under `<cache_dir>/graphs/<fingerprint>/` and are written atomically (temp file, then
rename), so concurrent processes never read a half-written graph.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from clipsearch.errors import MissingDependency, ModelUnavailable
from clipsearch.indexer.encoders.base import EncoderInfo
from clipsearch.indexer.encoders.common import BaseEncoder

if TYPE_CHECKING:
    import torch

    from clipsearch.indexer.encoders.build import LoadedModel

log = logging.getLogger(__name__)
OPSET = 17


def graphs_dir(cache_dir: Path, fingerprint: str) -> Path:
    return cache_dir / "graphs" / fingerprint


def ensure_graphs(loaded: LoadedModel, directory: Path, *, int8: bool) -> dict[str, Path]:
    """Export (and quantise) the towers unless the cache already holds them; returns tower -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for tower in ("image", "text"):
        fp32 = directory / f"{tower}.onnx"
        if not fp32.is_file():
            _atomic(fp32, lambda tmp, t=tower: _export(loaded, t, tmp))  # type: ignore[misc]
        paths[tower] = fp32
        if int8:
            q = directory / f"{tower}.int8.onnx"
            if not q.is_file():
                _atomic(q, lambda tmp, src=fp32: _quantise(src, tmp))  # type: ignore[misc]
            paths[tower] = q
    return paths


class OnnxEncoder(BaseEncoder):
    def __init__(
        self, loaded: LoadedModel, info: EncoderInfo, batch_size: int, graphs: dict[str, Path], threads: int
    ) -> None:
        super().__init__(loaded, info, batch_size)
        self._image = _session(graphs["image"], threads)
        self._text = _session(graphs["text"], threads)

    def _image_forward(self, pixels: np.ndarray) -> np.ndarray:
        return np.asarray(
            self._image.run(None, {"pixels": np.ascontiguousarray(pixels, dtype=np.float32)})[0]
        )

    def _text_forward(self, tokens: np.ndarray) -> np.ndarray:
        return np.asarray(self._text.run(None, {"tokens": np.ascontiguousarray(tokens, dtype=np.int64)})[0])


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
    def wrap(model: torch.nn.Module, tower: str) -> torch.nn.Module:
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, x: torch.Tensor) -> torch.Tensor:
                encode = getattr(self.model, "encode_image" if tower == "image" else "encode_text")
                result: torch.Tensor = encode(x)
                return result

        return Wrapped().eval()


def _export(loaded: LoadedModel, tower: str, target: Path) -> None:
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
        name = "tokens"
    log.info("exporting the %s tower of %s to ONNX", tower, loaded.resolved.name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                _Tower.wrap(model, tower),
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
