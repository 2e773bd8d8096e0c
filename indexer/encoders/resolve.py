"""Turn a space's `model` + `pretrained` into a concrete, offline-checkable model description.

Everything that can go wrong before any weights are read is detected here, with a one-line message:
an unknown zoo name or tag, a missing local file or directory, and weights that are not in the cache
while downloading is not allowed. open_clip itself would try to download (and hang offline), so it is
only ever handed files that exist.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clipsearch.config import SpaceSettings
from clipsearch.errors import ConfigError, ModelUnavailable

log = logging.getLogger(__name__)

LOCAL_DIR_PREFIX = "local-dir:"
HF_HUB_PREFIX = "hf-hub:"
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")
# Same preference order open_clip uses when it looks inside a model directory.
_DIR_WEIGHT_NAMES = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
    "model.safetensors",
    "pytorch_model.bin",
    "pytorch_model.pth",
    "model.pth",
)
_HF_DEFAULT_WEIGHTS = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model whose config is known and whose weights (if any) are a local file."""

    #: the space's `model` string as configured.
    name: str
    #: open_clip zoo name when the architecture came from the zoo (tokenizer quirks key on it).
    zoo_name: str | None
    #: open_clip `model_cfg`, with every path inside it made absolute.
    model_cfg: Mapping[str, Any]
    preprocess_cfg: Mapping[str, Any]
    #: full CLIP weights; None = random initialisation.
    checkpoint: Path | None
    #: where the weights come from, for humans (`clipsearch models info`).
    weights_source: str
    #: Hugging Face tokenizer directory or hub id; None = open_clip's CLIP BPE tokenizer.
    hf_tokenizer: str | None


def resolve_model(
    space: SpaceSettings,
    *,
    space_name: str = "",
    cache_dir: Path | None = None,
    allow_download: bool = False,
) -> ResolvedModel:
    """Resolve a space to local files. Raises ConfigError (bad names) or ModelUnavailable (missing files)."""
    label = f"space '{space_name}'" if space_name else f"model '{space.model}'"
    model = space.model.strip()
    if not model:
        raise ConfigError(f"{label}: `model` is empty")
    resolved = _resolve(space, model, label, cache_dir, allow_download)
    tokenizer = (resolved.hf_tokenizer or "").lower()
    if ("nllb" in tokenizer or "nllb" in model.lower()) and not space.language:
        raise ConfigError(
            f"{label}: NLLB tokenizers need a source language; set `language` (e.g. 'eng_Latn', 'deu_Latn')"
        )
    return resolved


def _resolve(
    space: SpaceSettings, model: str, label: str, cache_dir: Path | None, allow_download: bool
) -> ResolvedModel:
    if model.startswith(LOCAL_DIR_PREFIX):
        return _resolve_local_dir(space, Path(model[len(LOCAL_DIR_PREFIX) :]).expanduser(), label)
    if model.startswith(HF_HUB_PREFIX):
        return _resolve_hf_hub(space, model[len(HF_HUB_PREFIX) :], label, cache_dir, allow_download)
    as_path = Path(model).expanduser()
    if ("/" in model or model.startswith(".")) and as_path.is_dir():
        return _resolve_local_dir(space, as_path, label)
    return _resolve_zoo(space, model, label, cache_dir, allow_download)


def _resolve_local_dir(space: SpaceSettings, directory: Path, label: str) -> ResolvedModel:
    if not directory.is_dir():
        raise ModelUnavailable(
            f'{label}: model directory {directory} not found; point `model = "local-dir:/path"` at a '
            "folder holding open_clip_config.json and the weights"
        )
    directory = directory.resolve()
    config_path = directory / "open_clip_config.json"
    config = _read_json(config_path, label)
    if "model_cfg" not in config:
        raise ModelUnavailable(
            f"{label}: {config_path} has no 'model_cfg' (not an open_clip model directory)"
        )
    model_cfg = _resolve_text_paths(config["model_cfg"], directory)
    preprocess_cfg = _preprocess(config.get("preprocess_cfg") or {})
    checkpoint = _explicit_weights(space, label)
    if checkpoint is None:
        checkpoint = next((directory / n for n in _DIR_WEIGHT_NAMES if (directory / n).is_file()), None)
        if checkpoint is None:
            raise ModelUnavailable(
                f"{label}: no weights in {directory} (expected one of {', '.join(_DIR_WEIGHT_NAMES[:3])}); "
                "copy the checkpoint there or set `pretrained` to a weights file"
            )
    return ResolvedModel(
        name=space.model,
        zoo_name=None,
        model_cfg=model_cfg,
        preprocess_cfg=preprocess_cfg,
        checkpoint=checkpoint,
        weights_source=f"file {checkpoint}",
        hf_tokenizer=_tokenizer_source(model_cfg, directory),
    )


