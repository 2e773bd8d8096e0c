"""Model fingerprint: changes exactly when vectors stored for a space would stop being comparable.

Included: the architecture config (with local paths reduced to their role), the preprocessing
config, a digest of the loaded fp32 weights, the tokenizer's behaviour (token ids of fixed probe
texts — this captures vocabulary, normalisation and language codes without hashing files), the
context length and the long-text policy (both change text vectors).

Excluded on purpose: precision, backend, device and batch size. Every non-fp32 path must pass a
parity check (cosine >= 0.999 to fp32, >= 0.99 for int8) before it is used, so their vectors are
interchangeable in one index; changing them does not force a re-embed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clipsearch.indexer.encoders.build import LoadedModel

FINGERPRINT_VERSION = 1
_PROBE_TEXTS = (
    "a photo of a red circle.",
    "Ein Foto eines Hundes, 2 Katzen & ÄÖÜ — café niño 東京 🙂",
)


def model_fingerprint(loaded: LoadedModel, long_text: str) -> str:
    payload = {
        "v": FINGERPRINT_VERSION,
        "model_cfg": _portable(loaded.model_cfg),
        "preprocess_cfg": _portable(loaded.preprocess_cfg),
        "weights": loaded.weights_digest,
        "tokens": [loaded.tokenizer([t])[0].tolist() for t in _PROBE_TEXTS],
        "context_length": loaded.context_length,
        "long_text": long_text,
    }
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return "fp1-" + hashlib.sha256(blob.encode()).hexdigest()[:24]


def _portable(value: Any) -> Any:
    """Local paths (model dirs move between machines) are not part of a model's identity."""
    if isinstance(value, Mapping):
        return {str(k): _portable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_portable(v) for v in value]
    if isinstance(value, str) and value.startswith("/"):
        return "<local>"
    return value
