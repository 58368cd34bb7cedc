"""Procedural scenes with known content: the mini-NSD's stimulus images.

Each image is a textured background with zero to two objects of five categories
(face-, body-, place-, word- and food-like), drawn at known positions and sizes.
The same drawing code renders the canonical category templates that the planted
"true brain" detects (see `true_brain.py`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

CATEGORIES = ("face", "body", "place", "word", "food")
_SUPERSAMPLE = 3  # draw at 3x and downsample, for anti-aliased edges


@dataclass(frozen=True)
class SceneObject:
    """One object in a scene: `x`, `y` its centre and `size` its box side, in pixels."""

    category: str
    x: float
    y: float
    size: float


def _draw_face(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, rng: np.random.Generator) -> None:
    tone = rng.uniform(150, 235)
    skin = (int(tone), int(tone * rng.uniform(0.72, 0.85)), int(tone * rng.uniform(0.55, 0.7)))
    draw.ellipse([cx - 0.36 * s, cy - 0.5 * s, cx + 0.36 * s, cy + 0.5 * s], fill=skin)
    eye = (25, 20, 20)
    for side in (-1, 1):
        ex = cx + side * 0.16 * s
        draw.ellipse([ex - 0.07 * s, cy - 0.17 * s, ex + 0.07 * s, cy - 0.07 * s], fill=eye)
    draw.line([cx, cy - 0.05 * s, cx, cy + 0.1 * s], fill=(90, 60, 50), width=max(1, int(0.04 * s)))
    draw.ellipse([cx - 0.16 * s, cy + 0.2 * s, cx + 0.16 * s, cy + 0.29 * s], fill=(120, 30, 35))


def _draw_body(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, rng: np.random.Generator) -> None:
    cloth = tuple(int(c) for c in rng.uniform(20, 200, 3))
    limb = max(1, int(0.12 * s))
    draw.ellipse([cx - 0.12 * s, cy - 0.5 * s, cx + 0.12 * s, cy - 0.26 * s], fill=(200, 160, 130))
    draw.rectangle([cx - 0.17 * s, cy - 0.26 * s, cx + 0.17 * s, cy + 0.12 * s], fill=cloth)
    arm = rng.uniform(0.1, 0.25)
    for side in (-1, 1):
        draw.line([cx + side * 0.15 * s, cy - 0.22 * s, cx + side * 0.36 * s, cy + arm * s], fill=cloth, width=limb)
        draw.line([cx + side * 0.09 * s, cy + 0.1 * s, cx + side * 0.2 * s, cy + 0.5 * s], fill=(30, 30, 50), width=limb)


def _draw_place(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, rng: np.random.Generator) -> None:
    wall = tuple(int(c) for c in rng.uniform(120, 230, 3))
    draw.rectangle([cx - 0.42 * s, cy - 0.1 * s, cx + 0.42 * s, cy + 0.5 * s], fill=wall)
    draw.polygon([(cx - 0.5 * s, cy - 0.1 * s), (cx, cy - 0.5 * s), (cx + 0.5 * s, cy - 0.1 * s)], fill=(110, 40, 30))
    for row in range(2):
        for col in range(3):
            wx = cx + (col - 1) * 0.26 * s
            wy = cy + 0.02 * s + row * 0.2 * s
            draw.rectangle([wx - 0.07 * s, wy - 0.05 * s, wx + 0.07 * s, wy + 0.05 * s], fill=(60, 90, 140))
    draw.rectangle([cx - 0.06 * s, cy + 0.33 * s, cx + 0.06 * s, cy + 0.5 * s], fill=(50, 30, 20))


def _draw_word(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, rng: np.random.Generator) -> None:
    draw.rectangle([cx - 0.5 * s, cy - 0.2 * s, cx + 0.5 * s, cy + 0.2 * s], fill=(240, 240, 235))
    width = max(1, int(0.05 * s))
    n_glyphs = 5
    cell = 0.9 * s / n_glyphs
    for g in range(n_glyphs):
        gx = cx - 0.45 * s + (g + 0.5) * cell
        top, bottom, half = cy - 0.12 * s, cy + 0.12 * s, 0.3 * cell
        strokes = rng.choice(5, size=2, replace=False)
        for k in strokes:
            if k == 0:
                draw.line([gx - half, top, gx - half, bottom], fill=(0, 0, 0), width=width)
            elif k == 1:
                draw.line([gx + half, top, gx + half, bottom], fill=(0, 0, 0), width=width)
            elif k == 2:
                draw.line([gx - half, cy, gx + half, cy], fill=(0, 0, 0), width=width)
            elif k == 3:
                draw.line([gx - half, bottom, gx + half, top], fill=(0, 0, 0), width=width)
            else:
                draw.ellipse([gx - half, cy - half, gx + half, cy + half], outline=(0, 0, 0), width=width)
        draw.line([gx - half, top, gx - half, bottom], fill=(0, 0, 0), width=width)


def _draw_food(draw: ImageDraw.ImageDraw, cx: float, cy: float, s: float, rng: np.random.Generator) -> None:
    draw.ellipse([cx - 0.5 * s, cy - 0.3 * s, cx + 0.5 * s, cy + 0.3 * s], fill=(245, 245, 245))
    hue = rng.uniform(0, 1)
    fruit = (230, int(40 + 120 * hue), 20)
    for dx in (-0.2, 0.2):
        fx = cx + dx * s
        draw.ellipse([fx - 0.18 * s, cy - 0.18 * s, fx + 0.18 * s, cy + 0.18 * s], fill=fruit)
        draw.line([fx, cy - 0.18 * s, fx + 0.04 * s, cy - 0.28 * s], fill=(90, 60, 20), width=max(1, int(0.03 * s)))


_DRAWERS = {
    "face": _draw_face,
    "body": _draw_body,
    "place": _draw_place,
    "word": _draw_word,
    "food": _draw_food,
}


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth coloured noise plus a faint grating: (size, size, 3) float in [0, 255]."""
    coarse = Image.fromarray(rng.uniform(60, 190, (6, 6, 3)).astype(np.uint8))
    noise = np.asarray(coarse.resize((size, size), Image.BICUBIC), dtype=np.float64)
    yy, xx = np.mgrid[0:size, 0:size] / size
    theta, freq = rng.uniform(0, np.pi), rng.uniform(2, 8)
    grating = np.sin(2 * np.pi * freq * (xx * np.cos(theta) + yy * np.sin(theta)))
    noise += rng.uniform(0, 40) * grating[..., None]
    return np.clip(noise, 0, 255)