def _resolve_hf_hub(
    space: SpaceSettings, repo_id: str, label: str, cache_dir: Path | None, allow_download: bool
) -> ResolvedModel:
    config_file = _hub_file(repo_id, ("open_clip_config.json",), cache_dir, allow_download)
    if config_file is None:
        raise ModelUnavailable(_not_cached_message(label, f"hf-hub:{repo_id}", cache_dir))
    config = _read_json(config_file, label)
    if "model_cfg" not in config:
        raise ModelUnavailable(f"{label}: hf-hub:{repo_id} has no 'model_cfg' in open_clip_config.json")
    model_cfg = copy.deepcopy(config["model_cfg"])
    _require_hf_text_tower(model_cfg, label, cache_dir, allow_download)
    checkpoint = _explicit_weights(space, label)
    if checkpoint is None:
        checkpoint = _hub_file(repo_id, _HF_DEFAULT_WEIGHTS, cache_dir, allow_download)
        if checkpoint is None:
            raise ModelUnavailable(_not_cached_message(label, f"hf-hub:{repo_id} weights", cache_dir))
    tokenizer = model_cfg.get("text_cfg", {}).get("hf_tokenizer_name") or None
    return ResolvedModel(
        name=space.model,
        zoo_name=None,
        model_cfg=model_cfg,
        preprocess_cfg=_preprocess(config.get("preprocess_cfg") or {}),
        checkpoint=checkpoint,
        weights_source=f"hf-hub:{repo_id} ({checkpoint})",
        hf_tokenizer=tokenizer,
    )


def _resolve_zoo(
    space: SpaceSettings, name: str, label: str, cache_dir: Path | None, allow_download: bool
) -> ResolvedModel:
    import open_clip

    zoo_name = name.replace("/", "-")
    model_cfg = open_clip.get_model_config(zoo_name)
    if "nllb" in zoo_name.lower() and not space.language:
        raise ConfigError(
            f"{label}: NLLB tokenizers need a source language; set `language` (e.g. 'eng_Latn', 'deu_Latn')"
        )
    if model_cfg is None:
        raise ConfigError(
            f"{label}: '{name}' is not an open_clip model name (see `clipsearch models list --zoo`), "
            "nor a `local-dir:` / `hf-hub:` model"
        )
    model_cfg = copy.deepcopy(model_cfg)
    preprocess_cfg = _preprocess({})
    checkpoint = _explicit_weights(space, label)
    source = f"file {checkpoint}" if checkpoint else "random initialisation (no `pretrained`)"
    tag = space.pretrained.strip()
    if checkpoint is None and tag:
        tag_cfg = open_clip.get_pretrained_cfg(zoo_name, tag)
        if not tag_cfg:
            tags = ", ".join(open_clip.list_pretrained_tags_by_model(zoo_name)) or "none"
            raise ConfigError(f"{label}: unknown pretrained tag '{tag}' for {zoo_name} (known: {tags})")
        checkpoint = _cached_tag_weights(tag_cfg, cache_dir, allow_download)
        if checkpoint is None:
            where = (
                _hf_cache(cache_dir)
                if tag_cfg.get("hf_hub")
                else str(cache_dir or Path("~/.cache/clip").expanduser())
            )
            raise ModelUnavailable(
                _not_cached_message(label, f"{zoo_name} ({tag})", cache_dir, tag=True, where=where)
            )
        preprocess_cfg = _preprocess(tag_cfg)
        # Weights trained with QuickGELU (OpenAI's) must run with it; open_clip only warns.
        if tag_cfg.get("quick_gelu") and not model_cfg.get("quick_gelu"):
            model_cfg["quick_gelu"] = True
        source = f"{zoo_name} pretrained '{tag}' ({checkpoint})"
    _require_hf_text_tower(model_cfg, label, cache_dir, allow_download)
    if checkpoint is None:
        log.warning("%s: no pretrained weights; %s is randomly initialised", label, zoo_name)
    tokenizer = model_cfg.get("text_cfg", {}).get("hf_tokenizer_name") or None
    return ResolvedModel(
        name=space.model,
        zoo_name=zoo_name,
        model_cfg=model_cfg,
        preprocess_cfg=preprocess_cfg,
        checkpoint=checkpoint,
        weights_source=source,
        hf_tokenizer=tokenizer,
    )


def _explicit_weights(space: SpaceSettings, label: str) -> Path | None:
    """`pretrained` naming a file: it must exist (a typo must not silently mean random weights)."""
    value = space.pretrained.strip()
    if not value:
        return None
    path = Path(value).expanduser()
    if path.suffix in WEIGHT_SUFFIXES or "/" in value:
        if not path.is_file():
            raise ModelUnavailable(f"{label}: weights file {path} not found (from `pretrained`)")
        return path.resolve()
    if space.model.startswith((LOCAL_DIR_PREFIX, HF_HUB_PREFIX)):
        raise ConfigError(
            f"{label}: `pretrained = '{value}'` is a tag, but tags only apply to open_clip zoo names; "
            "use a weights file path or leave it empty"
        )
    return None


def _resolve_text_paths(model_cfg: Mapping[str, Any], directory: Path) -> dict[str, Any]:
    """Paths in `text_cfg` are stored relative to the model dir; open_clip would read them from the cwd."""
    cfg = copy.deepcopy(dict(model_cfg))
    text_cfg = cfg.get("text_cfg") or {}
    for key in ("hf_model_name", "hf_tokenizer_name"):
        value = text_cfg.get(key)
        if (
            isinstance(value, str)
            and value
            and not Path(value).is_absolute()
            and (directory / value).exists()
        ):
            text_cfg[key] = str((directory / value).resolve())
    return cfg


