"""Colour test: crop boxes are cut exactly, the coarse search finds a known crop, colour codes follow similarity."""
import numpy as np
import pytest
from PIL import Image

from pipeline.neardup import colourtest as C


def _thumbs(image: Image.Image) -> np.ndarray:
    """(1, VIEWS, S, S, 3) thumbnails of an image (both views the whole, as when nothing is trimmed)."""
    t = np.asarray(image.convert("RGB").resize((C.THUMB_SIDE, C.THUMB_SIDE), Image.BOX))
    return np.stack([t, t])[None]


@pytest.fixture(scope="module")
def photo():
    import skimage.data
    return Image.fromarray(skimage.data.astronaut())


def test_box_vectors_equal_the_thumbnail_of_the_crop():
    rng = np.random.default_rng(2)
    thumb = rng.integers(0, 256, (1, C.THUMB_SIDE, C.THUMB_SIDE, 3)).astype(np.uint8)
    big = thumb[0].repeat(8, 0).repeat(8, 1).astype(np.float64)    # exact: each thumbnail pixel is 8 x 8
    side = 8 * C.THUMB_SIDE
    for (top, bottom), (left, right) in [((0, 0), (0, 0)), ((0.0625, 0), (0, 0.0625)), ((0.03125, 0.09375), (0.0625, 0))]:
        crop = big[round(top * side):side - round(bottom * side), round(left * side):side - round(right * side)]
        h, w = crop.shape[0] // C.COMPARE_SIDE, crop.shape[1] // C.COMPARE_SIDE
        ref = crop.reshape(C.COMPARE_SIDE, h, C.COMPARE_SIDE, w, 3).mean((1, 3)).reshape(-1)
        got = C.box_vectors(thumb, np.array([[top, bottom]]), np.array([[left, right]]))
        assert np.allclose(got[0], C.compared(ref[None])[0], atol=1e-4)


def test_coarse_search_finds_the_crop_box(photo):
    w, h = photo.size
    for (top, bottom), (left, right) in [((0.08, 0.02), (0.04, 0.1)), ((0.0, 0.1), (0.06, 0.06))]:
        cropped = photo.crop((round(left * w), round(top * h), w - round(right * w), h - round(bottom * h)))
        ybox, xbox = C.aligned_boxes(_thumbs(photo)[:, 0], _thumbs(cropped)[:, 0], 0.2)
        assert np.abs(ybox[0] - (top, bottom)).max() <= 0.02 and np.abs(xbox[0] - (left, right)).max() <= 0.02


def test_crop_distance_sees_through_a_crop_of_eight_percent(photo):
    from pipeline.neardup.rule import Rule
    w, h = photo.size
    cropped = photo.crop((round(0.08 * w), 0, w, h - round(0.08 * h)))
    a, b = _thumbs(photo), _thumbs(cropped)
    whole = C.distances(a, b, crop=0, enough=0)[0]
    searched = C.distances(a, b, crop=Rule().crop, enough=0)[0]
    assert whole > 0.3 and searched <= Rule().colour


def test_mean_colour_counts_beyond_a_brightness_edit():
    """Deviations are compared at unit spread, so only the mean colour tells a canvas from a darker one."""
    rng = np.random.default_rng(0)
    canvas = np.clip(np.array([128, 82, 197]) + rng.normal(0, 6, (C.THUMB_SIDE, C.THUMB_SIDE, 3)), 0, 255)
    base = np.stack([canvas, canvas])[None].astype(np.uint8)
    brighter = np.clip(base * 1.08, 0, 255).astype(np.uint8)
    darker = np.clip(base * 0.5, 0, 255).astype(np.uint8)
    assert C.distances(base, brighter, 0, 0)[0] < 0.05 < 0.1 < C.distances(base, darker, 0, 0)[0]


def test_colour_codes_are_near_for_a_jpeg_copy_and_far_for_other_images(photo):
    from benchmarks.nearcopy import encode
    small = photo.resize((256, 256))
    copy = encode(small, "JPEG", quality=40)
    other = small.transpose(Image.FLIP_TOP_BOTTOM)
    code = [C.codes(_thumbs(im))[0, 0] for im in (small, copy, other)]
    assert np.bitwise_count(code[0] ^ code[1]) <= 3
    assert np.bitwise_count(code[0] ^ code[2]) >= 16


def _layout(colour, rng_seed=3) -> Image.Image:
    """A canvas of ``colour`` with a faint lighter rectangle and a gradient: one layout, any palette."""
    yy, xx = np.mgrid[0:240, 0:200]
    img = np.array(colour, float) + (xx / 200 * 12)[..., None]
    img[60:150, 40:120] += 14
    return Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8))


def test_mean_colour_gate_passes_brightness_and_contrast_edits_and_stops_another_palette():
    from PIL import ImageEnhance

    from pipeline.neardup.rule import Rule
    green = _layout((47, 232, 74))
    base = _thumbs(green)
    for enhancer in (ImageEnhance.Brightness, ImageEnhance.Contrast):
        for factor in (0.9, 1.1):
            edited = _thumbs(enhancer(green).enhance(factor))
            assert C.distances(base, edited, 0, 0)[0] <= Rule().colour, (enhancer.__name__, factor)
    # the same layout in another green of about the same brightness (the benchmark's closest
    # such pair was 0.105 apart before the gate, below the threshold)
    other = _thumbs(_layout((54, 170, 90)))
    assert not C.colour_agrees(C.whole_vectors(base)[0, 0], C.whole_vectors(other)[0, 0])
    assert C.distances(base, other, Rule().crop, 0)[0] == np.inf


def test_faint_textures_must_correlate_to_match():
    """Two grey textures of ~3 levels are near in RMS at the spread floor; only a copy correlates."""
    from benchmarks.nearcopy import encode
    from pipeline.neardup.rule import Rule
    rng = np.random.default_rng(5)
    blur = lambda a: Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).resize((256, 256), Image.BICUBIC)
    one, two = (blur(120 + rng.normal(0, 3, (16, 16, 3)).round()) for _ in range(2))
    a, b = _thumbs(one), _thumbs(two)
    assert C.rms(C.whole_vectors(a)[0, 0], C.whole_vectors(b)[0, 0]) <= Rule().colour   # the RMS alone merges them
    assert C.distances(a, b, Rule().crop, 0)[0] == np.inf
    assert C.distances(a, _thumbs(encode(one, "JPEG", quality=40)), Rule().crop, 0)[0] <= Rule().colour


def test_a_crop_copy_finds_the_cut_colour_code(photo):
    from pipeline.neardup.rule import Rule
    w, h = photo.size
    original = C.codes(_thumbs(photo))[0]
    assert len(original) == C.VIEWS + 1
    for left, top, right, bottom in [(0.06, 0.06, 0.06, 0.06), (0.05, 0.07, 0.07, 0.05)]:
        cropped = photo.crop((round(left * w), round(top * h), w - round(right * w), h - round(bottom * h)))
        copy = C.codes(_thumbs(cropped))[0]
        assert np.bitwise_count(copy[0] ^ original[0]) > Rule().colour_bits      # the whole code misses it
        assert np.bitwise_count(copy[0] ^ original[-1]) <= Rule().colour_bits    # the cut code finds it
