"""Blank and transparent images are refused with a reason before dedup; ICC colours become sRGB."""
import io
import struct

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from metrics_helpers import paintings
from pipeline import dedup
from pipeline.images.load import open_rgb, transparent_share
from pipeline.images.screen import Screen, colour_spread
from pipeline.neardup.rule import Rule
from pipeline.params import ParamError


def design_in_alpha(side: int = 96) -> Image.Image:
    """White shapes over transparency: every colour value is white, the design is the alpha."""
    alpha = np.zeros((side, side), np.uint8)
    alpha[10:40, 10:80] = 255
    yy, xx = np.mgrid[:side, :side]
    alpha[(yy - 65) ** 2 + (xx - 45) ** 2 < 20 ** 2] = 255
    return Image.fromarray(np.dstack([np.full((side, side, 3), 255, np.uint8), alpha]), "RGBA")


def png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def test_design_in_alpha_is_refused_as_transparent_not_kept_as_white():
    data = png(design_in_alpha())
    image, notes = open_rgb(data)
    assert "alpha" in notes and colour_spread(image) < 1          # composited on white it would be blank
    reason, detail = Screen().check(image, transparent_share(data))
    assert reason == "transparent" and "% of the pixels are transparent" in detail


def test_rounded_corners_and_opaque_alpha_pass():
    rgba = np.dstack([paintings(1, 96, seed=2)[0], np.full((96, 96), 255, np.uint8)])
    rgba[:4, :4, 3] = 0                                            # a rounded corner's worth
    data = png(Image.fromarray(rgba, "RGBA"))
    assert 0 < transparent_share(data) < 0.01
    assert Screen().check(open_rgb(data)[0], transparent_share(data)) is None


