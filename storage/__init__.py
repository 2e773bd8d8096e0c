"""clipsearch.storage: SQL metadata, vector store and index versions. Never imports torch or grpc.

Public API (import the module you need; this package imports nothing on its own):

- `clipsearch.storage.db`: `Database(url, busy_timeout_ms=..., echo=...)` with `.session()` (context
  manager: commit on success, rollback on error; takes SQLite's write lock at BEGIN),
  `.read_session()` (read-only work: never waits for writers), `.create_all()`, `.upgrade(revision="head")`,
  `.dialect`, `.dispose()`; `redact(url)`.
- `clipsearch.storage.migrate`: `upgrade(db, revision)`, `current(db)`, `history()`,
  `alembic_config(db)` — Alembic with the packaged migrations, independent of the working directory.
- `clipsearch.storage.records`: frozen values returned by every repository function
  (`CollectionRecord`, `SourceRecord`, `AssetRecord`, `FrameRecord`, `SpaceRecord`, `NewVectorRef`,
  `VectorRefRecord`, `IndexVersionRecord`, `JobRecord`, `LeaseRecord`, `ScheduleRecord`).
- Repositories (first argument: a `Session` from `Database.session()`; they flush, never commit):
  - `catalog`: `create_collection`, `ensure_collection`, `get_collection`, `get_collection_by_id`,
    `list_collections`, `delete_collection`, `ensure_source`, `mark_source_scanned`, `list_sources`,
    `ensure_space`, `replace_space`, `get_space`, `get_space_by_id`, `list_spaces`.
  - `assets`: `upsert_asset`, `write_assets` (batched insert-or-update by uri), `get_asset`, `find_asset`, `get_assets`, `list_assets`, `count_assets`,
    `set_asset_status`, `mark_assets_deleted`, `replace_frames`, `list_frames`, `get_frames`.
  - `vector_refs`: `add_vector_refs`, `remove_vector_refs`, `vector_rows`, `live_row_ids`,
    `resolve_rows`, `refs_for_assets`.
  - `versions`: `create_version`, `mark_version_ready`, `mark_version_failed`, `activate_version`,
    `rollback_version`, `get_active_version`, `list_active_versions`, `get_version`, `find_version`,
    `list_versions`, `versions_to_prune`, `delete_version`, `next_version_number`.
  - `jobs`: `create_job`, `start_job`, `update_job`, `finish_job`, `get_job`, `list_jobs`,
    `fail_stale_jobs`.
  - `leases`: `acquire_lease`, `renew_lease`, `release_lease`, `get_lease`.
  - `schedules`: `upsert_schedule`, `list_schedules`, `get_schedule`, `set_schedule_enabled`,
    `record_fire`, `delete_schedule`.
- `clipsearch.storage.filters`: `parse_filter(obj) -> Filter`, `compile_filter(filter, dialect)`,
  `matches(filter, asset)` (the Python reference evaluation).
- `clipsearch.storage.vectors`: `VectorStore.create/open`, `append`, `get`, `delete`, `iter_all`,
  `all_vectors`, `compact`, `refresh`, `close`.
- `clipsearch.storage.index_files`: `write_version_dir`, `load_version_dir`, `version_dir`,
  `IndexManifest`.
- `clipsearch.storage.models`: the SQLAlchemy models (storage-internal).
"""
