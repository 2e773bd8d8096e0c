"""Shapes world: a synthetic multimodal corpus and the small CLIP models trained on it.

The models in `models/shapes-*` stand in for real CLIP weights in the demo and the tests (model
hubs are unreachable offline); real deployments configure open_clip models instead.
Import-light: Pillow only; torch, open_clip and PyAV load inside the functions that need them.
"""

from __future__ import annotations

from clipsearch.shapesworld.captions import long_caption, short_caption
from clipsearch.shapesworld.corpus import (
    CorpusManifest,
    EventWindow,
    ManifestEntry,
    generate_corpus,
    load_manifest,
)
from clipsearch.shapesworld.scene import Scene, ShapeObject, render_scene

__all__ = [
    "CorpusManifest",
    "EventWindow",
    "ManifestEntry",
    "Scene",
    "ShapeObject",
    "generate_corpus",
    "load_manifest",
    "long_caption",
    "render_scene",
    "short_caption",
]
