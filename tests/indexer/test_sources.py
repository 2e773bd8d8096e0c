"""Sources: directory walks (globs, hidden files, link loops), manifests, content sniffing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from clipsearch.errors import InvalidRequest, NotFound
from clipsearch.indexer.sniff import sniff_bytes, sniff_file
from clipsearch.indexer.sources import Source, iter_directory, iter_manifest, iter_sources

from .indexer_media import write_image, write_video


def _rel(items: list) -> list[str]:
    return sorted(i.metadata["relpath"] for i in items)


def test_sniffing_uses_content_not_extension(tmp_path: Path) -> None:
    write_image(tmp_path / "really_png.jpg", fmt="PNG")
    write_image(tmp_path / "a.webp", fmt="WEBP")
    write_image(tmp_path / "a.bmp", fmt="BMP")
    write_image(tmp_path / "a.tiff", fmt="TIFF")
    write_image(tmp_path / "a.gif", fmt="GIF")
    write_image(tmp_path / "a.jpeg", fmt="JPEG")
    write_video(tmp_path / "clip.txt", [(10, 20, 30)], seconds_per_colour=0.3, container_format="mp4")
    write_video(tmp_path / "v.webm", [(10, 20, 30)], codec="libvpx-vp9", seconds_per_colour=0.3)
    write_video(tmp_path / "v.mkv", [(10, 20, 30)], seconds_per_colour=0.3)
    write_video(tmp_path / "v.avi", [(10, 20, 30)], codec="mpeg4", seconds_per_colour=0.3)
    (tmp_path / "notes.png").write_text("ein Satz über Formen — ümlauts ✓\n", encoding="utf-8")
    (tmp_path / "blob.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "empty.jpg").write_bytes(b"")
    got = {p.name: sniff_file(p) for p in tmp_path.iterdir()}
    assert (got["really_png.jpg"].kind, got["really_png.jpg"].format) == ("image", "png")
    assert got["a.webp"].format == "webp"
    assert got["a.bmp"].format == "bmp"
    assert got["a.tiff"].format == "tiff"
    assert got["a.gif"].format == "gif"
    assert got["a.jpeg"].format == "jpeg"
    assert (got["clip.txt"].kind, got["clip.txt"].format) == ("video", "mp4")
    assert (got["v.webm"].kind, got["v.webm"].format) == ("video", "webm")
    assert (got["v.mkv"].kind, got["v.mkv"].format) == ("video", "matroska")
    assert (got["v.avi"].kind, got["v.avi"].format) == ("video", "avi")
    assert got["notes.png"].kind == "text"
    assert got["blob.txt"].kind == "unknown"
    assert got["empty.jpg"].kind == "empty"


def test_text_sniff_tolerates_a_multibyte_character_cut_by_the_window() -> None:
    text = ("ä" * 5000).encode("utf-8")[:8191]  # ends in the middle of a 2-byte character
    assert sniff_bytes(text).kind == "text"
    assert sniff_bytes(b"\xff\xfe\x00\x00garbage").kind == "unknown"
    assert sniff_bytes(b"\x00\x00\x00\x18ftypqt  \x00\x00").format == "mov"
    assert sniff_bytes(b"\x00\x00\x00\x18ftypheic").kind == "image"


def test_directory_walk_globs_hidden_and_order(tmp_path: Path) -> None:
    for rel in [
        "a.jpg",
        "sub/b.png",
        "sub/deeper/c.jpg",
        "sub/cache/x.jpg",
        "skip/d.jpg",
        ".hidden/e.jpg",
        ".f.jpg",
    ]:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    assert _rel(list(iter_directory(tmp_path))) == [
        "a.jpg",
        "skip/d.jpg",
        "sub/b.png",
        "sub/cache/x.jpg",
        "sub/deeper/c.jpg",
    ]
    assert _rel(list(iter_directory(tmp_path, include=["*.jpg"], exclude=["skip/**", "cache"]))) == [
        "a.jpg",
        "sub/deeper/c.jpg",
    ]
    assert _rel(list(iter_directory(tmp_path, include=["sub/*"]))) == ["sub/b.png"]
    assert _rel(list(iter_directory(tmp_path, include=["sub/**/*.jpg"]))) == [
        "sub/cache/x.jpg",
        "sub/deeper/c.jpg",
    ]
    first = [i.key for i in iter_directory(tmp_path)]
    assert first == [i.key for i in iter_directory(tmp_path)]  # stable order
    item = next(i for i in iter_directory(tmp_path) if i.metadata["relpath"] == "a.jpg")
    assert item.size == 1 and item.mtime_ns == os.stat(tmp_path / "a.jpg").st_mtime_ns


def test_symlink_loops_end_and_files_are_yielded_once(tmp_path: Path) -> None:
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "pic.jpg").write_bytes(b"x")
    (tmp_path / "d" / "e" / "loop").symlink_to(tmp_path / "d", target_is_directory=True)
    (tmp_path / "alias").symlink_to(tmp_path / "d", target_is_directory=True)
    (tmp_path / "link.jpg").symlink_to(tmp_path / "d" / "e" / "pic.jpg")
    (tmp_path / "broken.jpg").symlink_to(tmp_path / "missing.jpg")
    items = list(iter_directory(tmp_path))
    good = [item for item in items if item.problem is None]
    assert len(good) == 1
    assert good[0].key == str((tmp_path / "d" / "e" / "pic.jpg").resolve())
    # The dangling link is not skipped silently: it comes back as an item that is known bad.
    (broken,) = [item for item in items if item.problem is not None]
    assert broken.key == str(tmp_path / "broken.jpg") and broken.problem is not None
    assert broken.problem.reason == "not_found"


def test_fifos_and_link_loops_are_items_with_a_problem(tmp_path: Path) -> None:
    (tmp_path / "ok.jpg").write_bytes(b"x")
    os.mkfifo(tmp_path / "pipe.jpg")
    (tmp_path / "a.jpg").symlink_to(tmp_path / "b.jpg")
    (tmp_path / "b.jpg").symlink_to(tmp_path / "a.jpg")
    reasons = {
        item.metadata["relpath"]: item.problem.reason if item.problem else None
        for item in iter_directory(tmp_path)
    }
    assert reasons == {
        "ok.jpg": None,
        "pipe.jpg": "unsupported",
        "a.jpg": "unreadable",
        "b.jpg": "unreadable",
    }
    # Excluded names stay excluded, broken or not.
    assert {i.metadata["relpath"] for i in iter_directory(tmp_path, exclude=["pipe.*", "a.jpg"])} == {
        "ok.jpg",
        "b.jpg",
    }


def test_jsonl_manifest_paths_texts_captions_metadata_and_bad_rows(tmp_path: Path) -> None:
    write_image(tmp_path / "imgs" / "cat.png")
    rows = [
        {
            "path": "imgs/cat.png",
            "caption": "a cat",
            "captions": {"de": "eine Katze"},
            "tag": "pets",
            "year": 2020,
        },
        {
            "text": "a standalone passage",
            "id": "doc-1",
            "caption_fr": "un passage",
            "metadata": {"lang": "en"},
        },
        {"text": "no id given"},
        {"path": "imgs/missing.png"},
        {"path": "imgs/cat.png", "text": "both"},
        {"nothing": True},
        {"path": "imgs/cat.png", "type": "audio"},
    ]
    lines = [json.dumps(r) for r in rows]
    lines.insert(3, "{not json")
    lines.insert(4, "[1, 2]")
    lines.append("")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("\n".join(lines), encoding="utf-8")
    items = list(iter_manifest(manifest))
    good = [i for i in items if i.problem is None]
    bad = [i for i in items if i.problem is not None]
    cat, doc, anonymous = good
    assert cat.path == tmp_path / "imgs" / "cat.png" and cat.key == str(
        (tmp_path / "imgs" / "cat.png").resolve()
    )
    assert dict(cat.captions) == {"": "a cat", "de": "eine Katze"}
    assert dict(cat.metadata) == {"tag": "pets", "year": 2020}
    assert doc.text == "a standalone passage" and doc.declared_kind == "text" and doc.path is None
    assert doc.key == f"{manifest.resolve()}#doc-1"
    assert dict(doc.captions) == {"fr": "un passage"} and dict(doc.metadata) == {"lang": "en"}
    assert anonymous.key.startswith(f"{manifest.resolve()}#")
    reasons = sorted((i.problem.reason, i.key.rsplit(":", 1)[-1]) for i in bad if i.problem)
    assert reasons == [
        ("bad_manifest_row", "4"),
        ("bad_manifest_row", "5"),
        ("bad_manifest_row", "7"),
        ("bad_manifest_row", "8"),
        ("bad_manifest_row", "9"),
        ("not_found", str((tmp_path / "imgs" / "missing.png").resolve()).rsplit(":", 1)[-1]),
    ]


def test_csv_manifest_with_language_captions(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,text,caption,caption_de,type,owner\n"
        "a.png,,red square,rotes Quadrat,,alice\n"
        ",inline text document,,,,bob\n"
        "a.png,,x,y,z,extra,too-many\n",
        encoding="utf-8",
    )
    items = list(iter_manifest(manifest))
    assert [i.problem is None for i in items] == [True, True, False]
    assert dict(items[0].captions) == {"": "red square", "de": "rotes Quadrat"}
    assert dict(items[0].metadata) == {"owner": "alice"}
    assert items[1].text == "inline text document" and dict(items[1].metadata) == {"owner": "bob"}


def test_sources_auto_kind_dedupe_and_errors(tmp_path: Path) -> None:
    write_image(tmp_path / "pics" / "a.png")
    (tmp_path / "doc.txt").write_text("hello", encoding="utf-8")
    (tmp_path / "m.jsonl").write_text(
        json.dumps({"path": "pics/a.png", "caption": "dup"}) + "\n", encoding="utf-8"
    )
    sources = [Source(tmp_path / "pics"), Source(tmp_path / "doc.txt"), Source(tmp_path / "m.jsonl")]
    assert [s.resolved_kind() for s in sources] == ["directory", "text", "manifest"]
    items = list(iter_sources(sources))
    assert len(items) == 2  # the manifest names a file the directory already gave
    assert items[1].declared_kind == "text"
    with pytest.raises(NotFound):
        list(Source(tmp_path / "nope").iter_items())
    (tmp_path / "latin1.jsonl").write_bytes('{"text": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(InvalidRequest, match="not UTF-8"):
        list(iter_manifest(tmp_path / "latin1.jsonl"))
