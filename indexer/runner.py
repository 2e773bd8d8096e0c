"""Composition for one collection: settings → encoders, vector stores, pipeline run, builds.

The CLI, the rebuild scheduler and the benchmarks call these two functions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING

from clipsearch.indexer.activate import UNITS, BuildOutcome, build_collection
from clipsearch.indexer.layout import vector_store_dir
from clipsearch.indexer.pipeline import IndexPipeline, RunOptions, RunSummary

if TYPE_CHECKING:
    from clipsearch.config import Settings
    from clipsearch.indexer.encoders.base import Encoder
    from clipsearch.storage.db import Database

log = logging.getLogger(__name__)


def load_encoders(settings: Settings, spaces: Sequence[str]) -> dict[str, Encoder]:
    from clipsearch.indexer.encoders import load_encoder

    return {
        name: load_encoder(name, settings.space(name), cache_dir=settings.data_dir / "model-cache")
        for name in spaces
    }


def index_collection(
    settings: Settings,
    db: Database,
    collection: str,
    options: RunOptions | None = None,
    *,
    encoders: Mapping[str, Encoder] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunSummary:
    """Index every source of `collection` into each of its spaces (incremental, resumable)."""
    from clipsearch.storage.vectors import VectorStore

    config = settings.collection(collection)
    encoders = dict(encoders) if encoders is not None else load_encoders(settings, config.spaces)
    with ExitStack() as stack:
        stores = {
            name: stack.enter_context(
                VectorStore.create(
                    vector_store_dir(settings.data_dir, name), enc.info.dim, settings.indexer.vector_dtype
                )
            )
            for name, enc in encoders.items()
        }
        pipeline = IndexPipeline(db, collection, config, settings.indexer, encoders, stores)
        return pipeline.run(options, on_progress)


def build_indices(
    settings: Settings,
    db: Database,
    collection: str,
    *,
    space: str | None = None,
    spec: str | None = None,
    units: Sequence[str] = UNITS,
) -> list[BuildOutcome]:
    """Build and (past the recall gate) activate the indices of `collection`."""
    from clipsearch.storage.vectors import VectorStore

    config = settings.collection(collection)
    spaces = [space] if space else list(config.spaces)
    for name in spaces:
        settings.space(name)  # unknown names fail here, clearly
    with ExitStack() as stack:
        stores = {
            name: stack.enter_context(VectorStore.open(vector_store_dir(settings.data_dir, name)))
            for name in spaces
        }
        return build_collection(
            db,
            settings.data_dir,
            collection,
            stores,
            spec=spec or config.index,
            units=units,
            memory_gb=settings.indexer.index_memory_gb,
            recall_floor=settings.indexer.recall_floor,
            device=settings.indexer.faiss_device,
        )
