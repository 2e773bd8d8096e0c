#!/usr/bin/env python3
"""Retrieval quality of the shapes-world models on the held-out split (one table + JSON).

    python bench/quality.py                         # generates a corpus (seed 1234) in a temp dir
    python bench/quality.py --corpus DIR --json-out bench/results/quality.json

Models are loaded through the production path (`clipsearch.indexer.encoders.load_encoder`) from
`models/shapes-{base,long,multilingual}`. Every figure is printed next to its baseline from the same
run: chance level, shapes-base for the long and multilingual variants, mean-of-frames for video.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from clipsearch.config import SHAPES_MODELS_DIR, SpaceSettings  # noqa: E402
from clipsearch.shapesworld.corpus import CorpusManifest, generate_corpus, load_manifest  # noqa: E402
from clipsearch.shapesworld.quality import (  # noqa: E402
    frame_max_retrieval,
    long_caption_t2i,
    per_language_t2i,
    short_retrieval,
    video_frames,
    video_retrieval,
)

LANGS = ("en", "de", "fr", "es")
#: corpus used when --corpus is not given: 200 held-out short images, 40 long scenes, 24 videos
DEFAULT_CORPUS = {
    "images": 400,
    "videos": 24,
    "texts": 0,
    "long_scenes": 40,
    "seed": 1234,
    "test_fraction": 0.5,
}


def load(models_dir: Path, name: str, precision: str) -> Any:
    from clipsearch.indexer.encoders import load_encoder

    space = SpaceSettings.model_validate(
        {
            "model": f"local-dir:{models_dir / name}",
            "precision": precision,
            "backend": "torch",
            "device": "cpu",
        }
    )
    return load_encoder(name, space)


def run(manifest: CorpusManifest, models_dir: Path, precision: str, video_fps: float) -> dict[str, Any]:
    base = load(models_dir, "shapes-base", precision)
    long = load(models_dir, "shapes-long", precision)
    multi = load(models_dir, "shapes-multilingual", precision)
    n_short = len(manifest.select(type="image", split="test", kind="short"))
    short = short_retrieval(base, manifest, "en")
    long_base = long_caption_t2i(base, manifest)
    long_long = long_caption_t2i(long, manifest)
    lang_base = per_language_t2i(base, manifest, LANGS)
    lang_multi = per_language_t2i(multi, manifest, LANGS)
    videos = video_frames(base, manifest, video_fps)
    video = video_retrieval(base, videos)
    frame_max = frame_max_retrieval(base, videos)
    return {
        "n_test_images": n_short,
        "chance_r1": 1.0 / n_short,
        "short": {
            "t2i": {f"r{k}": v for k, v in short["t2i"].items()},
            "i2t": {f"r{k}": v for k, v in short["i2t"].items()},
        },
        "long": {"base_r1": long_base["r1"], "long_r1": long_long["r1"], "gain": long_long["r1"] - long_base["r1"],
                 "family_chance": long_base["family_chance"], "n": long_base["n"]},
        "languages": {"base": lang_base, "multilingual": lang_multi,
                      "multilingual_ratio_to_en": {k: v / max(lang_multi["en"], 1e-9) for k, v in lang_multi.items()}},
        "video": {**video, "frame_max_r1_reference": frame_max["r1"], "fps": video_fps,
                  "chance_r1": 1.0 / max(1, video["n"])},
    }  # fmt: skip


def table(result: dict[str, Any]) -> str:
    s, lg, la, v = result["short"], result["long"], result["languages"], result["video"]
    rows = [
        (
            "short t2i R@1/5/10 (base)",
            f"{s['t2i']['r1']:.3f} / {s['t2i']['r5']:.3f} / {s['t2i']['r10']:.3f}",
            f"chance {result['chance_r1']:.3f} (n={result['n_test_images']})",
        ),
        (
            "short i2t R@1/5/10 (base)",
            f"{s['i2t']['r1']:.3f} / {s['i2t']['r5']:.3f} / {s['i2t']['r10']:.3f}",
            f"chance {result['chance_r1']:.3f}",
        ),
        (
            "long-caption t2i R@1: long",
            f"{lg['long_r1']:.3f}",
            f"base (77-token truncation) {lg['base_r1']:.3f}, gain {lg['gain']:+.3f}; family chance {lg['family_chance']:.2f}",
        ),
    ]
    for lang in LANGS:
        rows.append(
            (
                f"t2i R@1 [{lang}]: multilingual",
                f"{la['multilingual'][lang]:.3f}",
                f"base {la['base'][lang]:.3f}; ratio to multilingual en {la['multilingual_ratio_to_en'][lang]:.2f}",
            )
        )
    rows.append(
        (
            "video t2v R@1/5 (mean of frames)",
            f"{v['r1']:.3f} / {v['r5']:.3f}",
            f"chance {v['chance_r1']:.3f} (n={v['n']}); max-frame ranking {v['frame_max_r1_reference']:.3f}",
        )
    )
    rows.append(
        (
            "video best frame in event window",
            f"{v['best_frame_in_window']:.3f}",
            f"frames at {v['fps']:g} fps",
        )
    )
    width = max(len(r[0]) for r in rows)
    vwidth = max(len(r[1]) for r in rows)
    lines = [f"{'metric'.ljust(width)}  {'value'.ljust(vwidth)}  baseline (same run)"]
    lines += [f"{a.ljust(width)}  {b.ljust(vwidth)}  {c}" for a, b, c in rows]
    return "\n".join(lines)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--corpus", type=Path, help="existing corpus dir (default: generate one)")
    parser.add_argument("--models", type=Path, default=SHAPES_MODELS_DIR)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--precision", default="fp32", choices=("auto", "fp32", "bf16"))
    parser.add_argument("--video-fps", type=float, default=2.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="shapes-quality-") as tmp:
        if args.corpus:
            manifest = load_manifest(args.corpus)
        else:
            manifest = generate_corpus(Path(tmp) / "corpus", **DEFAULT_CORPUS)  # type: ignore[arg-type]
        result = run(manifest, args.models, args.precision, args.video_fps)
    result["seconds"] = round(time.time() - started, 1)
    result["corpus"] = str(args.corpus) if args.corpus else DEFAULT_CORPUS
    print(table(result))
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
