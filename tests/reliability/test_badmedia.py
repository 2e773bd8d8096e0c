"""The bad media corpus against the indexer's decoders: every bad file fails with a typed reason,
every good file decodes as the media type its content says (not its extension). Then the same corpus
through the real indexer (`index_collection`, real SQLite + vector store): every bad file is recorded
as failed with its reason and listed by `clipsearch index errors`, every good file is indexed.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from clipsearch.cli import app
from clipsearch.indexer.decode.images import decode_image
from clipsearch.indexer.decode.text import read_text
from clipsearch.indexer.decode.video import SamplingPolicy, decode_video
from clipsearch.indexer.failures import FAILURE_REASONS, DecodeFailed
from clipsearch.indexer.sniff import sniff_file
from clipsearch.indexer.sources import iter_directory

from .badmedia import IMAGE_PIXEL_LIMIT, VIDEO_LIMIT_SECONDS, MediaCase, write_corpus
from .results import check_rows

#: cases whose observed outcome is a known defect in another module: case → (observed, who/what).
#: The test fails when such a case starts behaving correctly, so this list cannot go stale.
KNOWN_DEFECTS: dict[str, tuple[str, str]] = {}


def decode_by_content(path: Path) -> str:
    """What the indexer's decoders make of one file: "image"/"video"/"text" or "failed: <reason>"."""
    try:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            raise DecodeFailed("not_found", f"{path}: dangling link") from None
        except OSError as exc:
            raise DecodeFailed("unreadable", f"{path}: {exc.strerror}") from None
        if not stat.S_ISREG(mode):
            raise DecodeFailed("unsupported", f"{path}: not a regular file")
        sniffed = sniff_file(path)
        if sniffed.kind == "empty":
            raise DecodeFailed("empty", f"{path}: zero bytes")
        if sniffed.kind == "image":
            decode_image(path, IMAGE_PIXEL_LIMIT)
        elif sniffed.kind == "video":
            decode_video(
                path,
                SamplingPolicy.parse("fps:1"),
                max_seconds=VIDEO_LIMIT_SECONDS,
                max_frames=50,
                short_side=64,
            )
        elif sniffed.kind == "text":
            read_text(path, 1 << 20)
        else:
            raise DecodeFailed("unsupported", f"{path}: unknown format")
        return sniffed.kind
    except DecodeFailed as exc:
        assert exc.reason in FAILURE_REASONS
        assert str(path.name) in str(exc) or exc.reason in ("empty", "unsupported"), "message names the file"
        return f"failed: {exc.reason}"


def expected(case: MediaCase) -> str:
    return case.kind if case.good else "failed: " + " | ".join(sorted(case.reasons))


def outcome_ok(case: MediaCase, observed: str) -> bool:
    if case.good:
        return observed == case.kind
    return observed.startswith("failed: ") and observed[len("failed: ") :] in case.reasons


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[MediaCase]]:
    root = tmp_path_factory.mktemp("badmedia")
    return root, write_corpus(root)


def test_decoders_classify_every_case(corpus: tuple[Path, list[MediaCase]]) -> None:
    root, cases = corpus
    rows = []
    wrong = []
    for case in cases:
        observed = decode_by_content(root / case.name)
        ok = outcome_ok(case, observed)
        defect = KNOWN_DEFECTS.get(case.name)
        if defect is not None:
            assert not ok, f"{case.name} now behaves correctly: remove it from KNOWN_DEFECTS"
            assert observed == defect[0], (case.name, observed)
        elif not ok:
            wrong.append(f"{case.name}: expected {expected(case)}, got {observed}")
        rows.append(
            {
                "input": case.description,
                "file": case.name,
                "expected": expected(case),
                "observed": observed,
                "result": "pass" if ok else f"KNOWN DEFECT ({defect[1]})" if defect else "FAIL",
            }
        )
    assert not wrong, "\n".join(wrong)
    check_rows(
        "badmedia",
        rows,
        title="Bad media corpus: decoders (content sniffing + image/video/text decoders)",
        columns=["input", "file", "expected", "observed", "result"],
    )


