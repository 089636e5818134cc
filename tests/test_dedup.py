"""Near-duplicate rule: copies of each kind match, different artworks do not; search is exact."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline import dedup as stage
from pipeline import synthetic as colourfield
from pipeline.neardup import detect as D
from benchmarks.nearcopy import KINDS


@pytest.fixture(scope="module")
def photo():
    import skimage.data
    return Image.fromarray(skimage.data.astronaut()).resize((256, 256), Image.LANCZOS)


@pytest.fixture(scope="module")
def painting():
    return Image.fromarray(colourfield.render(0, 256, np.random.default_rng(5)))


def _matches(a, b) -> bool:
    return D.match(D.fingerprints([a]), D.fingerprints([b]))[0] == 0


MISSED_ON_THIS_PHOTO = {   # known misses, strict: a fix shows up as XPASS (recall per kind: benchmarks/dedup_quality.py)
    "crop": "cut 2-10 % per side, colour 0.115: a busy photo's crop stays ~0.1 from its original (resampling)",
    "rotate": "turned and cut to hide the corners, colour 0.137 (photos: recall 0.91 tuning part)",
    "combined": "turned, brightened, cut, 0.4-0.9x and JPEG: colour 0.143",
}
MISSED_ON_THIS_PAINTING = {
    "crop": "this 2-10 % per side crop moves every pHash view and the colour code past the search radius",
}


def _kinds(missed: dict):
    return [pytest.param(k, marks=pytest.mark.xfail(reason=missed[k], strict=True)) if k in missed else k
            for k in sorted(KINDS)]


@pytest.mark.parametrize("kind", _kinds(MISSED_ON_THIS_PHOTO))
def test_each_kind_of_copy_matches_a_photo(photo, kind):
    assert _matches(KINDS[kind](photo, np.random.default_rng(1)), photo)


@pytest.mark.parametrize("kind", _kinds(MISSED_ON_THIS_PAINTING))
def test_each_kind_of_copy_matches_a_painting(painting, kind):
    assert _matches(KINDS[kind](painting, np.random.default_rng(1)), painting)


def _flat_bands(colours, edges=((0.12, 0.45), (0.55, 0.88)), size=(300, 240)) -> Image.Image:
    """A colour field without texture: soft horizontal bands on a canvas (the first colour)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    ramp = lambda t: np.clip(0.5 + t / 0.02, 0, 1)
    img = np.broadcast_to(np.array(colours[0], float), (h, w, 3)).copy()
    for (y0, y1), colour in zip(edges, colours[1:]):
        mask = (ramp(yy / h - y0) * ramp(y1 - yy / h) * ramp(xx / w - 0.1) * ramp(0.9 - xx / w))[..., None]
        img = img * (1 - mask) + np.array(colour, float) * mask
    return Image.fromarray(np.rint(img).astype(np.uint8))