def object_size_range(category: str, image_size: int) -> tuple[float, float]:
    """Smallest and largest box side (pixels) at which `category` objects are drawn."""
    if category == "place":
        return 0.55 * image_size, 0.9 * image_size
    return 0.3 * image_size, 0.55 * image_size


def render_scene(rng: np.random.Generator, image_size: int) -> tuple[np.ndarray, list[SceneObject]]:
    """Draw one scene: (image_size, image_size, 3) uint8 RGB and the objects in it."""
    n_objects = rng.choice(3, p=[0.1, 0.6, 0.3])
    background = _background(rng, image_size * _SUPERSAMPLE)
    categories = rng.choice(len(CATEGORIES), size=n_objects, replace=False)
    return _draw_objects(background, rng, image_size, [CATEGORIES[c] for c in categories])


def render_objects(rng: np.random.Generator, image_size: int, categories: list[str]
                   ) -> tuple[np.ndarray, list[SceneObject]]:
    """Draw one scene of the given object categories at random places and sizes on a random background:
    (image_size, image_size, 3) uint8 RGB and the objects in it."""
    return _draw_objects(_background(rng, image_size * _SUPERSAMPLE), rng, image_size, categories)


def _draw_objects(background: np.ndarray, rng: np.random.Generator, image_size: int, categories: list[str]
                  ) -> tuple[np.ndarray, list[SceneObject]]:
    canvas = Image.fromarray(background.astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    objects = []
    # places are backdrops: draw them first so other objects stand in front
    for category in sorted(categories, key=lambda c: c != "place"):
        size = rng.uniform(*object_size_range(category, image_size))
        x, y = rng.uniform(size / 2, image_size - size / 2, 2)
        _DRAWERS[category](draw, x * _SUPERSAMPLE, y * _SUPERSAMPLE, size * _SUPERSAMPLE, rng)
        objects.append(SceneObject(category, float(x), float(y), float(size)))
    image = canvas.resize((image_size, image_size), Image.LANCZOS)
    return np.asarray(image, dtype=np.uint8), objects


def render_scenes(n_images: int, image_size: int, seed: int) -> tuple[np.ndarray, list[list[SceneObject]]]:
    """Draw `n_images` scenes: (n_images, image_size, image_size, 3) uint8 and their objects."""
    rng = np.random.default_rng(seed)
    images = np.empty((n_images, image_size, image_size, 3), dtype=np.uint8)
    contents = []
    for i in range(n_images):
        images[i], objects = render_scene(rng, image_size)
        contents.append(objects)
    return images, contents


def category_template(category: str, size: int) -> np.ndarray:
    """The canonical `category` object on a flat grey square: (size, size, 3) float in [0, 1]."""
    big = size * _SUPERSAMPLE
    canvas = Image.new("RGB", (big, big), (128, 128, 128))
    _DRAWERS[category](ImageDraw.Draw(canvas), big / 2, big / 2, big, np.random.default_rng(0))
    return np.asarray(canvas.resize((size, size), Image.LANCZOS), dtype=np.float32) / 255.0
