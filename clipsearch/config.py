"""Typed settings: one TOML file plus `CLIPSEARCH_…` environment overrides.

Loaded once by the CLI (`load_settings`) and passed down; library code never reads files or the
environment for configuration. Validation happens at load and a failure names the offending key in a
single line (`ConfigError`).

Environment overrides use `__` between nesting levels, e.g. `CLIPSEARCH_SERVER__PORT=7000`,
`CLIPSEARCH_DATABASE__URL=postgresql+psycopg://…`, `CLIPSEARCH_SPACES__DEFAULT__DEVICE=cpu`.
Values are parsed as TOML scalars/arrays when possible (`7000`, `true`, `["a","b"]`), else kept as strings.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from clipsearch.errors import ConfigError

CONFIG_ENV = "CLIPSEARCH_CONFIG"
ENV_PREFIX = "CLIPSEARCH_"
DEFAULT_CONFIG_NAME = "clipsearch.toml"
# The shapes-world models committed with the project (demo and tests); real deployments name open_clip models.
REPO_ROOT = Path(__file__).resolve().parent.parent
SHAPES_MODELS_DIR = REPO_ROOT / "models"

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Backend = Literal["auto", "torch", "onnx"]
LongTextPolicy = Literal["truncate", "chunk"]
SpaceRole = Literal["default", "long", "multilingual"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    #: SQLAlchemy URL; empty means SQLite at `<data_dir>/clipsearch.db`.
    url: str = ""
    #: SQLite busy timeout (ms) so concurrent writers wait instead of failing.
    busy_timeout_ms: int = Field(default=10_000, ge=0)
    echo: bool = False


class SpaceSettings(_Section):
    """One embedding space: a model configuration. See docs/configuration.md."""

    #: open_clip zoo name (`ViT-B-32`), `local-dir:PATH`, `hf-hub:ORG/NAME`, or a path to a model dir.
    model: str
    #: pretrained tag (`laion2b_s34b_b79k`) or a local weights file (.pt/.bin/.safetensors); "" for none.
    pretrained: str = ""
    #: 0 = the model's own context length.
    context_length: int = Field(default=0, ge=0)
    precision: Precision = "auto"
    device: str = "auto"
    backend: Backend = "auto"
    batch_size: int = Field(default=32, ge=1, le=4096)
    #: what a long text does on a model whose context is too short.
    long_text: LongTextPolicy = "truncate"
    #: what this space is for when routing queries.
    role: SpaceRole = "default"
    #: checkpoint layout: "open_clip" or "longclip" (OpenAI-style with positional_embedding_res).
    checkpoint_format: Literal["auto", "open_clip", "longclip"] = "auto"
    #: source-language code for tokenizers that need one (nllb-clip: "eng_Latn"); "" otherwise.
    language: str = ""
    #: languages this space serves well (routing hint); empty = English only.
    languages: tuple[str, ...] = ()

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if value in ("auto", "cpu") or value == "cuda" or (value.startswith("cuda:") and value[5:].isdigit()):
            return value
        raise ValueError("must be 'auto', 'cpu', 'cuda' or 'cuda:N'")


class SourceSettings(_Section):
    """A root directory, a manifest (JSONL/CSV) or a text file feeding a collection."""

    path: str
    kind: Literal["auto", "directory", "manifest", "text"] = "auto"
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()


class CollectionSettings(_Section):
    #: names of spaces (keys of [spaces]) this collection is embedded in; the first is the default.
    spaces: tuple[str, ...] = ("default",)
    sources: tuple[SourceSettings, ...] = ()
    #: `fps:N`, `uniform:N` or `scenes`.
    video_sampling: str = "fps:1"
    #: `auto` or a faiss index_factory string.
    index: str = "auto"
    #: stage-2 space used for cross-space reranking ("" = none).
    rerank_space: str = ""

    @field_validator("video_sampling")
    @classmethod
    def _sampling(cls, value: str) -> str:
        kind, _, arg = value.partition(":")
        if value == "scenes" or (kind in ("fps", "uniform") and _is_positive_number(arg)):
            return value
        raise ValueError("must be 'fps:N', 'uniform:N' or 'scenes'")


def _is_positive_number(text: str) -> bool:
    try:
        return float(text) > 0
    except ValueError:
        return False


class IndexerSettings(_Section):
    decode_workers: int = Field(default=2, ge=1, le=64)
    prefetch_batches: int = Field(default=4, ge=1, le=256)
    max_image_pixels: int = Field(default=64_000_000, ge=1)
    max_file_bytes: int = Field(default=2 * 1024**3, ge=1)
    max_video_seconds: float = Field(default=4 * 3600, gt=0)
    max_video_frames: int = Field(default=2_000, ge=1)
    #: memory budget for auto index selection.
    index_memory_gb: float = Field(default=8.0, gt=0)
    #: recall@10 floor a built index must reach against exact search to be activated.
    recall_floor: float = Field(default=0.95, ge=0, le=1)
    #: vector-store precision.
    vector_dtype: Literal["float16", "float32"] = "float16"
    #: faiss device: `auto` uses a GPU when faiss-gpu and CUDA are present.
    faiss_device: str = "auto"


class SearchSettings(_Section):
    default_top_k: int = Field(default=10, ge=1)
    max_top_k: int = Field(default=1000, ge=1)
    rerank: bool = True
    rerank_depth: int = Field(default=100, ge=1, le=10_000)
    frame_scoring: bool = True
    #: S = alpha·S_initial + (1-alpha)·S_frame  (CLIPRerank).
    frame_alpha: float = Field(default=0.4, ge=0, le=1)
    #: segment = contiguous frames whose score is within delta of the best frame.
    frame_delta: float = Field(default=0.02, ge=0)
    top_frames: int = Field(default=3, ge=0, le=100)
    #: per-list normalisation of S_initial and S_frame before fusing ("none" = raw cosines, as CLIPRerank).
    frame_normalization: Literal["none", "minmax", "zscore"] = "none"
    #: also search the frame index and merge the videos it finds (max-pool per video) by RRF.
    frame_first: bool = True
    #: long text on a 77-token space when the collection has no long-text space.
    long_text_policy: LongTextPolicy = "truncate"
    rrf_k: int = Field(default=60, ge=1)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=50051, ge=0, le=65535)
    #: Prometheus metrics HTTP port; 0 disables.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    max_message_mb: int = Field(default=32, ge=1, le=1024)
    #: requests admitted at once; beyond this the server answers RESOURCE_EXHAUSTED.
    max_concurrent_requests: int = Field(default=64, ge=1)
    max_queued_requests: int = Field(default=256, ge=0)
    #: micro-batching window: concurrent searches arriving this close together share one batch
    #: (one model call per space, one FAISS search per index, one hydration query).
    batch_window_ms: float = Field(default=3.0, ge=0)
    #: most searches in one batch; under load batches fill up to this while the previous one runs.
    max_batch: int = Field(default=64, ge=1, le=1024)
    #: a batch of at most a quarter of the last one's size waits for company until this fraction of
    #: the last batch's run time has passed since it ended (0 = never): run alone, a small batch costs
    #: nearly a whole model call, and under a closed loop the last batch's callers are coming back.
    batch_catch_up: float = Field(default=0.5, ge=0, le=4)
    #: how often the server checks for a newly activated index version.
    index_poll_seconds: float = Field(default=2.0, gt=0)
    #: how long hydrated hit metadata may be reused at most; 0 = off. An edited, re-indexed or
    #: deleted item leaves the cache sooner, at the next index poll (its `updated_at` changed).
    item_cache_seconds: float = Field(default=60.0, ge=0)
    grace_seconds: float = Field(default=5.0, ge=0)
    #: thread pool for video searches, the other RPCs and index loads (searches use the batch threads).
    workers: int = Field(default=4, ge=1, le=256)
    #: OpenMP threads per FAISS search call (0 = FAISS's default); set around each call only, so the
    #: model keeps its own count (FAISS and PyTorch share one OpenMP setting per thread).
    faiss_threads: int = Field(default=1, ge=0, le=256)


class LimitSettings(_Section):
    max_request_bytes: int = Field(default=32 * 1024**2, ge=1)
    max_image_pixels: int = Field(default=40_000_000, ge=1)
    max_video_seconds: float = Field(default=600.0, gt=0)
    max_page_size: int = Field(default=1000, ge=1)
    max_query_chars: int = Field(default=20_000, ge=1)


class AuthSettings(_Section):
    """Bearer tokens (compared in constant time) and TLS. Empty token lists = auth off."""

    read_tokens: tuple[str, ...] = ()
    admin_tokens: tuple[str, ...] = ()
    tls_cert: str = ""
    tls_key: str = ""
    #: CA bundle for client certificates; set it to require mutual TLS.
    tls_client_ca: str = ""


class SchedulerSettings(_Section):
    lease_seconds: float = Field(default=300.0, gt=0)
    misfire_grace_seconds: float = Field(default=300.0, ge=0)
    keep_versions: int = Field(default=3, ge=1)


def _default_spaces() -> dict[str, SpaceSettings]:
    return {
        "default": SpaceSettings(model=f"local-dir:{SHAPES_MODELS_DIR / 'shapes-base'}", role="default"),
        "long": SpaceSettings(model=f"local-dir:{SHAPES_MODELS_DIR / 'shapes-long'}", role="long"),
        "multilingual": SpaceSettings(
            model=f"local-dir:{SHAPES_MODELS_DIR / 'shapes-multilingual'}",
            role="multilingual",
            languages=("en", "de", "fr", "es"),
        ),
    }


class Settings(_Section):
    data_dir: Path = Path("./clipsearch-data")
    database: DatabaseSettings = DatabaseSettings()
    spaces: dict[str, SpaceSettings] = Field(default_factory=_default_spaces)
    collections: dict[str, CollectionSettings] = Field(default_factory=dict)
    indexer: IndexerSettings = IndexerSettings()
    search: SearchSettings = SearchSettings()
    server: ServerSettings = ServerSettings()
    limits: LimitSettings = LimitSettings()
    auth: AuthSettings = AuthSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    #: the file these settings came from, if any (relative paths resolve against its folder).
    source: Path | None = None

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite:///{(self.data_dir / 'clipsearch.db').resolve()}"

    def space(self, name: str) -> SpaceSettings:
        try:
            return self.spaces[name]
        except KeyError:
            from clipsearch.errors import NotFound

            raise NotFound(f"unknown space '{name}' (configured: {', '.join(sorted(self.spaces))})") from None

    def collection(self, name: str) -> CollectionSettings:
        try:
            return self.collections[name]
        except KeyError:
            from clipsearch.errors import NotFound

            raise NotFound(
                f"unknown collection '{name}' (configured: {', '.join(sorted(self.collections)) or 'none'})"
            ) from None


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read settings: explicit path > $CLIPSEARCH_CONFIG > ./clipsearch.toml > defaults; then env, then overrides."""
    env = os.environ if environ is None else environ
    config_path = _config_path(path, env)
    data: dict[str, Any] = {}
    if config_path is not None:
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_path} is not valid TOML: {exc}") from None
    for key, value in sorted(env.items()):
        keys = key[len(ENV_PREFIX) :].lower().split("__") if key.startswith(ENV_PREFIX) else []
        # Only names that address a settings field are overrides; other CLIPSEARCH_* variables are not ours.
        if keys and keys[0] in Settings.model_fields and keys[0] != "source":
            _set_path(data, keys, _parse_env_value(value), key)
    for dotted, value in (overrides or {}).items():
        _set_path(data, dotted.split("."), value, dotted)
    if config_path is not None:
        data["source"] = config_path
        data = _resolve_relative_paths(data, config_path.parent)
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_one_line(exc, config_path)) from None


