"""prepare: conversions of odd image files, crop modes, no upscaling, deterministic arrays."""
import io

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline import prepare
from pipeline.images.load import open_rgb
from pipeline.images.resize import square


def _bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_exif_orientation_is_applied():
    # A 40x20 image, left half red, stored with "rotate 90 CW to view" (orientation 6).
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    im, notes = open_rgb(_bytes(Image.fromarray(a), "JPEG", exif=exif, quality=95))
    assert im.size == (20, 40)
    top = np.asarray(im)[:10].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[1] < 60          # red ends up on top after rotating
    assert "exif-orientation" in notes


def test_cmyk_becomes_rgb():
    im, notes = open_rgb(_bytes(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95))
    assert im.mode == "RGB"
    r, g, b = np.asarray(im).reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60         # pure C=0 M=Y=255 is red
    assert "cmyk" in notes


def test_alpha_is_composited_on_white():
    a = np.zeros((16, 16, 4), np.uint8)
    a[..., 2] = 255                               # blue ...
    a[:, :8, 3] = 255                             # ... opaque on the left, transparent on the right
    im, notes = open_rgb(_bytes(Image.fromarray(a, "RGBA"), "PNG"))
    px = np.asarray(im)
    assert tuple(px[0, 0]) == (0, 0, 255)
    assert tuple(px[0, 15]) == (255, 255, 255)
    assert "alpha" in notes


def test_palette_with_transparency_and_greyscale():
    p = Image.new("P", (8, 8), 0)
    p.putpalette([0, 200, 0] + [0] * 765)
    im, _ = open_rgb(_bytes(p, "PNG"))
    assert tuple(np.asarray(im)[0, 0]) == (0, 200, 0)
    g, notes = open_rgb(_bytes(Image.new("L", (8, 8), 77), "PNG"))
    assert tuple(np.asarray(g)[0, 0]) == (77, 77, 77) and "greyscale" in notes


def test_16_bit_grey_is_scaled_not_clipped():
    a = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    im, notes = open_rgb(_bytes(Image.fromarray(a), "PNG"))
    px = np.asarray(im)[..., 0]
    assert px.min() == 0 and px.max() == 255
    assert 100 < px.mean() < 155                  # clipping would make nearly all of it white
    assert "16-bit" in notes


def test_animated_gif_takes_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    data = _bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    im, notes = open_rgb(data)
    r, g, b = np.asarray(im)[0, 0]
    assert r > 200 and b < 60 and "first-frame" in notes


def test_center_crop_pad_and_no_upscaling():
    a = np.zeros((100, 200, 3), np.uint8)
    a[:, :50] = (255, 0, 0)                       # red strip at the far left, outside the center square
    im = Image.fromarray(a)
    center = square(im, 32, "center")
    assert center.shape == (32, 32, 3) and center[..., 0].max() < 30
    padded = square(im, 32, "pad")
    assert padded[16, 0, 0] > 200                 # the red strip survives padding
    assert tuple(padded[0, 31]) == (0, 0, 0)      # padded with the (black) border colour
    assert square(im, 128, "center") is None      # 100 px short side: no upscaling to 128
    assert square(im, 128, "pad") is not None     # 200 px long side reaches 128 when padding


def _store(tmp_path, sizes_px):
    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    rows = []
    rng = np.random.default_rng(0)
    for k, side in enumerate(sizes_px):
        name = f"images/{k:02d}.png"
        Image.fromarray(rng.integers(0, 256, (side, side + 7, 3), dtype=np.uint8)).save(raw / name)
        rows.append({"file": name, "sha256": f"{k:064x}", "group": k, "kept": 1, "width": side + 7,
                     "height": side, "source": "test", "mode": f"m{k % 2}"})
    pd.DataFrame(rows).to_csv(tmp_path / "unique.csv", index=False)
    return raw, tmp_path / "unique.csv"


def test_run_counts_too_small_and_adding_a_resolution_keeps_arrays(tmp_path):
    raw, manifest = _store(tmp_path, [40, 70, 90, 140])
    stats = prepare.run(raw, manifest, tmp_path / "a", [32, 64], workers=1)
    assert stats["resolutions"]["64"] == {**stats["resolutions"]["64"], "images": 3, "too_small": 1}
    a64 = np.load(tmp_path / "a" / "64.npy", mmap_mode="r")
    assert a64.dtype == np.uint8 and a64.shape == (3, 64, 64, 3)
    index = pd.read_csv(tmp_path / "a" / "64.csv", dtype=str)
    assert list(index["mode"]) == ["m1", "m0", "m1"]
    assert (tmp_path / "a" / "preview_32.png").exists()
    prepare.run(raw, manifest, tmp_path / "b", [32, 64, 128], workers=2)
    for s in (32, 64):
        assert (tmp_path / "a" / f"{s}.npy").read_bytes() == (tmp_path / "b" / f"{s}.npy").read_bytes()
    assert np.load(tmp_path / "b" / "128.npy").shape == (1, 128, 128, 3)


def test_bad_crop_param_names_the_key():
    from pipeline.params import ParamError
    with pytest.raises(ParamError, match="prepare.crop"):
        prepare.Prepare.from_params({"crop": "stretch"})
