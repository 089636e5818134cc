"""Open any image Pillow can read as plain 8-bit sRGB, the way a colour-managed viewer shows it.

``open_rgb(path_or_bytes) -> (PIL.Image RGB, notes)`` applies the EXIF
orientation, takes the first frame of an animation, converts an embedded ICC
profile's colours to sRGB, composites alpha on white, and maps CMYK, palette,
greyscale and 16-bit images to 8-bit RGB. ``notes`` is a tuple of short slugs
naming the conversions made (for stats); an ICC conversion reads
``icc:<profile description>``. ``transparent_share(path_or_bytes)`` is the share
of pixels more than half transparent.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps

WHITE = (255, 255, 255)
SRGB = ImageCms.createProfile("sRGB")
ICC_MODES = ("RGB", "RGBA", "CMYK", "L")   # the modes littleCMS converts here
ALPHA_MODES = ("RGBA", "LA", "RGBa", "La")


def open_rgb(source: Path | str | bytes) -> tuple[Image.Image, tuple[str, ...]]:
    """Decode ``source`` (a path or the file's bytes) to an RGB image plus conversion notes."""
    image, notes, _ = decode(source)
    return image, notes


def decode(source: Path | str | bytes) -> tuple[Image.Image, tuple[str, ...], float]:
    """``open_rgb``'s image and notes, and the share of pixels more than half transparent
    before alpha was composited (0 without alpha), from one decode."""
    fp = io.BytesIO(source) if isinstance(source, bytes) else source
    notes: list[str] = []
    with Image.open(fp) as im:
        if getattr(im, "n_frames", 1) > 1:
            notes.append("first-frame")
        im.seek(0)
        orientation = im.getexif().get(0x0112, 1)
        if orientation not in (None, 1):
            notes.append("exif-orientation")
        # exif_transpose loads and copies, so the file can close after this block
        im = ImageOps.exif_transpose(im)
    im = to_srgb(im, notes)
    return to_rgb(im, notes), tuple(notes), _transparent_share(im)


def transparent_share(source: Path | str | bytes) -> float:
    """Share of the first frame's pixels that are more than half transparent (0 without alpha)."""
    return decode(source)[2]


def _transparent_share(im: Image.Image) -> float:
    if im.mode not in ALPHA_MODES + ("PA",) and not (im.mode == "P" and "transparency" in im.info):
        return 0.0
    return float(np.mean(np.asarray(im.convert("RGBA").getchannel("A")) < 128))


def to_srgb(im: Image.Image, notes: list[str]) -> Image.Image:
    """Convert the colours of an image with an embedded ICC profile to sRGB (alpha kept).

    A museum scan in Adobe RGB or ProPhoto read as plain RGB comes out dull or shifted.
    A profile littleCMS cannot read, or a mode it does not convert here, is noted and ignored.
    """
    icc = im.info.get("icc_profile")
    if not icc:
        return im
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        name = (ImageCms.getProfileDescription(profile) or "unnamed").strip()
    except (OSError, ImageCms.PyCMSError):
        notes.append("icc-unreadable")
        return im
    if im.mode == "P":
        im = im.convert("RGBA")
    if im.mode not in ICC_MODES:
        notes.append("icc-ignored")
        return im
    out_mode = "RGBA" if im.mode == "RGBA" else "RGB"
    try:
        converted = ImageCms.profileToProfile(im, profile, SRGB, outputMode=out_mode)
    except ImageCms.PyCMSError:
        notes.append("icc-unreadable")
        return im
    notes.append(f"icc:{name}")
    return converted


def to_rgb(im: Image.Image, notes: list[str] | None = None) -> Image.Image:
    """Convert an opened image of any mode to 8-bit RGB (alpha composited on white)."""
    notes = notes if notes is not None else []
    mode = im.mode
    if mode == "RGB":
        return im
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit grey (PNG/TIFF) arrives as I;16 or I; scale 0..65535 to 0..255
        # instead of letting convert("L") clip everything above 255 to white.
        notes.append("16-bit")
        a = np.asarray(im).astype(np.float64)
        top = 65535.0 if a.max(initial=0) > 255 else 255.0
        grey = np.clip(np.rint(a * (255.0 / top)), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if mode == "F":
        notes.append("float")
        a = np.asarray(im, np.float64)
        lo, hi = float(a.min(initial=0)), float(a.max(initial=1))
        grey = np.clip(np.rint((a - lo) / max(hi - lo, 1e-12) * 255), 0, 255).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[..., None], 3, axis=2), "RGB")
    if mode == "P" or mode == "PA":
        notes.append("palette")
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ALPHA_MODES:
        notes.append("alpha")
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, WHITE + (255,))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("L", "1"):
        notes.append("greyscale")
    elif mode == "CMYK":
        notes.append("cmyk")
    return im.convert("RGB")