def _config_path(path: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if path:
        resolved = Path(path)
        if not resolved.is_file():
            raise ConfigError(f"config file not found: {resolved}")
        return resolved.resolve()
    if env.get(CONFIG_ENV):
        resolved = Path(env[CONFIG_ENV])
        if not resolved.is_file():
            raise ConfigError(f"config file named by {CONFIG_ENV} not found: {resolved}")
        return resolved.resolve()
    local = Path(DEFAULT_CONFIG_NAME)
    return local.resolve() if local.is_file() else None


def _parse_env_value(raw: str) -> Any:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _set_path(data: dict[str, Any], keys: list[str], value: Any, origin: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{origin}: '{key}' is not a table")
        node = child
    node[keys[-1]] = value


def _resolve_relative_paths(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Paths in a config file are relative to the file, not to wherever the command runs."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute():
            return str(base / value)
        return value

    out = dict(data)
    if "data_dir" in out:
        out["data_dir"] = fix(out["data_dir"])
    for space in (out.get("spaces") or {}).values():
        if isinstance(space, dict):
            model = space.get("model", "")
            if isinstance(model, str) and model.startswith("local-dir:"):
                space["model"] = "local-dir:" + str(fix(model[len("local-dir:") :]))
            pretrained = space.get("pretrained", "")
            if isinstance(pretrained, str) and Path(pretrained).suffix in (
                ".pt",
                ".bin",
                ".safetensors",
                ".pth",
            ):
                space["pretrained"] = fix(pretrained)
    for collection in (out.get("collections") or {}).values():
        if isinstance(collection, dict):
            for source in collection.get("sources") or []:
                if isinstance(source, dict) and "path" in source:
                    source["path"] = fix(source["path"])
    return out


def _one_line(exc: ValidationError, path: Path | None) -> str:
    where = f" in {path}" if path else ""
    parts = []
    for error in exc.errors():
        key = ".".join(str(p) for p in error["loc"]) or "(root)"
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        parts.append(
            f"{key}: {message} (got {error.get('input')!r})"
            if error["type"] != "extra_forbidden"
            else f"{key}: {message}"
        )
    return f"invalid configuration{where}: " + "; ".join(parts)
