"""Scenes (what is where) and their rendering with Pillow.

A scene is pure data; `render_scene` draws it at any canvas size, so the same scene can be a 128 px
corpus image, a 64 px training sample or a video frame.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

from PIL import Image, ImageDraw

from clipsearch.shapesworld.vocab import (
    BACKGROUNDS,
    COLOURS,
    HELD_OUT_PAIRS,
    LONG_GRID,
    SHAPES,
    SIZES,
)


@dataclass(frozen=True, slots=True)
class ShapeObject:
    """One drawn object; `row`/`col` index the scene's grid, `dx`/`dy` jitter in cell units."""

    colour: str
    shape: str
    size: str
    row: int
    col: int
    dx: float = 0.0
    dy: float = 0.0

    @property
    def held_out(self) -> bool:
        return (self.colour, self.shape) in HELD_OUT_PAIRS


@dataclass(frozen=True, slots=True)
class Scene:
    """Objects on a `grid`×`grid` board, listed in reading order (row, then column)."""

    objects: tuple[ShapeObject, ...]
    background: str
    grid: int = 3

    @property
    def has_held_out_pair(self) -> bool:
        return any(obj.held_out for obj in self.objects)


def reading_order(objects: list[ShapeObject] | tuple[ShapeObject, ...]) -> tuple[ShapeObject, ...]:
    return tuple(sorted(objects, key=lambda o: (o.row, o.col)))


def _jitter(rng: random.Random, amount: float) -> float:
    return rng.uniform(-amount, amount)


#: sizes drawn in short scenes (large is kept for video event objects).
SHORT_SIZES = ("small", "medium")


def random_object(
    rng: random.Random,
    row: int,
    col: int,
    *,
    allow_held_out: bool,
    size: str | None = None,
    jitter: float = 0.1,
) -> ShapeObject:
    while True:
        colour = rng.choice(list(COLOURS))
        shape = rng.choice(SHAPES)
        if allow_held_out or (colour, shape) not in HELD_OUT_PAIRS:
            break
    return ShapeObject(
        colour=colour,
        shape=shape,
        size=size or rng.choice(SHORT_SIZES),
        row=row,
        col=col,
        dx=_jitter(rng, jitter),
        dy=_jitter(rng, jitter),
    )


def sample_short_scene(rng: random.Random, *, held_out: bool | None, n_objects: int | None = None) -> Scene:
    """1–2 objects on the 3×3 grid.

    `held_out=False`: no held-out colour×shape pair (train split); `True`: at least one (test split);
    `None`: either.
    """
    n = n_objects if n_objects is not None else rng.choice((1, 2, 2))
    cells = rng.sample([(r, c) for r in range(3) for c in range(3)], n)
    objects = [random_object(rng, r, c, allow_held_out=held_out is not False) for r, c in cells]
    if held_out:
        index = rng.randrange(n)
        colour, shape = rng.choice(sorted(HELD_OUT_PAIRS))
        objects[index] = replace(objects[index], colour=colour, shape=shape)
    # Two identical colour+shape objects would make "a red circle … and a red circle …" ambiguous.
    if n == 2 and (objects[0].colour, objects[0].shape) == (objects[1].colour, objects[1].shape):
        return sample_short_scene(rng, held_out=held_out, n_objects=n_objects)
    return Scene(objects=reading_order(objects), background=rng.choice(list(BACKGROUNDS)), grid=3)


def sample_long_family(rng: random.Random, members: int, *, allow_held_out: bool) -> list[Scene]:
    """Long scenes that share their top three rows (12 objects) and differ only in the bottom row.

    The shared part of their captions is longer than 77 tokens, so a 77-token text encoder cannot
    tell the members apart; only the bottom row (past token 77) does.
    """
    background = rng.choice(list(BACKGROUNDS))
    top = [
        random_object(rng, r, c, allow_held_out=allow_held_out, size="medium", jitter=0.06)
        for r in range(LONG_GRID - 1)
        for c in range(LONG_GRID)
    ]
    seen: set[tuple[tuple[str, str, int], ...]] = set()
    family: list[Scene] = []
    # Same object count for every member: the count is in the caption's first sentence.
    k = rng.randint(1, LONG_GRID)
    while len(family) < members:
        cols = sorted(rng.sample(range(LONG_GRID), k))
        bottom = [
            random_object(rng, LONG_GRID - 1, c, allow_held_out=allow_held_out, size="medium", jitter=0.06)
            for c in cols
        ]
        key = tuple((o.colour, o.shape, o.col) for o in bottom)
        if key in seen:
            continue
        seen.add(key)
        family.append(Scene(objects=reading_order(top + bottom), background=background, grid=LONG_GRID))
    return family


def _polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        s = r * 0.88
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        return [(cx, cy - r), (cx + r * 0.95, cy + r * 0.75), (cx - r * 0.95, cy + r * 0.75)]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.6, cy), (cx, cy + r), (cx - r * 0.6, cy)]
    if shape == "star":
        points = []
        for i in range(10):
            radius = r if i % 2 == 0 else r * 0.45
            angle = -math.pi / 2 + i * math.pi / 5
            points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
        return points
    if shape == "cross":
        a, b = r, r * 0.34
        return [
            (cx - b, cy - a), (cx + b, cy - a), (cx + b, cy - b), (cx + a, cy - b),
            (cx + a, cy + b), (cx + b, cy + b), (cx + b, cy + a), (cx - b, cy + a),
            (cx - b, cy + b), (cx - a, cy + b), (cx - a, cy - b), (cx - b, cy - b),
        ]  # fmt: skip
    raise ValueError(f"unknown shape {shape!r}")


def draw_object(
    draw: ImageDraw.ImageDraw, obj: ShapeObject, grid: int, canvas: int, scale: float = 1.0
) -> None:
    cell = canvas / grid
    cx = (obj.col + 0.5 + obj.dx) * cell
    cy = (obj.row + 0.5 + obj.dy) * cell
    r = SIZES[obj.size] * cell * scale
    fill = COLOURS[obj.colour]
    if obj.shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        draw.polygon(_polygon(obj.shape, cx, cy, r), fill=fill)


def render_scene(scene: Scene, size: int = 128) -> Image.Image:
    """Draw the scene on a `size`×`size` RGB canvas."""
    image = Image.new("RGB", (size, size), BACKGROUNDS[scene.background])
    draw = ImageDraw.Draw(image)
    for obj in scene.objects:
        draw_object(draw, obj, scene.grid, size)
    return image


def sample_split_scene(rng: random.Random, split: str) -> Scene:
    """A short scene of the given split.

    Train scenes never contain a held-out colour×shape pair; test scenes have two objects and half
    of them contain a held-out pair (the other half are new combinations of seen pairs).
    """
    if split == "train":
        return sample_short_scene(rng, held_out=False)
    if split == "test":
        return sample_short_scene(rng, held_out=rng.random() < 0.5, n_objects=2)
    raise ValueError(f"unknown split {split!r}")