def _tokenizer_source(model_cfg: Mapping[str, Any], directory: Path) -> str | None:
    name = (model_cfg.get("text_cfg") or {}).get("hf_tokenizer_name")
    if not name:
        return None
    if Path(name).is_dir():
        return str(name)
    # open_clip's convention: a local-dir model with an HF tokenizer keeps the tokenizer files beside the config.
    if (directory / "tokenizer_config.json").is_file() or (directory / "tokenizer.json").is_file():
        return str(directory)
    return str(name)


def _preprocess(overlay: Mapping[str, Any]) -> dict[str, Any]:
    from open_clip.transform import PreprocessCfg, merge_preprocess_dict

    return merge_preprocess_dict(PreprocessCfg(), dict(overlay))


def _read_json(path: Path, label: str) -> dict[str, Any]:
    if not path.is_file():
        raise ModelUnavailable(f"{label}: {path} not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"{label}: cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ModelUnavailable(f"{label}: {path} is not a JSON object")
    return data


def _cached_tag_weights(
    tag_cfg: Mapping[str, Any], cache_dir: Path | None, allow_download: bool
) -> Path | None:
    """Find a zoo tag's weights in open_clip's caches without touching the network (unless allowed)."""
    if tag_cfg.get("file"):
        path = Path(tag_cfg["file"])
        return path if path.is_file() else None
    hub = tag_cfg.get("hf_hub", "")
    if hub:
        repo_id, filename = hub.rstrip("/").rsplit("/", 1) if not hub.endswith("/") else (hub.rstrip("/"), "")
        names: list[str] = []
        if filename:
            if filename.endswith((".bin", ".pth")):
                names.append(filename[:-4] + ".safetensors")
            names.append(filename)
        else:
            names.extend(("open_clip_model.safetensors", "open_clip_pytorch_model.bin"))
        return _hub_file(repo_id, tuple(names), cache_dir, allow_download)
    url = tag_cfg.get("url", "")
    if url:
        target = (cache_dir or Path("~/.cache/clip").expanduser()) / Path(url).name
        if target.is_file():
            return target
        if allow_download:
            from open_clip.pretrained import download_pretrained_from_url

            try:
                return Path(
                    download_pretrained_from_url(url, cache_dir=str(cache_dir) if cache_dir else None)
                )
            except Exception as exc:  # network errors come in many types; all mean "not available"
                raise ModelUnavailable(f"download of {url} failed: {exc}") from None
    return None


def _hub_file(
    repo_id: str, filenames: tuple[str, ...], cache_dir: Path | None, allow_download: bool
) -> Path | None:
    """The first of `filenames` found in the Hugging Face cache (or downloaded, when allowed)."""
    from huggingface_hub import try_to_load_from_cache

    for filename in filenames:
        found = try_to_load_from_cache(repo_id, filename, cache_dir=str(cache_dir) if cache_dir else None)
        if isinstance(found, str):
            return Path(found)
    if not allow_download:
        return None
    from huggingface_hub import hf_hub_download

    errors = []
    for filename in filenames:
        try:
            return Path(hf_hub_download(repo_id, filename, cache_dir=str(cache_dir) if cache_dir else None))
        except Exception as exc:  # hub errors are many types; keep the last message for the user
            errors.append(f"{filename}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
    raise ModelUnavailable(f"download from hf-hub:{repo_id} failed ({'; '.join(errors)})")


def _require_hf_text_tower(
    model_cfg: Mapping[str, Any], label: str, cache_dir: Path | None, allow_download: bool
) -> None:
    """A Hugging Face text tower needs its config and tokenizer locally, or transformers goes online."""
    text_cfg = model_cfg.get("text_cfg") or {}
    for key in ("hf_model_name", "hf_tokenizer_name"):
        name = text_cfg.get(key)
        if not name or Path(name).is_dir():
            continue
        if _hub_file(name, ("config.json", "tokenizer_config.json"), cache_dir, allow_download) is None:
            raise ModelUnavailable(
                f"{label}: the Hugging Face text tower '{name}' is not in the cache ({_hf_cache(cache_dir)}); "
                f"run `clipsearch models pull` with network access, or save it locally "
                f"(`save_pretrained`) and use a `local-dir:` model whose text_cfg.{key} points at it"
            )


def _hf_cache(cache_dir: Path | None) -> str:
    if cache_dir:
        return str(cache_dir)
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def _not_cached_message(
    label: str, what: str, cache_dir: Path | None, *, tag: bool = False, where: str | None = None
) -> str:
    fix = (
        "set `pretrained` to a local weights file (.safetensors/.pt/.bin)"
        if tag
        else "use a `local-dir:` copy"
    )
    return (
        f"{label}: weights for {what} are not in the cache ({where or _hf_cache(cache_dir)}) and downloading is off; "
        f"run `clipsearch models pull` with network access, or {fix}"
    )
