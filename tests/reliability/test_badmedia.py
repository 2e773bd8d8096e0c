"""The bad media corpus against the indexer's decoders: every bad file fails with a typed reason,
every good file decodes as the media type its content says (not its extension).

Still to add: the end-to-end variant through `clipsearch.indexer.pipeline.IndexPipeline` (each failure
recorded with its reason, every good file indexed, links/FIFOs recorded rather than only logged).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

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
