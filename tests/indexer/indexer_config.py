"""Config files for subprocess runs of the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from clipsearch.config import Settings


def write_config(path: Path, settings: Settings) -> Path:
    """A TOML config equivalent to `settings` (for subprocess runs of the CLI)."""
    data = settings.model_dump(mode="json", exclude={"source"})
    lines = [f"data_dir = {json.dumps(str(data['data_dir']))}"]
    for name, space in data["spaces"].items():
        lines.append(f"[spaces.{name}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in space.items() if not isinstance(v, list)]
    lines.append("[indexer]")
    lines += [f"{k} = {json.dumps(v)}" for k, v in data["indexer"].items()]
    for name, collection in data["collections"].items():
        lines.append(f"[collections.{name}]")
        lines.append(f"spaces = {json.dumps(collection['spaces'])}")
        lines.append(f"video_sampling = {json.dumps(collection['video_sampling'])}")
        for source in collection["sources"]:
            lines.append(f"[[collections.{name}.sources]]")
            lines += [f"{k} = {json.dumps(v)}" for k, v in source.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
