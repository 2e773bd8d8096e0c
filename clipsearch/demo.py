"""`python -m clipsearch.demo` (`make demo`): the whole system, offline, on a shapes-world corpus.

Steps — each one checks its result and stops loudly when a piece is missing (it never pretends):
 1. the shapes-world models (`models/shapes-base`, `-long`, `-multilingual`) must be present;
 2. `clipsearch demo generate` writes a corpus (images, videos, texts, four languages, long captions)
    into ./demo-data/corpus;
 3. a config for it is written to ./demo-data/clipsearch.toml;
 4. `clipsearch index run shapes` embeds it in its three spaces and builds + activates the indices;
 5. a gRPC server starts on a free localhost port;
 6. showcase queries go through the real client; each says whether its top hit is right per the
    corpus ground truth (captions stored with the items);
 7. the server shuts down gracefully.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from clipsearch.config import REPO_ROOT, SHAPES_MODELS_DIR, load_settings

DEMO_DIR = Path("demo-data")
MODELS = ("shapes-base", "shapes-long", "shapes-multilingual")


class DemoFailed(SystemExit):
    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"\ndemo failed at step '{step}': {message}")


def _cli(*args: str, step: str) -> str:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "clipsearch", *args], capture_output=True, text=True, env=env
    )
    if result.returncode != 0:
        raise DemoFailed(
            step, f"`clipsearch {' '.join(args)}` exited {result.returncode}:\n{result.stderr[-2000:]}"
        )
    return result.stdout


def check_models() -> None:
    missing = [m for m in MODELS if not (SHAPES_MODELS_DIR / m).is_dir()]
    if missing:
        raise DemoFailed(
            "models",
            f"missing shapes-world models in {SHAPES_MODELS_DIR}: {', '.join(missing)} (`make models`)",
        )


def generate(corpus: Path) -> None:
    if corpus.is_dir() and any(corpus.iterdir()):
        print(f"  corpus exists already in {corpus}")
        return
    _cli("demo", "generate", "--out", str(corpus), step="generate")
    if not corpus.is_dir() or not any(corpus.iterdir()):
        raise DemoFailed("generate", f"`clipsearch demo generate` wrote nothing into {corpus}")


def write_config(root: Path, corpus: Path) -> Path:
    config = root / "clipsearch.toml"
    models = SHAPES_MODELS_DIR
    config.write_text(
        f"""# written by python -m clipsearch.demo
data_dir = "{(root / "state").resolve()}"

[spaces.default]
model = "local-dir:{models / "shapes-base"}"
role = "default"

[spaces.long]
model = "local-dir:{models / "shapes-long"}"
role = "long"

[spaces.multilingual]
model = "local-dir:{models / "shapes-multilingual"}"
role = "multilingual"
languages = ["en", "de", "fr", "es"]

[collections.shapes]
spaces = ["default", "long", "multilingual"]
sources = [{{ path = "{corpus.resolve()}" }}]
video_sampling = "fps:2"

[server]
host = "127.0.0.1"
port = 0
""",
        encoding="utf-8",
    )
    return config


class Showcase:
    """Queries whose right answer is known from the items' stored captions."""

    def __init__(self, client: Any, db_items: list[Any]) -> None:
        self.client = client
        self.items = db_items
        self.passed = 0
        self.total = 0

    def caption(self, media: str, key: str, language: str = "en") -> tuple[Any, str] | None:
        for item in self.items:
            if item.media_type != media:
                continue
            captions = item.metadata.get(key)
            if isinstance(captions, dict) and isinstance(captions.get(language), str):
                return item, captions[language]
            if isinstance(captions, str) and language == "en":
                return item, captions
        return None

    def run(self, title: str, expected_uri: str, **query: Any) -> None:
        result = self.client.search(collection="shapes", top_k=3, **query)
        self.total += 1
        right = bool(result.hits) and result.hits[0].uri == expected_uri
        self.passed += right
        print(
            f"\n▶ {title}  [space {result.space} ({result.route_reason}){', truncated' if result.query_truncated else ''}]"
        )
        for hit in result.hits:
            mark = "✓" if hit.uri == expected_uri else " "
            moment = f"  moment {hit.moment.t_sec:.1f}s" if hit.moment else ""
            print(f"   {mark} {hit.score:.3f} {hit.media_type:<5} {Path(hit.uri).name}{moment}")
        print(f"   top hit {'correct' if right else 'WRONG'} (expected {Path(expected_uri).name})")


