"""Planted near-copies: the edits that turn one artwork into a scraped duplicate.

Used by the dedup benchmark and tests to build labelled data. ``KINDS`` maps a
name to ``edit(image, rng) -> image`` (RGB PIL images in and out); every edit
stays inside the bounds dedup promises to see through: any resize, JPEG quality
>= 40, WEBP/PNG conversion, crop <= 8 % of a side, uniform border or letterbox
<= 5 %, brightness/contrast +-10 %.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageEnhance


def encode(im: Image.Image, fmt: str, **kw) -> Image.Image:
    """Round-trip ``im`` through a file format (what a scraper would download)."""
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    buf.seek(0)
    with Image.open(buf) as out:
        return out.convert("RGB")


def resize(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    scale = float(np.exp(rng.uniform(np.log(0.25), np.log(2.0))))
    w, h = im.size
    size = (max(32, round(w * scale)), max(32, round(h * scale)))
    method = [Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX][int(rng.integers(4))]
    return encode(im.resize(size, method), "PNG")


def jpeg(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(im, "JPEG", quality=int(rng.integers(40, 91)))


def webp(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(im, "WEBP", quality=int(rng.integers(50, 91)))


def png(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(im, "PNG")


def crop(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = im.size
    tx, ty = rng.uniform(0.02, 0.08, 2)          # share of each side cut, split between its two ends
    sx, sy = rng.uniform(0, 1, 2)
    box = (round(w * tx * sx), round(h * ty * sy), w - round(w * tx * (1 - sx)), h - round(h * ty * (1 - sy)))
    return encode(im.crop(box), "JPEG", quality=90)


def border(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = im.size
    t = max(1, round(rng.uniform(0.01, 0.05) * min(w, h)))
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    out = Image.new("RGB", (w + 2 * t, h + 2 * t), colour)
    out.paste(im, (t, t))
    return encode(out, "JPEG", quality=90)


def letterbox(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    w, h = im.size
    if rng.random() < 0.5:
        t = max(1, round(rng.uniform(0.02, 0.05) * h))
        out, at = Image.new("RGB", (w, h + 2 * t), (0, 0, 0)), (0, t)
    else:
        t = max(1, round(rng.uniform(0.02, 0.05) * w))
        out, at = Image.new("RGB", (w + 2 * t, h), (0, 0, 0)), (t, 0)
    out.paste(im, at)
    return encode(out, "JPEG", quality=90)


def brightness(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    factor = rng.choice([-1, 1]) * rng.uniform(0.04, 0.10) + 1
    return encode(ImageEnhance.Brightness(im).enhance(factor), "JPEG", quality=90)


def contrast(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    factor = rng.choice([-1, 1]) * rng.uniform(0.04, 0.10) + 1
    return encode(ImageEnhance.Contrast(im).enhance(factor), "JPEG", quality=90)


def combined(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A typical re-post: smaller, a little cropped, brightened, saved as a mediocre JPEG."""
    w, h = im.size
    c = rng.uniform(0, 0.04)
    im = im.crop((round(w * c), round(h * c), w - round(w * c), h - round(h * c)))
    im = ImageEnhance.Brightness(im).enhance(rng.uniform(0.93, 1.07))
    scale = rng.uniform(0.4, 0.8)
    im = im.resize((max(32, round(im.width * scale)), max(32, round(im.height * scale))), Image.BICUBIC)
    return encode(im, "JPEG", quality=int(rng.integers(50, 80)))


KINDS = {f.__name__: f for f in (resize, jpeg, webp, png, crop, border, letterbox, brightness, contrast, combined)}
