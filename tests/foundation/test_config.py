from __future__ import annotations

from pathlib import Path

import pytest

from clipsearch.config import Settings, load_settings
from clipsearch.errors import ConfigError, NotFound


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "clipsearch.toml"
    path.write_text(text)
    return path


def test_defaults_give_an_embedded_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.data_dir == Path("clipsearch-data")
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith("clipsearch.db")
    assert {s.role for s in settings.spaces.values()} == {"default", "long", "multilingual"}
    assert settings.spaces["default"].device == "auto"
    assert settings.search.frame_alpha == pytest.approx(0.4)


def test_file_values_and_relative_paths(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
data_dir = "data"
[server]
port = 7001
[spaces.fast]
model = "local-dir:models/m"
precision = "bf16"
[collections.photos]
spaces = ["fast"]
sources = [{path = "pics", include = ["*.jpg"]}]
""",
    )
    settings = load_settings(path, environ={})
    assert settings.server.port == 7001
    assert settings.data_dir == tmp_path / "data"
    assert settings.spaces["fast"].model == f"local-dir:{tmp_path / 'models/m'}"
    assert settings.collection("photos").sources[0].path == str(tmp_path / "pics")
    assert settings.source == path


def test_environment_overrides_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[server]\nport = 7001\n")
    env = {
        "CLIPSEARCH_SERVER__PORT": "7002",
        "CLIPSEARCH_AUTH__READ_TOKENS": '["a", "b"]',
        "CLIPSEARCH_OTHER": "x",
    }
    settings = load_settings(path, environ=env)
    assert settings.server.port == 7002
    assert settings.auth.read_tokens == ("a", "b")


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[search]\nrerank_depth = 50\n")
    assert load_settings(environ={"CLIPSEARCH_CONFIG": str(path)}).search.rerank_depth == 50


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[server]\nport = 'abc'\n", "server.port"),
        ("[server]\nport = 70000\n", "server.port"),
        ("[server]\nprot = 1\n", "server.prot: unknown key"),
        ("[spaces.x]\nmodel = 'm'\ndevice = 'tpu'\n", "spaces.x.device"),
        ("[collections.c]\nvideo_sampling = 'fps:0'\n", "collections.c.video_sampling"),
        ("[search]\nframe_alpha = 1.5\n", "search.frame_alpha"),
    ],
)
def test_bad_value_names_the_key_in_one_line(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), environ={})
    message = str(info.value)
    assert key in message
    assert "\n" not in message


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(write(tmp_path, "[server\n"), environ={})
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_unknown_space_and_collection_are_not_found() -> None:
    settings = Settings()
    with pytest.raises(NotFound, match="unknown space 'nope'"):
        settings.space("nope")
    with pytest.raises(NotFound, match="unknown collection"):
        settings.collection("nope")
