"""Decoding real files: images (EXIF, modes, bombs, damage), videos (policies, rotation, limits), text."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clipsearch.errors import InvalidRequest
from clipsearch.indexer.decode.images import decode_image, decode_image_sized
from clipsearch.indexer.decode.text import chunk_text, decode_text, read_text, split_sentences
from clipsearch.indexer.decode.video import SamplingPolicy, decode_video, detect_shot_changes
from clipsearch.indexer.failures import DecodeFailed

from .indexer_media import (
    COLOURS,
    close,
    dominant,
    write_animated_gif,
    write_audio_only,
    write_image,
    write_video,
)

LIMIT = 10_000_000


def _reason(call) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DecodeFailed) as info:
        call()
    return info.value.reason


# ---------------------------------------------------------------- images


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_common_image_formats_decode_to_rgb(tmp_path: Path, fmt: str) -> None:
    path = write_image(tmp_path / f"img.{fmt.lower()}", colour=(40, 60, 230), size=(80, 60), fmt=fmt)
    image = decode_image(path, LIMIT)
    assert image.mode == "RGB" and image.size == (80, 60)
    assert close(dominant(image), (40, 60, 230))


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.new("RGB", (80, 40), (30, 200, 40))
    image.paste((255, 255, 255), (0, 0, 20, 10))  # marker top-left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    upright = decode_image(path, LIMIT)
    assert upright.size == (40, 80)
    pixels = np.asarray(upright)
    assert pixels[2, -3].min() > 200  # the marker moved to the top-right
    assert pixels[-3, 2].max() < 250


def test_reduced_scale_jpeg_decode_keeps_enough_pixels_and_reports_the_stored_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6
    picture.save(tmp_path / "big.jpg", quality=90, exif=exif)
    data = (tmp_path / "big.jpg").read_bytes()
    full = decode_image_sized(data, LIMIT)
    small = decode_image_sized(data, LIMIT, min_side=64)
    assert full.image.size == (480, 640) and (full.width, full.height) == (480, 640)
    assert (small.width, small.height) == (480, 640)  # the stored picture's size, upright
    assert small.image.size == (120, 160)  # 1/4 scale: 1/8 would leave a side under 64
    # The reduced decode is a downscale of the same picture, not a different one.
    shrunk = np.asarray(full.image.resize(small.image.size, Image.Resampling.BOX), dtype=np.float32)
    assert np.abs(np.asarray(small.image, dtype=np.float32) - shrunk).mean() < 20
    # Formats without DCT scaling decode in full.
    picture.save(tmp_path / "big.png")
    assert decode_image_sized((tmp_path / "big.png").read_bytes(), LIMIT, min_side=64).image.size == (
        640,
        480,
    )


def test_transparency_becomes_white_and_modes_convert(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (20, 20), (255, 0, 0, 0))
    rgba.save(tmp_path / "clear.png")
    assert decode_image(tmp_path / "clear.png", LIMIT).getpixel((5, 5)) == (255, 255, 255)
    Image.new("L", (20, 20), 128).save(tmp_path / "grey.png")
    assert decode_image(tmp_path / "grey.png", LIMIT).getpixel((5, 5)) == (128, 128, 128)
    Image.fromarray(np.full((10, 10), 4000, dtype=np.uint16)).save(tmp_path / "deep.png")
    assert decode_image(tmp_path / "deep.png", LIMIT).mode == "RGB"


def test_animated_gif_as_image_is_its_first_frame(tmp_path: Path) -> None:
    path = write_animated_gif(tmp_path / "anim.gif", COLOURS[:3])
    assert close(dominant(decode_image(path, LIMIT)), COLOURS[0], tol=60)


def test_bad_images_fail_with_their_reason(tmp_path: Path) -> None:
    good = write_image(tmp_path / "good.png", size=(300, 300)).read_bytes()
    jpeg = write_image(tmp_path / "good.jpg", size=(300, 300), fmt="JPEG").read_bytes()
    bomb = io.BytesIO()
    Image.new("1", (20_000, 20_000)).save(bomb, format="PNG")  # a few KB on disk, 400 Mpixels
    assert _reason(lambda: decode_image(bomb.getvalue(), LIMIT)) == "decompression_bomb"
    assert _reason(lambda: decode_image(good[: len(good) // 2], LIMIT)) == "truncated"
    assert _reason(lambda: decode_image(jpeg[: len(jpeg) // 2], LIMIT)) == "truncated"
    assert _reason(lambda: decode_image(good[:20] + b"\x00" * 200, LIMIT)) in ("corrupt", "unsupported")
    assert _reason(lambda: decode_image(b"plain text, not an image", LIMIT)) == "unsupported"
    assert _reason(lambda: decode_image(tmp_path / "missing.png", LIMIT)) == "not_found"
    # A limit lower than the picture is a bomb too (checked from the header, before decoding).
    assert _reason(lambda: decode_image(good, 1000)) == "decompression_bomb"


# ---------------------------------------------------------------- video


def test_sampling_policy_parsing() -> None:
    assert SamplingPolicy.parse("fps:1") == SamplingPolicy("fps", 1.0)
    assert SamplingPolicy.parse("uniform:12") == SamplingPolicy("uniform", 12.0)
    assert SamplingPolicy.parse("scenes").kind == "scenes"
    assert str(SamplingPolicy.parse("fps:0.5")) == "fps:0.5"
    for bad in ("fps:0", "fps:x", "uniform:2.5", "every:3", "", "fps:nan"):
        with pytest.raises(InvalidRequest):
            SamplingPolicy.parse(bad)


@pytest.mark.parametrize(
    ("codec", "ext"),
    [("libx264", "mp4"), ("libvpx-vp9", "webm"), ("libx264", "mkv"), ("libx264", "mov"), ("gif", "gif")],
)
def test_fps_sampling_gives_timestamps_and_the_right_frames(tmp_path: Path, codec: str, ext: str) -> None:
    path = write_video(tmp_path / f"v.{ext}", COLOURS[:4], codec=codec)
    video = decode_video(path, SamplingPolicy.parse("fps:1"), max_seconds=60, max_frames=100)
    assert [f.t_sec for f in video.frames] == [0.0, 1.0, 2.0, 3.0]
    assert video.duration == pytest.approx(4.0, abs=0.15)
    for frame, colour in zip(video.frames, COLOURS[:4], strict=True):
        assert close(dominant(frame.image), colour, tol=60)


def test_uniform_and_scene_sampling(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", COLOURS[:3], seconds_per_colour=2.0)
    uniform = decode_video(path, SamplingPolicy.parse("uniform:6"), max_seconds=60, max_frames=100)
    assert [f.t_sec for f in uniform.frames] == pytest.approx([0.5, 1.5, 2.5, 3.5, 4.5, 5.5], abs=0.06)
    assert detect_shot_changes(path, "v") == pytest.approx([2.0, 4.0], abs=0.2)
    scenes = decode_video(path, SamplingPolicy.parse("scenes"), max_seconds=60, max_frames=100)
    assert len(scenes.frames) == 3  # one keyframe per shot, mid-shot
    assert [close(dominant(f.image), c) for f, c in zip(scenes.frames, COLOURS[:3], strict=True)] == [
        True
    ] * 3
    long_shot = write_video(tmp_path / "long.mp4", [COLOURS[0]], seconds_per_colour=25.0, fps=4)
    assert (
        len(decode_video(long_shot, SamplingPolicy.parse("scenes"), max_seconds=60, max_frames=100).frames)
        == 3
    )


def test_sparse_sampling_seeks_and_frame_cap(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", COLOURS * 3, seconds_per_colour=2.0, fps=10, gop=20)
    video = decode_video(path, SamplingPolicy.parse("uniform:4"), max_seconds=100, max_frames=100)
    assert [f.t_sec for f in video.frames] == pytest.approx([4.5, 13.5, 22.5, 31.5], abs=0.06)
    expected = [COLOURS[int(t // 2) % len(COLOURS)] for t in (4.5, 13.5, 22.5, 31.5)]
    assert all(close(dominant(f.image), c) for f, c in zip(video.frames, expected, strict=True))
    capped = decode_video(path, SamplingPolicy.parse("fps:2"), max_seconds=100, max_frames=5)
    assert len(capped.frames) == 5
    assert capped.frames[-1].t_sec > 25  # spread over the whole video, not the first five


@pytest.mark.parametrize(("rotation", "corner"), [(90, "bl"), (-90, "tr"), (180, "br"), (None, "tl")])
def test_rotation_metadata_is_honoured(tmp_path: Path, rotation: int | None, corner: str) -> None:
    path = write_video(tmp_path / "r.mp4", COLOURS[:1], rotation=rotation, size=(64, 48))
    video = decode_video(path, SamplingPolicy.parse("fps:1"), max_seconds=60, max_frames=10)
    pixels = np.asarray(video.frames[0].image)
    height, width, _ = pixels.shape
    assert (width, height) == ((48, 64) if rotation in (90, -90) else (64, 48))
    corners = {"tl": pixels[1, 1], "tr": pixels[1, -2], "bl": pixels[-2, 1], "br": pixels[-2, -2]}
    assert [name for name, px in corners.items() if px.min() > 200] == [corner]


def test_frames_are_downscaled_for_the_encoder(tmp_path: Path) -> None:
    path = write_video(tmp_path / "big.mp4", COLOURS[:1], size=(640, 480), seconds_per_colour=0.5)
    video = decode_video(path, SamplingPolicy.parse("fps:1"), max_seconds=60, max_frames=10, short_side=120)
    assert video.frames[0].image.size == (160, 120)


def test_bad_videos_fail_with_their_reason(tmp_path: Path) -> None:
    good = write_video(tmp_path / "good.mp4", COLOURS * 2, seconds_per_colour=1.0).read_bytes()
    policy = SamplingPolicy.parse("fps:1")

    def run(data: bytes, name: str = "bad.mp4", **limits: float) -> str:
        path = tmp_path / name
        path.write_bytes(data)
        return _reason(
            lambda: decode_video(path, policy, max_seconds=limits.get("max_seconds", 60), max_frames=50)
        )

    assert run(good[: len(good) // 3]) == "truncated"
    assert run(good[:48] + bytes(4000)) in ("truncated", "corrupt", "no_frames")
    assert run(b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 8, "junk.mkv") in (
        "corrupt",
        "truncated",
        "unsupported",
    )
    assert run(good, "long.mp4", max_seconds=5) == "too_long"
    audio = write_audio_only(tmp_path / "sound.m4a")
    assert _reason(lambda: decode_video(audio, policy, max_seconds=60, max_frames=10)) == "no_video_stream"


def test_truncated_tail_of_a_long_video_is_detected(tmp_path: Path) -> None:
    # moov first (faststart) so the container opens, then the media data is cut off early.
    import av

    source = write_video(tmp_path / "src.mp4", COLOURS * 2, seconds_per_colour=2.0)
    faststart = tmp_path / "fast.mp4"
    with av.open(str(source)) as src, av.open(str(faststart), "w", options={"movflags": "faststart"}) as dst:
        stream = dst.add_stream_from_template(src.streams.video[0])
        for packet in src.demux(src.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                dst.mux(packet)
    data = faststart.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 5])
    reason = _reason(lambda: decode_video(cut, SamplingPolicy.parse("fps:1"), max_seconds=60, max_frames=50))
    assert reason in ("truncated", "no_frames")


# ---------------------------------------------------------------- text


def _words(text: str) -> int:
    return len(text.split()) + 2  # start and end tokens, like a real tokenizer count


def test_chunking_keeps_sentences_together_and_fits() -> None:
    text = "One two three. Four five six seven! Eight nine? Ten.\n\nEleven twelve thirteen fourteen fifteen."
    assert split_sentences(text) == [
        "One two three.",
        "Four five six seven!",
        "Eight nine?",
        "Ten.",
        "Eleven twelve thirteen fourteen fifteen.",
    ]
    passages = chunk_text(text, _words, 9)
    assert passages == [
        "One two three. Four five six seven!",
        "Eight nine? Ten.",
        "Eleven twelve thirteen fourteen fifteen.",
    ]
    assert all(_words(p) <= 9 for p in passages)
    assert " ".join(passages).split() == text.split()


def test_chunking_splits_overlong_sentences_and_words() -> None:
    sentence = " ".join(f"w{i}" for i in range(25)) + "."
    passages = chunk_text(sentence, _words, 10)
    assert all(_words(p) <= 10 for p in passages) and " ".join(passages).split() == sentence.split()

    def chars(text: str) -> int:
        return len(text)

    assert chunk_text("x" * 25, chars, 10) == ["x" * 10, "x" * 10, "x" * 5]
    assert chunk_text("Kurz. " + "y" * 12, chars, 10) == ["Kurz.", "y" * 10, "yy"]


def test_text_decoding_failures(tmp_path: Path) -> None:
    assert decode_text("\ufeffhello\n".encode()) == "hello"
    assert _reason(lambda: decode_text(b"caf\xe9")) == "encoding"
    assert _reason(lambda: decode_text(b"  \n\t ")) == "empty"
    assert _reason(lambda: decode_text(b"a\x00b")) == "unsupported"
    big = tmp_path / "big.txt"
    big.write_text("word " * 100, encoding="utf-8")
    assert _reason(lambda: read_text(big, 100)) == "too_large"
    assert read_text(big, 10_000).startswith("word word")
