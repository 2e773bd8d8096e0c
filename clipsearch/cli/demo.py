"""`clipsearch demo …`: the offline shapes-world demo (synthetic corpus; more subcommands join later)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from clipsearch.cli.context import print_json

app = typer.Typer(
    name="demo",
    help="Offline demo on the synthetic shapes world (corpus generation, showcase).",
    no_args_is_help=True,
)


@app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the corpus into.")],
    images: Annotated[int, typer.Option("--images", min=0, help="Short-caption images.")] = 200,
    videos: Annotated[int, typer.Option("--videos", min=0, help="Video clips with one event each.")] = 12,
    texts: Annotated[int, typer.Option("--texts", min=0, help="Text documents.")] = 20,
    long_scenes: Annotated[int, typer.Option("--long-scenes", min=0, help="Long-caption scenes.")] = 16,
    seed: Annotated[int, typer.Option("--seed", help="Same seed, same corpus.")] = 0,
    test_fraction: Annotated[
        float, typer.Option("--test-fraction", min=0.0, max=1.0, help="Share of images in the test split.")
    ] = 0.5,
    image_size: Annotated[
        int, typer.Option("--image-size", min=32, help="Image and video side in pixels.")
    ] = 128,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable summary.")] = False,
) -> None:
    """Write a shapes-world corpus (images, long scenes, videos, texts) and its manifest.jsonl."""
    from clipsearch.shapesworld.corpus import MANIFEST_NAME, generate_corpus

    manifest = generate_corpus(
        out,
        images=images,
        videos=videos,
        texts=texts,
        long_scenes=long_scenes,
        seed=seed,
        test_fraction=test_fraction,
        image_size=image_size,
    )
    counts = Counter(f"{e.type}/{e.split}" for e in manifest)
    summary = {
        "out": str(out),
        "manifest": str(out / MANIFEST_NAME),
        "assets": len(manifest),
        "counts": dict(counts),
    }
    if as_json:
        print_json(summary)
    else:
        parts = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        typer.echo(f"wrote {len(manifest)} assets to {out} ({parts}); manifest: {summary['manifest']}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="demo")