def test_uniform_canvas_is_blank_and_a_painting_is_not():
    rng = np.random.default_rng(0)
    canvas = np.clip(np.full((256, 256, 3), (231, 224, 210)) + rng.normal(0, 3, (256, 256, 3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(canvas.astype(np.uint8)).save(buf, "JPEG", quality=60)
    reason, detail = Screen().check(Image.open(buf).convert("RGB"), 0.0)
    assert reason == "blank" and "< dedup.blank 3.5" in detail
    assert Screen().check(Image.fromarray(paintings(1, 64, seed=3)[0]), 0.0) is None
    assert Screen(blank=0).check(Image.open(buf).convert("RGB"), 0.0) is None     # 0 keeps every image


def test_screen_keys_are_checked_and_do_not_upset_the_rule():
    assert Screen.from_params({"blank": 0, "transparent": 0.5, "colour": 0.1}) == Screen(0, 0.5)
    assert Rule.from_params({"blank": 2, "colour": 0.1}).colour == 0.1
    with pytest.raises(ParamError, match="dedup.transparent"):
        Screen.from_params({"transparent": 2})


def test_dedup_records_refusals_and_keeps_the_rest(tmp_path):
    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    files = {"alpha.png": png(design_in_alpha()), "blank.png": png(Image.new("RGB", (64, 64), (240, 240, 240)))}
    for i, art in enumerate(paintings(3, 64, seed=5, modes=[0, 5, 9])):
        files[f"p{i}.png"] = png(Image.fromarray(art))
    rows = []
    for name, data in files.items():
        (raw / "images" / name).write_bytes(data)
        rows.append({"file": f"images/{name}", "sha256": name, "width": 64, "height": 64, "bytes": len(data),
                     "mime": "image/png", "source": "folder"})
    pd.DataFrame(rows).to_csv(raw / "manifest.csv", index=False)
    out = dedup.run(raw, tmp_path / "unique", Rule(), workers=1)
    by_file = out.set_index("file")
    assert by_file.loc["images/alpha.png", "reason"] == "transparent"
    assert by_file.loc["images/blank.png", "reason"] == "blank"
    assert by_file.loc[["images/alpha.png", "images/blank.png"], "kept"].tolist() == [0, 0]
    assert by_file.loc[[f"images/p{i}.png" for i in range(3)], "kept"].tolist() == [1, 1, 1]
    written = pd.read_csv(tmp_path / "unique" / "manifest.csv", keep_default_na=False)
    assert set(written["reason"]) == {"transparent", "blank", "unique"}
    assert written.loc[written["reason"] == "blank", "detail"].iat[0].startswith("colour spread")


# --- colour profiles: an Adobe RGB (1998) matrix/TRC profile written byte by byte (ICC v2) ---

D50 = (0.9642, 1.0, 0.8249)
ADOBE_D50 = np.array([[0.6097, 0.2053, 0.1492], [0.3111, 0.6257, 0.0632], [0.0195, 0.0609, 0.7446]])
ADOBE_GAMMA = 563 / 256


def _s15(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def icc_profile(description: str = "Test wide-gamut RGB") -> bytes:
    """A minimal ICC v2 display profile: Adobe RGB primaries (D50-adapted) and its 2.2 gamma."""
    text = description.encode("ascii") + b"\0"
    desc = b"desc" + b"\0" * 4 + struct.pack(">I", len(text)) + text + b"\0" * 12 + b"\0" * 67
    xyz = lambda v: b"XYZ " + b"\0" * 4 + b"".join(_s15(c) for c in v)
    curve = b"curv" + b"\0" * 4 + struct.pack(">IH", 1, int(ADOBE_GAMMA * 256)) + b"\0\0"
    tags = [(b"desc", desc), (b"wtpt", xyz(D50)), (b"rXYZ", xyz(ADOBE_D50[:, 0])), (b"gXYZ", xyz(ADOBE_D50[:, 1])),
            (b"bXYZ", xyz(ADOBE_D50[:, 2])), (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve),
            (b"cprt", b"text" + b"\0" * 4 + b"none\0\0\0\0")]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (struct.pack(">I", size) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ " + b"\0" * 12 + b"acsp"
              + b"\0" * 24 + struct.pack(">I", 0) + b"".join(_s15(c) for c in D50) + b"\0" * 48)
    assert len(header) == 128
    return header + table + body


SRGB_D50 = np.array([[0.4361, 0.3851, 0.1431], [0.2225, 0.7169, 0.0606], [0.0139, 0.0971, 0.7141]])


def expected_srgb(rgb: np.ndarray) -> np.ndarray:
    """Adobe RGB values -> sRGB by the matrices (independent of littleCMS)."""
    linear = (rgb / 255.0) ** ADOBE_GAMMA
    srgb_linear = np.clip(linear @ (np.linalg.inv(SRGB_D50) @ ADOBE_D50).T, 0, 1)
    encoded = np.where(srgb_linear <= 0.0031308, 12.92 * srgb_linear, 1.055 * srgb_linear ** (1 / 2.4) - 0.055)
    return encoded * 255


def test_embedded_wide_gamut_profile_is_converted_to_srgb():
    colours = np.array([[200, 100, 50], [60, 160, 90], [90, 90, 200], [128, 128, 128]], np.uint8)
    im = Image.fromarray(np.repeat(colours[:, None], 8, axis=1))
    buf = io.BytesIO()
    im.save(buf, "PNG", icc_profile=icc_profile())
    rgb, notes = open_rgb(buf.getvalue())
    assert "icc:Test wide-gamut RGB" in notes
    got = np.asarray(rgb, float)[:, 0]
    want = expected_srgb(colours.astype(float))
    assert np.abs(got - want).max() <= 3
    assert np.abs(colours[1].astype(float) - want[1]).max() > 20     # read as plain RGB, green would be far off
    plain, plain_notes = open_rgb(png(im))
    assert not any(n.startswith("icc") for n in plain_notes) and np.array_equal(np.asarray(plain), np.asarray(im))


def test_unreadable_profile_is_noted_not_fatal():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 20, 30)).save(buf, "PNG", icc_profile=b"not a profile at all")
    rgb, notes = open_rgb(buf.getvalue())
    assert "icc-unreadable" in notes and rgb.getpixel((0, 0)) == (10, 20, 30)