def test_directory_walk_ends_on_link_loops_and_skips_nothing_good(
    corpus: tuple[Path, list[MediaCase]],
) -> None:
    """Discovery terminates on symlink loops (file and directory), never blocks on a FIFO, and yields
    every name: broken links, loops and FIFOs as items that carry their failure."""
    root, cases = corpus
    items = list(iter_directory(root))
    found = {item.metadata["relpath"]: item for item in items}
    assert len(found) == len(items), "a name was yielded twice"
    for case in cases:
        assert case.name in found, case.name
        problem = found[case.name].problem
        if case.regular:
            assert problem is None, case.name
        else:
            # Names with no regular file behind them are yielded as known-bad items, never read.
            assert problem is not None and problem.reason in case.reasons, (case.name, problem)
    # The directory link back to its parent is not entered twice: each real file appears once.
    assert not any(name.startswith("links/self/") for name in found)


def _index_corpus(root: Path, tiny_model: Path, work: Path) -> tuple[Path, dict[str, Any], list[Any]]:
    """Index the corpus as collection `bad`; returns the config, `index errors --json` and the assets."""
    from clipsearch.indexer.runner import index_collection
    from clipsearch.storage import assets, catalog
    from clipsearch.storage.db import Database

    from .live import live_settings, write_config

    settings = live_settings(
        work,
        tiny_model,
        **{
            "collections": {
                "bad": {"spaces": ["default"], "sources": [{"path": str(root)}], "index": "Flat"}
            },
            "indexer.max_video_seconds": VIDEO_LIMIT_SECONDS,
            "indexer.max_image_pixels": IMAGE_PIXEL_LIMIT,
            "indexer.max_video_frames": 50,
        },
    )
    config = write_config(work / "clipsearch.toml", settings)
    db = Database(settings.database_url)
    db.upgrade()
    try:
        summary = index_collection(settings, db, "bad")
        with db.session() as session:
            rows = assets.list_assets(session, catalog.get_collection(session, "bad").id, limit=10_000)
    finally:
        db.dispose()
    result = CliRunner().invoke(app, ["--config", str(config), "index", "errors", "bad", "--json"])
    assert result.exit_code == 0, result.output
    listed = {entry["uri"]: entry for entry in json.loads(result.stdout)}
    assert sum(summary.failed.values()) == len(listed), (summary.as_dict(), listed)
    return config, listed, rows


def test_indexer_records_every_bad_file_and_indexes_every_good_one(
    corpus: tuple[Path, list[MediaCase]], tiny_model: Path, tmp_path: Path
) -> None:
    root, cases = corpus
    _, listed, rows = _index_corpus(root, tiny_model, tmp_path)
    by_name = {os.path.relpath(a.uri, root.resolve()): a for a in rows}
    errors_by_name = {os.path.relpath(uri, root.resolve()): entry for uri, entry in listed.items()}
    table = []
    wrong = []
    for case in cases:
        record = by_name.get(case.name)
        if record is None:
            observed = "not recorded"
        elif record.status == "indexed":
            observed = f"indexed as {record.media_type}"
        else:
            observed = f"{record.status}: {record.metadata.get('failure_reason', '?')}"
        listed_entry = errors_by_name.get(case.name)
        if case.good:
            ok = observed == f"indexed as {case.kind}" and listed_entry is None
            want = f"indexed as {case.kind}"
        else:
            reason = observed.removeprefix("failed: ")
            ok = (
                observed.startswith("failed: ")
                and reason in case.reasons
                and listed_entry is not None
                and listed_entry["reason"] == reason
                and bool(listed_entry["error"])
            )
            want = "failed: " + " | ".join(sorted(case.reasons))
        if not ok:
            wrong.append(f"{case.name}: expected {want}, got {observed} (index errors: {listed_entry})")
        table.append(
            {
                "input": case.description,
                "file": case.name,
                "expected": want,
                "observed": observed,
                "in `index errors`": "yes" if listed_entry is not None else "no",
                "result": "pass" if ok else "FAIL",
            }
        )
    assert not wrong, "\n".join(wrong)
    assert len(rows) == len(cases), sorted(set(by_name) - {c.name for c in cases})
    check_rows(
        "indexer_badmedia",
        table,
        title="Bad media corpus through the indexer (index_collection → SQLite; `clipsearch index errors`)",
        columns=["input", "file", "expected", "observed", "in `index errors`", "result"],
    )
