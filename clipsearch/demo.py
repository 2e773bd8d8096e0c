"""`python -m clipsearch.demo` (`make demo`): the whole system, offline, on a shapes-world corpus.

Every step uses the commands an operator would run and checks its result; a missing piece stops the
demo with the step's name and the reason (it never pretends):

 1. the shapes-world models (`shapes-base`, `-long`, `-multilingual` in `models/`) must be present;
 2. `clipsearch demo generate` writes a corpus (images, long-caption scenes, videos, text documents,
    captions in four languages) and its `manifest.jsonl` into ./demo-data/corpus;
 3. a config for it is written to ./demo-data/clipsearch.toml (three spaces, one collection);
 4. `clipsearch index run shapes` embeds the corpus in its three spaces, then builds and activates
    the indices (item + frame);
 5. `clipsearch serve` starts the gRPC server on a free localhost port;
 6. showcase queries go through the gRPC client, each marked ✓/✗ against the manifest's ground
    truth; a recall@1 summary over every query of each kind follows;
 7. the server gets SIGTERM and must stop cleanly.

Exit status: 0 when every step ran and every showcase query's top hit is right, 1 otherwise.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clipsearch.config import REPO_ROOT, SHAPES_MODELS_DIR

if TYPE_CHECKING:
    from clipsearch.client import SearchClient, SearchResult
    from clipsearch.shapesworld.corpus import CorpusManifest, ManifestEntry

COLLECTION = "shapes"
#: space name → (model folder, role)
SPACES = {
    "default": ("shapes-base", "default"),
    "long": ("shapes-long", "long"),
    "multilingual": ("shapes-multilingual", "multilingual"),
}
FULL_SIZE = {"images": 200, "videos": 12, "texts": 20, "long_scenes": 16}
SMALL_SIZE = {"images": 40, "videos": 6, "texts": 8, "long_scenes": 8}
SERVER_START_SECONDS = 180.0


class DemoFailed(SystemExit):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"\ndemo failed at step '{step}': {message}")


def _env() -> dict[str, str]:
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    env.pop("CLIPSEARCH_CONFIG", None)  # the demo's own config, never the caller's
    return env


def _cli(*args: str, step: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "clipsearch", *args], capture_output=True, text=True, env=_env()
    )
    if result.returncode != 0:
        raise DemoFailed(
            step, f"`clipsearch {' '.join(args)}` exited {result.returncode}:\n{result.stderr[-3000:]}"
        )
    return result.stdout


# ---- steps 1–4 ----------------------------------------------------------------------------------


def check_models(models: Path) -> None:
    missing = [name for name, _ in SPACES.values() if not (models / name / "open_clip_config.json").is_file()]
    if missing:
        raise DemoFailed(
            "models",
            f"missing shapes-world models in {models}: {', '.join(missing)} "
            "(train them with `make models`, or pass --models DIR)",
        )


def generate(corpus: Path, size: dict[str, int]) -> CorpusManifest:
    from clipsearch.shapesworld.corpus import MANIFEST_NAME, load_manifest

    if (corpus / MANIFEST_NAME).is_file():
        print(f"    reusing the corpus in {corpus} (delete it to regenerate)")
    else:
        out = _cli(
            "demo",
            "generate",
            "--out",
            str(corpus),
            "--images",
            str(size["images"]),
            "--videos",
            str(size["videos"]),
            "--texts",
            str(size["texts"]),
            "--long-scenes",
            str(size["long_scenes"]),
            "--json",
            step="generate",
        )
        print(f"    {json.loads(out)['counts']}")
    manifest = load_manifest(corpus)
    if not manifest.entries:
        raise DemoFailed("generate", f"the manifest in {corpus} lists no assets")
    return manifest


def write_config(root: Path, corpus: Path, models: Path) -> Path:
    config = root / "clipsearch.toml"
    lines = ["# written by python -m clipsearch.demo", f'data_dir = "{(root / "state").resolve()}"', ""]
    for space, (folder, role) in SPACES.items():
        lines += [
            f"[spaces.{space}]",
            f'model = "local-dir:{(models / folder).resolve()}"',
            f'role = "{role}"',
            # Pinned, not "auto": no start-up measurement, the same vectors in indexer and server.
            'backend = "torch"',
            'precision = "fp32"',
            'device = "cpu"',
        ]
        if role == "multilingual":
            lines.append('languages = ["en", "de", "fr", "es"]')
        lines.append("")
    lines += [
        f"[collections.{COLLECTION}]",
        f"spaces = {json.dumps(list(SPACES))}",
        f'sources = [{{ path = "{(corpus / "manifest.jsonl").resolve()}", kind = "manifest" }}]',
        'video_sampling = "fps:2"',
        "",
        "[server]",
        'host = "127.0.0.1"',
        "port = 0",
        "",
    ]
    config.write_text("\n".join(lines), encoding="utf-8")
    return config


def index(config: Path, manifest: CorpusManifest) -> None:
    out = _cli("-c", str(config), "-q", "index", "run", COLLECTION, "--no-progress", "--json", step="index")
    report = json.loads(out)
    failed = sum((report.get("failed") or {}).values())
    if failed or report["indexed"] + report["unchanged"] != len(manifest):
        raise DemoFailed(
            "index",
            f"expected {len(manifest)} assets, indexed {report['indexed']} (+{report['unchanged']} unchanged), "
            f"failed {report.get('failed')}; see `clipsearch -c {config} index errors {COLLECTION}`",
        )
    builds = report["builds"]
    inactive = [b for b in builds if b["status"] != "activated"]
    print(f"    {report['indexed']} new assets, {report['frames']} video frames, {report['seconds']:.1f} s")
    for build in builds:
        recall = f", recall@10 {build['recall_at_10']:.3f}" if build.get("recall_at_10") is not None else ""
        print(
            f"    {build['space']}/{build['unit']}: {build['status']} v{build['version']} {build['factory']}{recall}"
        )
    if inactive:
        raise DemoFailed("index", f"indices not activated: {inactive}")


# ---- step 5 and 7: the server -------------------------------------------------------------------


class ServerProcess:
    """`clipsearch serve` in a subprocess (its log in `log_path`); stops with SIGTERM and must exit 0."""

    def __init__(self, config: Path, log_path: Path) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop/kill)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "clipsearch", "-c", str(config), "serve"],
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
            env=_env(),
        )
        self.target = self._wait_ready()

    def _wait_ready(self) -> str:
        import select

        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], SERVER_START_SECONDS)
        line = self.process.stdout.readline() if ready else ""
        match = re.search(r"serving on ([\w.\-]+:\d+)", line)
        if match is None:
            self.kill()
            raise DemoFailed(
                "serve",
                f"the server did not start within {SERVER_START_SECONDS:.0f} s (said {line.strip()!r}):\n"
                f"{self.log_path.read_text(encoding='utf-8')[-3000:]}",
            )
        return match.group(1)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(30)
        self._log.close()

    def stop(self) -> None:
        if self.process.poll() is not None:
            self._log.close()
            raise DemoFailed("shutdown", f"the server had already exited with {self.process.returncode}")
        self.process.send_signal(signal.SIGTERM)
        try:
            out, _ = self.process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.kill()
            raise DemoFailed("shutdown", "the server did not stop within 60 s of SIGTERM") from None
        self._log.close()
        if self.process.returncode != 0 or "stopped" not in out:
            raise DemoFailed(
                "shutdown",
                f"the server exited {self.process.returncode}:\n"
                f"{self.log_path.read_text(encoding='utf-8')[-3000:]}",
            )


def check_serving(client: SearchClient, server: ServerProcess) -> None:
    """Every space of the collection must serve an item and a frame index (else the log says why)."""
    (collection,) = [c for c in client.list_collections() if c.name == COLLECTION]
    for space in collection.spaces:
        units = sorted(v.unit for v in space.active_versions)
        print(
            f"    {space.name}: {space.role} space, dim {space.dim}, serving {', '.join(units) or 'nothing'}"
        )
        if units != ["frame", "item"]:
            log = server.log_path.read_text(encoding="utf-8")[-3000:]
            raise DemoFailed(
                "serve", f"space '{space.name}' serves {units or 'no index'}; server log:\n{log}"
            )


# ---- step 6: showcase ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """One query with its known right answer."""

    title: str
    expected: str  # uri of the right item
    kwargs: dict[str, Any]
    window: tuple[float, float] | None = None  # video: when the event is on screen


def _uri(manifest: CorpusManifest, entry: ManifestEntry) -> str:
    return str(manifest.path(entry).resolve())


def _short(text: str, limit: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def query_sets(manifest: CorpusManifest) -> dict[str, list[Query]]:
    """Every query of each showcase kind the corpus supports, right answers from the manifest."""
    test_images = manifest.select(type="image", split="test", kind="short")
    long_images = [e for e in manifest.select(type="image", kind="long") if e.long_caption]
    videos = [e for e in manifest.select(type="video") if e.event is not None and e.captions.get("en")]
    # Showcase first a clip whose event object is no other clip's background distractor: for those
    # the caption names exactly one clip (the recall line below still counts every clip).
    videos.sort(key=lambda e: _ambiguous(e, videos))
    caption_docs = [
        e for e in manifest.select(type="text", kind="caption") if e.metadata.get("language") == "en"
    ]
    by_id = {e.id: e for e in manifest.entries}
    sets: dict[str, list[Query]] = {
        "text → image": [
            Query(
                f"“{e.captions['en']}”",
                _uri(manifest, e),
                {"text": e.captions["en"], "media_types": ["image"]},
            )
            for e in test_images
        ],
        "German text → image": [
            Query(
                f"“{e.captions['de']}”",
                _uri(manifest, e),
                {"text": e.captions["de"], "media_types": ["image"]},
            )
            for e in test_images
            if e.captions.get("de")
        ],
        "long text → image": [
            Query(
                f"“{_short(e.long_caption['en'], 140)}” ({len(e.long_caption['en'].split())} words)",
                _uri(manifest, e),
                {"text": e.long_caption["en"], "media_types": ["image"]},
            )
            for e in long_images
            if e.long_caption and e.long_caption.get("en")
        ],
        # The moment is described the way the models were trained: the whole frame while the event
        # is on screen (a single-object phrase is a weaker query for these small models).
        "text → video (with the moment)": [
            Query(
                f"“{e.event.captions['en']}”",
                _uri(manifest, e),
                {"text": e.event.captions["en"], "media_types": ["video"]},
                (e.event.start_sec, e.event.end_sec),
            )
            for e in videos
            if e.event is not None and e.event.captions.get("en")
        ],
        "image → image (a resized JPEG copy)": [
            Query(
                Path(e.path).name,
                _uri(manifest, e),
                {"image": _jpeg_copy(manifest.path(e)), "media_types": ["image"]},
            )
            for e in test_images
        ],
        "image → text": [
            Query(
                Path(by_id[str(e.metadata["about"])].path).name,
                _uri(manifest, e),
                {
                    "image": manifest.path(by_id[str(e.metadata["about"])]).read_bytes(),
                    "media_types": ["text"],
                },
            )
            for e in caption_docs
            if str(e.metadata.get("about")) in by_id
        ],
    }
    for kind, queries in sets.items():
        if not queries:
            raise DemoFailed("showcase", f"the corpus has nothing to ask for '{kind}'")
    return sets


def _ambiguous(entry: ManifestEntry, videos: list[ManifestEntry]) -> bool:
    event = entry.metadata.get("event_object") or {}
    key = (event.get("colour"), event.get("shape"))
    return any(
        (d.get("colour"), d.get("shape")) == key
        for other in videos
        if other is not entry
        for d in other.metadata.get("distractors") or []
    )


def _jpeg_copy(path: Path) -> bytes:
    """The image re-encoded as a smaller JPEG: not byte-identical to the indexed file."""
    from PIL import Image

    with Image.open(path) as image:
        copy = image.convert("RGB").resize((image.width * 3 // 4, image.height * 3 // 4))
    buffer = io.BytesIO()
    copy.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _right(result: SearchResult, query: Query) -> bool:
    if not result.hits or result.hits[0].uri != query.expected:
        return False
    if query.window is not None:
        moment = result.hits[0].moment
        return moment is not None and query.window[0] <= moment.t_sec < query.window[1]
    return True


def _print_result(kind: str, query: Query, result: SearchResult) -> bool:
    right = _right(result, query)
    notes = [f"space {result.space} ({result.route_reason})"]
    if result.language:
        notes.append(f"language {result.language}")
    if result.long_text not in ("", "fitted"):
        notes.append(f"long text {result.long_text}")
    print(f"\n{'✓' if right else '✗'} {kind}: {query.title}")
    print(f"    answered by {', '.join(notes)}")
    for hit in result.hits:
        mark = "→" if hit.uri == query.expected else " "
        moment = ""
        if hit.moment is not None:
            moment = (
                f"  moment {hit.moment.t_sec:.1f} s "
                f"(segment {hit.moment.segment_start_sec:.1f}–{hit.moment.segment_end_sec:.1f} s)"
            )
        print(
            f"    {mark} #{hit.rank + 1} {hit.score:6.3f}  {hit.media_type:<5} {Path(hit.uri).name}{moment}"
        )
    if query.window is not None:
        print(f"    the event is on screen {query.window[0]:.1f}–{query.window[1]:.1f} s")
    if not right:
        print(f"    expected {Path(query.expected).name}")
    return right


def showcase(client: SearchClient, manifest: CorpusManifest) -> tuple[int, int]:
    """One query of each kind in detail, then recall@1 over every query of that kind."""
    passed = 0
    sets = query_sets(manifest)
    for kind, queries in sets.items():
        passed += _print_result(
            kind, queries[0], client.search(collection=COLLECTION, top_k=3, **queries[0].kwargs)
        )
    print("\nrecall@1 over every query of each kind (right top hit; video: and the moment in the event):")
    for kind, queries in sets.items():
        right = sum(_right(client.search(collection=COLLECTION, top_k=1, **q.kwargs), q) for q in queries)
        print(f"    {kind:<38} {right:>4}/{len(queries):<4} {right / len(queries):6.1%}")
    return passed, len(sets)


# ---- main -----------------------------------------------------------------------------------------


def _step(number: int, text: str) -> None:
    print(f"\n[{number}/7] {text}", flush=True)


def run(out: Path, models: Path, size: dict[str, int], fresh: bool) -> int:
    from clipsearch.client import SearchClient

    started = time.monotonic()
    root = out.resolve()
    if fresh and root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    corpus = root / "corpus"
    _step(1, f"checking the shapes-world models in {models}")
    check_models(models)
    _step(2, f"generating the corpus into {corpus}")
    manifest = generate(corpus, size)
    _step(3, "writing the config")
    config = write_config(root, corpus, models)
    print(f"    {config}")
    _step(4, "indexing in three spaces (default, long, multilingual), building and activating indices")
    index(config, manifest)
    _step(5, "starting the gRPC server (clipsearch serve)")
    server = ServerProcess(config, root / "server.log")
    print(f"    serving on {server.target}")
    try:
        with SearchClient(server.target, timeout=60) as client:
            check_serving(client, server)
            _step(6, "showcase queries through the gRPC client")
            passed, total = showcase(client, manifest)
    except BaseException:
        server.kill()
        raise
    _step(7, "shutting the server down (SIGTERM)")
    server.stop()
    print("    stopped cleanly")
    print(f"\n{passed}/{total} showcase queries answered right; {time.monotonic() - started:.0f} s in all")
    return 0 if passed == total else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clipsearch.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=Path("demo-data"), help="working folder (default ./demo-data)"
    )
    parser.add_argument(
        "--models", type=Path, default=SHAPES_MODELS_DIR, help="folder with the shapes models"
    )
    parser.add_argument("--small", action="store_true", help="a smaller corpus (quicker; used by the tests)")
    parser.add_argument("--fresh", action="store_true", help="delete the working folder first")
    args = parser.parse_args(argv)
    return run(args.out, args.models, SMALL_SIZE if args.small else FULL_SIZE, args.fresh)


if __name__ == "__main__":
    os.chdir(Path.cwd() if (Path.cwd() / "Makefile").is_file() else REPO_ROOT)
    sys.exit(main())