def _issue_copies(im: Image.Image) -> dict:
    """The copies of issue 11's independent set, which the former rule missed on flat paintings and photos."""
    from PIL import ImageEnhance
    from benchmarks.nearcopy import encode
    w, h = im.size
    t = round(0.04 * w)
    bordered = Image.new("RGB", (w + 2 * t, h + 2 * t), (255, 255, 255))
    bordered.paste(im, (t, t))
    return {"white border 4 %, JPEG 90": encode(bordered, "JPEG", quality=90),
            "crop 4 % per side": encode(im.crop((t, round(0.04 * h), w - t, h - round(0.04 * h))), "PNG"),
            "+8 % brightness, JPEG 90": encode(ImageEnhance.Brightness(im).enhance(1.08), "JPEG", quality=90),
            "JPEG 40": encode(im, "JPEG", quality=40),
            "0.8x bicubic, WEBP": encode(im.resize((round(0.8 * w), round(0.8 * h)), Image.BICUBIC), "WEBP"),
            "half size PNG": encode(im.resize((w // 2, h // 2), Image.LANCZOS), "PNG")}


@pytest.mark.parametrize("palette", [[(200, 60, 40), (240, 200, 90), (60, 40, 110)],
                                     [(235, 232, 225), (210, 205, 200), (120, 130, 150)]])
def test_copies_of_a_flat_colour_field_match(palette):
    original = _flat_bands(palette)
    copies = _issue_copies(original)
    found = D.match(D.fingerprints(list(copies.values())), D.fingerprints([original]))
    assert dict(zip(copies, found == 0)) == dict.fromkeys(copies, True)


def test_copies_of_a_photo_in_a_white_border_or_cropped_match(photo):
    copies = _issue_copies(photo)
    found = D.match(D.fingerprints(list(copies.values())), D.fingerprints([photo]))
    assert dict(zip(copies, found == 0)) == dict.fromkeys(copies, True)


def test_flat_colour_fields_of_one_layout_in_other_palettes_are_not_copies():
    palettes = [[(200, 60, 40), (240, 200, 90), (60, 40, 110)], [(40, 60, 200), (90, 200, 240), (110, 40, 60)],
                [(200, 60, 40), (240, 200, 90), (110, 40, 60)], [(60, 60, 60), (200, 200, 200), (120, 120, 120)]]
    fields = [_flat_bands(p) for p in palettes]
    assert len(set(D.group(D.fingerprints(fields)).tolist())) == len(fields)


def test_near_monochrome_canvases_of_one_hue_are_told_apart():
    """Same hue: another faint layout, or the same layout at half the brightness, is another work."""
    def canvas(colour, box, gain=1.0):
        a = np.broadcast_to(np.array(colour, float), (240, 240, 3)).copy()
        y0, y1, x0, x1 = box
        a[y0:y1, x0:x1] += 14
        return Image.fromarray(np.clip(a * gain, 0, 255).astype(np.uint8))
    works = [canvas((60, 230, 90), (40, 120, 40, 200)), canvas((60, 230, 90), (120, 200, 60, 180)),
             canvas((60, 230, 90), (40, 120, 40, 200), gain=0.5)]
    assert len(set(D.group(D.fingerprints(works)).tolist())) == 3


def test_same_layout_and_palette_but_another_painting_is_not_a_copy(painting):
    others = [Image.fromarray(colourfield.render(0, 256, np.random.default_rng(s))) for s in range(10, 30)]
    assert (D.match(D.fingerprints(others), D.fingerprints([painting])) == -1).all()


def test_same_layout_other_colours_or_same_colours_other_layout_is_not_a_copy(painting):
    rng = np.random.default_rng(3)
    lay, pal = colourfield.MODES[0]
    other_palette = [m for m, (l, p) in enumerate(colourfield.MODES) if l == lay and p != pal]
    other_layout = [m for m, (l, p) in enumerate(colourfield.MODES) if l != lay and p == pal]
    others = [Image.fromarray(colourfield.render(m, 256, rng)) for m in other_palette + other_layout]
    assert (D.match(D.fingerprints(others), D.fingerprints([painting])) == -1).all()


def test_different_photos_sharing_colours_are_not_copies():
    import skimage.data
    im = Image.fromarray(skimage.data.coffee())
    w, h = im.size
    quarters = [im.crop((x * w // 2, y * h // 2, (x + 1) * w // 2, (y + 1) * h // 2)) for x in (0, 1) for y in (0, 1)]
    groups = D.group(D.fingerprints(quarters))
    assert len(set(groups)) == 4


def test_trim_border_cuts_a_letterbox_and_never_more_than_trim_max(painting):
    a = np.asarray(painting)
    boxed = np.zeros((256 + 20, 256, 3), np.uint8)
    boxed[10:-10] = a
    top, bottom, left, right = D.trim_border(boxed)
    assert abs(top - 10) <= 3 and abs(bottom - 266) <= 3 and (left, right) == (0, 256)
    for seed in range(12):   # a painted frame may go, and a canvas margin up to trim_max, never more
        t, b, l, r = D.trim_border(colourfield.render(seed % 24, 256, np.random.default_rng(seed)))
        assert max(t, 256 - b, l, 256 - r) <= D.Rule().trim_max * 256


@pytest.mark.parametrize("colour", [(255, 255, 255), (0, 0, 0), (150, 90, 200)])
def test_trim_border_cuts_a_jpeg_mat_to_within_a_percent(photo, colour):
    """JPEG leaves a mat uneven near the picture; the cut still lands on the picture's edge."""
    from benchmarks.nearcopy import encode
    t = 14   # 5.5 % of 256
    matted = Image.new("RGB", (256 + 2 * t, 256 + 2 * t), colour)
    matted.paste(photo, (t, t))
    rgb = np.asarray(encode(matted, "JPEG", quality=60))
    assert np.abs(np.array(D.trim_border(rgb)) - (t, t + 256, t, t + 256)).max() <= 0.01 * 284


def test_stage_keeps_the_largest_copy_and_writes_outputs(tmp_path, photo, painting):
    raw = tmp_path / "raw"
    (raw / "images").mkdir(parents=True)
    files = {"a.jpg": (photo.resize((128, 128)), "JPEG"), "b.png": (photo, "PNG"),
             "c.png": (painting, "PNG")}
    rows = []
    for name, (im, fmt) in files.items():
        im.save(raw / "images" / name, format=fmt)
        rows.append({"file": f"images/{name}", "sha256": name[0] * 64, "source": "test", "width": im.width,
                     "height": im.height, "mime": f"image/{fmt.lower()}",
                     "bytes": (raw / "images" / name).stat().st_size, "mode": "x"})
    pd.DataFrame(rows).to_csv(raw / "manifest.csv", index=False)
    out = stage.run(raw, tmp_path / "unique", D.Rule(), workers=1)
    kept = dict(zip(out["file"], out["kept"]))
    assert kept == {"images/a.jpg": 0, "images/b.png": 1, "images/c.png": 1}
    written = pd.read_csv(tmp_path / "unique" / "manifest.csv")
    assert {"file", "sha256", "group", "kept", "reason", "phash", "mode"} <= set(written.columns)
    dups = pd.read_csv(tmp_path / "unique" / "duplicates.csv")
    assert list(dups["kept_file"]) == ["images/b.png"] and dups["hash_dist"].iat[0] >= 0
    assert Image.open(tmp_path / "unique" / "contact_sheet.png").size[0] > 0


def test_bad_dedup_param_names_the_key():
    from pipeline.params import ParamError
    with pytest.raises(ParamError, match="dedup.hash_bits"):
        D.Rule.from_params({"hash_bits": 80})


def test_pairs_and_group_equal_brute_force_over_views():
    rng = np.random.default_rng(1)
    n = 300
    codes = rng.integers(0, 2**64, (n, D.VIEWS), dtype=np.uint64, endpoint=False)
    codes[::3, 1] = codes[::3, 0]                                   # views that hash alike
    few_bits = (rng.integers(0, 2**64, (60, D.VIEWS), dtype=np.uint64, endpoint=False)
                & rng.integers(0, 2**64, (60, D.VIEWS), dtype=np.uint64, endpoint=False)
                & rng.integers(0, 2**64, (60, D.VIEWS), dtype=np.uint64, endpoint=False)
                & rng.integers(0, 2**64, (60, D.VIEWS), dtype=np.uint64, endpoint=False))   # ~4 bits
    codes[200:230] = codes[:30] ^ few_bits[:30]                     # near in every view
    codes[230:260, D.BASE_VIEWS] = codes[30:60, 0] ^ few_bits[30:, 0]  # only a crop view is near a whole
    codes[280:290] = codes[:10]                                     # exact copies
    smooth = rng.integers(0, 256, (n, D.THUMB_VIEWS, 4, 4, 3)).astype(np.uint8)
    thumb = smooth.repeat(D.THUMB_SIDE // 4, 2).repeat(D.THUMB_SIDE // 4, 3)
    thumb[200:260] = thumb[:60]
    thumb[280:290] = thumb[:10]
    fps = D.Fingerprints(codes, thumb, np.ones((n, 2), np.int64))
    rule = D.Rule(hash_bits=10)
    base = codes[:, :D.BASE_VIEWS]
    near = (np.bitwise_count(base[:, None, :, None] ^ codes[None, :, None, :]) <= rule.hash_bits).any(axis=(2, 3))
    colour = fps.colour_code
    near |= (np.bitwise_count(colour[:, None, :, None] ^ colour[None, :, None, :]) <= rule.colour_bits).any(axis=(2, 3))
    near = np.triu(near | near.T, 1)
    ci, cj = np.nonzero(near)
    ok = D.colour_distance(fps, fps, ci, cj, rule) <= rule.colour
    bi, bj = ci[ok], cj[ok]
    i, j, _, _ = D.pairs(fps, rule)
    assert len(bi) >= 70 and sorted(zip(i.tolist(), j.tolist())) == sorted(zip(bi.tolist(), bj.tolist()))
    assert {(30 + k, 230 + k) for k in range(30)} <= set(zip(i.tolist(), j.tolist()))
    from scipy.sparse.csgraph import connected_components
    graph = np.zeros((n, n), bool)
    graph[bi, bj] = True
    _, ref = connected_components(graph, directed=False)
    groups = D.group(fps, rule)
    assert (groups[:, None] == groups[None]).tolist() == (ref[:, None] == ref[None]).tolist()
    assert (D.match(fps[200:260], fps[:60], rule) == np.arange(60)).mean() > 0.9


def test_colour_distance_searches_crop_boxes(painting, photo):
    for im in (painting, photo):
        w, h = im.size
        cropped = im.crop((round(0.06 * w), round(0.02 * h), w, h - round(0.04 * h)))
        fps = D.fingerprints([im, cropped])
        whole_only = D.colour_distance(fps, fps, [0], [1], D.Rule(crop=0))[0]
        searched = D.colour_distance(fps, fps, [0], [1], D.Rule())[0]
        assert whole_only > D.Rule().colour >= searched
        assert D.colour_distance(fps, fps, [1], [0])[0] == searched    # symmetric


def test_another_palette_of_a_near_monochrome_layout_at_the_same_brightness_is_another_work():
    """Greens (47, 232, 74) and (54, 170, 90): one brightness, one faint layout; only the mean colour gate tells them."""
    def canvas(colour):
        yy, xx = np.mgrid[0:260, 0:220]
        a = np.array(colour, float) + (xx / 220 * 12)[..., None]
        a[70:170, 50:150] += 12
        return Image.fromarray(np.clip(np.rint(a), 0, 255).astype(np.uint8))
    works = [canvas((47, 232, 74)), canvas((54, 170, 90))]
    assert len(set(D.group(D.fingerprints(works)).tolist())) == 2


def test_matted_copies_of_adjacent_tiles_of_a_faint_micrograph_stay_apart():
    """Two black mats alike outweigh faint content: the whole views must not match on their frames."""
    import skimage.data
    from benchmarks.nearcopy import _mat, encode
    cell = Image.fromarray(skimage.data.cell()).convert("RGB")
    w, h = cell.size
    tiles = [cell.crop((0, 0, w // 2, h // 2)), cell.crop((0, h // 2, w // 2, h))]
    rng = np.random.default_rng(0)
    images = [im for t in tiles for im in (t, encode(_mat(t, rng, (0, 0, 0)), "JPEG", quality=80))]
    assert D.group(D.fingerprints(images)).tolist() == [0, 0, 1, 1]


def test_real_photos_are_kept_apart_and_their_copies_grouped():
    import skimage.data
    from pipeline.images.load import to_rgb
    from benchmarks.nearcopy import encode
    names = ["astronaut", "camera", "chelsea", "coffee", "coins", "rocket", "immunohistochemistry", "page",
             "hubble_deep_field", "moon"]
    originals = []
    for name in names:
        a = getattr(skimage.data, name)()
        im = to_rgb(Image.fromarray(a) if a.ndim == 3 else Image.fromarray(a, "L"))
        im.thumbnail((192, 192), Image.LANCZOS)
        originals.append(im)
    images, art = [], []
    for k, im in enumerate(originals):
        w, h = im.size
        images += [im, im.resize((w * 2 // 3, h * 2 // 3), Image.BICUBIC), encode(im, "JPEG", quality=50),
                   encode(im.crop((round(0.03 * w), round(0.03 * h), w - round(0.03 * w), h - round(0.03 * h))),
                          "JPEG", quality=90)]
        art += [k] * 4
    groups = D.group(D.fingerprints(images))
    art = np.array(art)
    for g in np.unique(groups):
        assert len(set(art[groups == g])) == 1, f"different photos merged: {[names[a] for a in set(art[groups == g])]}"
    by_photo = groups.reshape(len(names), 4)
    assert (by_photo[:, 1:3] == by_photo[:, :1]).all()         # resized and JPEG copies: every one
    # 3 % crops: every one (the former rule found 7 of these 10; a star field and coins sat past it)
    assert (by_photo[:, 3] == by_photo[:, 0]).all()


def test_keep_rule_prefers_the_lossless_original_to_a_bordered_jpeg():
    rows = pd.DataFrame({
        "sha256": ["a" * 64, "b" * 64, "c" * 64, "d" * 64],
        "content_width": [400, 408, 200, 300], "content_height": [300, 306, 150, 200],
        "width": [400, 440, 200, 300], "height": [300, 330, 150, 200],
        "bytes": [200_000, 90_000, 20_000, 50_000],
        "mime": ["image/png", "image/jpeg", "image/jpeg", "image/jpeg"]})
    groups = np.array([0, 0, 0, 1])
    kept = stage.choose_kept(rows, groups)
    assert sorted(kept.tolist()) == [0, 3]
    rows.loc[0, "mime"] = "image/jpeg"     # both lossy: the larger content wins
    assert sorted(stage.choose_kept(rows, groups).tolist()) == [1, 3]


def test_bad_crop_param_names_the_key():
    from pipeline.params import ParamError
    with pytest.raises(ParamError, match="dedup.crop"):
        D.Rule.from_params({"crop": 0.6})


@pytest.mark.parametrize("key, edge, past", [("hash_bits", 0, -1), ("hash_bits", 63, 64), ("colour_bits", 0, -1),
                                             ("colour_bits", 63, 64), ("colour", 0.0, -0.01), ("crop", 0.0, 0.5),
                                             ("trim_tol", 0.0, -1.0), ("trim_max", 0.0, 0.5)])
def test_dedup_knobs_take_their_whole_range_and_no_more(key, edge, past):
    """Distances count bits of a 64-bit hash (0-63); crops and trims stay under half a side: each knob takes
    its edge value and refuses one step past it. (Mutation benchmark: kills rule.py:18-23 bounds
    ``maximum=63`` -> ``64`` or ``0``, ``minimum=0`` -> ``1``, ``below=0.5`` -> ``1.0``.)"""
    from pipeline.params import ParamError
    assert getattr(D.Rule.from_params({key: edge}), key) == edge
    with pytest.raises(ParamError, match=f"dedup.{key}"):
        D.Rule.from_params({key: past})


def test_fingerprint_of_an_array_has_the_content_size_of_the_image(painting):
    """``content`` is (width, height) whether the image comes as PIL or as an (H, W, 3) array.
    (Mutation benchmark: kills detect.py:200 ``shape[1::-1]`` -> ``shape[2::-1]``.)"""
    wide = painting.crop((0, 0, 256, 160))
    size = D.fingerprint(wide)[2]
    assert D.fingerprint(np.asarray(wide))[2] == size and size[0] > size[1]


def test_content_size_is_the_trimmed_core_in_the_images_own_pixels(painting):
    """A large framed image is analysed downscaled, yet ``content`` is its core's size in its own pixels
    (what the stage compares to keep the largest copy). (Mutation benchmark: kills detect.py:208-209
    scale ``/`` -> ``*``, the ``shape[1]``/``full_size[1]`` index swaps and ``right - left`` -> ``+``.)"""
    framed = Image.new("RGB", (1000, 700), (0, 0, 0))
    framed.paste(painting.resize((900, 600)), (50, 50))
    w, h = D.fingerprint(framed)[2]
    assert abs(w - 900) <= 6 and abs(h - 600) <= 6


def test_default_synthetic_paintings_are_all_kept():
    """The default scrape (1200 paintings, 24 modes, 50 of each) holds no copies: dedup merges none."""
    import io

    from pipeline.images.parallel import imap
    from pipeline.sources.synthetic import Source, jobs, paint
    source = Source()
    paintings = [np.asarray(Image.open(io.BytesIO(png))) for png in imap(paint, jobs(source))]
    assert len(set(D.group(D.fingerprints(paintings)).tolist())) == source.n
