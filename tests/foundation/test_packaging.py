"""The wheel must import exactly like the editable install: one `clipsearch.…` namespace."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # Build from a clean copy: setuptools reuses build/lib, which would leak stale files (and two
    # workers building in the checkout at once would trip over each other).
    source = tmp_path_factory.mktemp("source") / "clipsearch"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "*-data", "models"
        ),
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("clipsearch-*.whl")
    return path


def test_wheel_maps_top_level_folders_into_one_namespace(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "clipsearch/__init__.py",
        "clipsearch/cli/__init__.py",
        "clipsearch/indexer/__init__.py",
        "clipsearch/indexer/encoders/base.py",
        "clipsearch/searcher/__init__.py",
        "clipsearch/storage/__init__.py",
        "clipsearch/proto/__init__.py",
    ):
        assert module in names, module
    assert not any(n.startswith(("indexer/", "storage/", "searcher/", "proto/", "tests/")) for n in names)
    assert any(n.startswith("clipsearch-0") and n.endswith("entry_points.txt") for n in names)


def test_installed_wheel_imports_the_same_way(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
    )
    # -S skips .pth files, so the editable finder of the dev install cannot answer for us.
    code = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
        "import clipsearch, clipsearch.config, clipsearch.errors, clipsearch.indexer.encoders.base, clipsearch.storage;"
        "from clipsearch.cli import app; print(clipsearch.__file__)"
    )
    result = subprocess.run(
        [sys.executable, "-S", "-c", code, str(target), sysconfig.get_paths()["purelib"]],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip().startswith(str(target))
