"""Planted near-copies: the edits that turn one artwork into a scraped duplicate.

Used by the dedup benchmark and tests to build labelled data. ``KINDS`` maps a
name to ``edit(image, rng) -> image`` (RGB PIL images in and out); every edit
stays inside the bounds dedup promises to see through: any resize, JPEG quality
>= 30, WEBP/PNG conversion, crop of 2-10 % per side, a mat (white, black or
coloured) of 2-8 % of a side or a letterbox, brightness/contrast +-10 %,
rotation by up to 1 degree, and combinations of these.
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


def _scaled(im: Image.Image, scale: float, method=Image.BICUBIC) -> Image.Image:
    return im.resize((max(32, round(im.width * scale)), max(32, round(im.height * scale))), method)


def _sign(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.choice([-1, 1]) * rng.uniform(lo, hi))


# ---------------------------------------------------------------- edits without the final encode

def _crop(im: Image.Image, rng: np.random.Generator, lo: float = 0.02, hi: float = 0.10) -> Image.Image:
    """Each side cut by its own share of the side, ``lo`` .. ``hi``."""
    w, h = im.size
    left, top, right, bottom = rng.uniform(lo, hi, 4)
    return im.crop((round(w * left), round(h * top), w - round(w * right), h - round(h * bottom)))


def _mat(im: Image.Image, rng: np.random.Generator, colour) -> Image.Image:
    """A uniform mat of 2-8 % of the shorter side around ``im``."""
    t = max(1, round(rng.uniform(0.02, 0.08) * min(im.size)))
    out = Image.new("RGB", (im.width + 2 * t, im.height + 2 * t), colour)
    out.paste(im, (t, t))
    return out


def _rotate(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Turned by 0.3-1 degree either way, then cut to the largest box without fill corners."""
    angle = _sign(rng, 0.3, 1.0)
    w, h = im.size
    turned = im.rotate(angle, Image.BICUBIC)
    s, c = abs(np.sin(np.radians(angle))), np.cos(np.radians(angle))
    dx, dy = np.ceil((h * s + w * (1 - c)) / 2) + 1, np.ceil((w * s + h * (1 - c)) / 2) + 1
    return turned.crop((int(dx), int(dy), w - int(dx), h - int(dy)))


def _enhance(im: Image.Image, rng: np.random.Generator, enhancer) -> Image.Image:
    return enhancer(im).enhance(1 + _sign(rng, 0.04, 0.10))


# ---------------------------------------------------------------- kinds of copy

def resize(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    scale = float(np.exp(rng.uniform(np.log(0.25), np.log(2.0))))
    method = [Image.BILINEAR, Image.BICUBIC, Image.LANCZOS, Image.BOX][int(rng.integers(4))]
    return encode(_scaled(im, scale, method), "PNG")


def png(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(im, "PNG")


def jpeg(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(im, "JPEG", quality=int(rng.integers(30, 91)))


def webp(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(_scaled(im, rng.uniform(0.6, 1.0)), "WEBP", quality=int(rng.integers(50, 91)))


def crop(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(_crop(im, rng), "JPEG", quality=90)


def mat_white(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(_mat(im, rng, (255, 255, 255)), "JPEG", quality=int(rng.integers(60, 96)))


def mat_black(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(_mat(im, rng, (0, 0, 0)), "JPEG", quality=int(rng.integers(60, 96)))


def mat_colour(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    colour = tuple(int(c) for c in rng.integers(0, 256, 3))
    return encode(_mat(im, rng, colour), "JPEG", quality=int(rng.integers(60, 96)))


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
    return encode(_enhance(im, rng, ImageEnhance.Brightness), "JPEG", quality=90)


def contrast(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(_enhance(im, rng, ImageEnhance.Contrast), "JPEG", quality=90)


def rotate(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    return encode(_rotate(im, rng), "JPEG", quality=90)


def combined(im: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A typical re-post: two or three of crop, mat, turn, brightness or contrast, smaller, a mediocre JPEG or WEBP."""
    steps = [lambda x: _crop(x, rng, 0.0, 0.05), lambda x: _mat(x, rng, (255, 255, 255)), lambda x: _rotate(x, rng),
             lambda x: _enhance(x, rng, ImageEnhance.Brightness), lambda x: _enhance(x, rng, ImageEnhance.Contrast)]
    for k in sorted(rng.choice(len(steps), int(rng.integers(2, 4)), replace=False)):
        im = steps[k](im)
    im = _scaled(im, rng.uniform(0.4, 0.9))
    if rng.random() < 0.5:
        return encode(im, "JPEG", quality=int(rng.integers(40, 80)))
    return encode(im, "WEBP", quality=int(rng.integers(50, 80)))


KINDS = {f.__name__: f for f in (resize, png, jpeg, webp, crop, mat_white, mat_black, mat_colour, letterbox,
                                 brightness, contrast, rotate, combined)}