def showcase(target: str, config: Path) -> tuple[int, int]:
    from clipsearch.client import SearchClient
    from clipsearch.storage import assets, catalog
    from clipsearch.storage.db import Database

    settings = load_settings(config)
    db = Database(settings.database_url)
    with db.session() as session:
        record = catalog.get_collection(session, "shapes")
        items = assets.list_assets(session, record.id, statuses=("indexed",), limit=100_000)
    db.dispose()
    if not items:
        raise DemoFailed("showcase", "the collection has no indexed items")
    with SearchClient(target, timeout=60) as client:
        show = Showcase(client, items)
        plans = [
            ("text → image", "image", "caption", "en", {}),
            ("German text → image", "image", "caption", "de", {}),
            ("long text → image", "image", "long_caption", "en", {}),
            ("text → video (with the moment)", "video", "caption", "en", {"media_types": ["video"]}),
        ]
        for title, media, key, language, extra in plans:
            found = show.caption(media, key, language)
            if found is None:
                raise DemoFailed(
                    "showcase", f"no {media} item carries a '{key}' caption in '{language}' in its metadata"
                )
            item, text = found
            show.run(
                f"{title}: “{text[:90]}”", item.uri, text=text, media_types=extra.get("media_types", [media])
            )
        image_item = next((i for i in items if i.media_type == "image"), None)
        if image_item is None:
            raise DemoFailed("showcase", "no image in the corpus")
        data = Path(image_item.uri).read_bytes()
        show.run(
            f"image → image: {Path(image_item.uri).name}", image_item.uri, image=data, media_types=["image"]
        )
        text_item = next((i for i in items if i.media_type == "text" and i.metadata.get("image_uri")), None)
        if text_item is None:
            raise DemoFailed("showcase", "no text item names the image it describes (metadata 'image_uri')")
        image_bytes = Path(text_item.metadata["image_uri"]).read_bytes()
        show.run("image → text", text_item.uri, image=image_bytes, media_types=["text"])
    return show.passed, show.total


def serve_in_background(config: Path) -> tuple[Any, asyncio.AbstractEventLoop, threading.Thread]:
    from clipsearch.searcher.app import build_engine
    from clipsearch.searcher.server import SearchServer

    settings = load_settings(config)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    server = SearchServer(settings, build_engine(settings))
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(300)
    return server, loop, thread


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    root = DEMO_DIR.resolve()
    root.mkdir(parents=True, exist_ok=True)
    corpus = root / "corpus"
    print("1/7 checking the shapes-world models")
    check_models()
    print("2/7 generating the corpus")
    generate(corpus)
    print("3/7 writing the config")
    config = write_config(root, corpus)
    print("4/7 indexing (three spaces) and building indices")
    _cli("-c", str(config), "index", "run", "shapes", "--no-progress", step="index")
    print("5/7 starting the gRPC server")
    server, loop, thread = serve_in_background(config)
    target = f"127.0.0.1:{server.port}"
    print(f"    serving on {target}")
    try:
        print("6/7 showcase queries through the gRPC client")
        passed, total = showcase(target, config)
    finally:
        print("\n7/7 shutting down")
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
    print(
        f"\n{passed}/{total} showcase queries answered with the right top hit; {time.monotonic() - started:.0f} s in all"
    )
    return 0 if passed == total else 1


if __name__ == "__main__":
    os.chdir(Path.cwd() if (Path.cwd() / "Makefile").is_file() else REPO_ROOT)
    sys.exit(main())
