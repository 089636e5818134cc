"""Near-duplicate rule: copies of each kind match, different artworks do not; search is exact."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline import dedup as stage
from pipeline.images import colourfield
from pipeline.images import dedup as D
from pipeline.images.nearcopy import KINDS


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
    "crop": "this 8 % crop moves every pHash view 12+ bits from the original's (hash_bits 8)",
    "border": "this 3 % border is trimmed 2 px short (128 px trim grid); on a busy photo that is colour 0.126",
}


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.xfail(reason=MISSED_ON_THIS_PHOTO[k], strict=True))
                                  if k in MISSED_ON_THIS_PHOTO else k for k in sorted(KINDS)])
def test_each_kind_of_copy_matches_a_photo(photo, kind):
    assert _matches(KINDS[kind](photo, np.random.default_rng(1)), photo)


@pytest.mark.parametrize("kind", ["resize", "jpeg", "webp", "png", "border", "letterbox", "brightness", "contrast"])
def test_each_kind_of_copy_matches_a_painting(painting, kind):
    assert _matches(KINDS[kind](painting, np.random.default_rng(1)), painting)


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


def test_trim_border_cuts_a_letterbox_but_not_a_canvas_margin(painting):
    a = np.asarray(painting)
    boxed = np.zeros((256 + 20, 256, 3), np.uint8)
    boxed[10:-10] = a
    top, bottom, left, right = D.trim_border(boxed)
    assert abs(top - 10) <= 3 and abs(bottom - 266) <= 3 and (left, right) == (0, 256)
    for seed in range(12):   # a painted frame (<= 6 %) may go; the canvas margin (>= 7 %) never
        t, b, l, r = D.trim_border(colourfield.render(seed % 24, 256, np.random.default_rng(seed)))
        assert max(t, 256 - b, l, 256 - r) <= 0.06 * 256


def test_hamming_pairs_equals_brute_force():
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 2**64, 1500, dtype=np.uint64, endpoint=False)
    codes[1000:1300] = codes[:300] ^ rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False) & \
        rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False) & rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False) & \
        rng.integers(0, 2**64, 300, dtype=np.uint64, endpoint=False)   # ~4 bits flipped on average
    for t in (3, 8, 11):
        i, j, d = D.hamming_pairs(codes, t)
        dist = np.bitwise_count(codes[:, None] ^ codes[None])
        bi, bj = np.nonzero(np.triu(dist <= t, 1))
        assert sorted(zip(i.tolist(), j.tolist())) == sorted(zip(bi.tolist(), bj.tolist()))
        assert (d == dist[i, j]).all()
    qi, rj, _ = D.hamming_pairs(codes[:50], 8, codes[1000:1300])
    dist = np.bitwise_count(codes[:50, None] ^ codes[None, 1000:1300])
    assert sorted(zip(qi.tolist(), rj.tolist())) == sorted(zip(*map(list, np.nonzero(dist <= 8))))


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


def test_crop_thumbnails_equal_the_thumbnail_of_the_crop():
    rng = np.random.default_rng(2)
    thumb = rng.integers(0, 256, (1, D.THUMB_SIDE, D.THUMB_SIDE, 3)).astype(np.uint8)
    big = thumb[0].repeat(8, 0).repeat(8, 1).astype(np.float64)    # exact: each thumbnail pixel is 8 x 8
    side = 8 * D.THUMB_SIDE
    for (top, bottom), (left, right) in [((0, 0), (0, 0)), ((0.0625, 0), (0, 0.0625)), ((0.03125, 0.09375), (0.0625, 0))]:
        crop = big[round(top * side):side - round(bottom * side), round(left * side):side - round(right * side)]
        h, w = crop.shape[0] // D.COMPARE_SIDE, crop.shape[1] // D.COMPARE_SIDE
        ref = crop.reshape(D.COMPARE_SIDE, h, D.COMPARE_SIDE, w, 3).mean((1, 3)).reshape(-1)
        got = D._crop_thumbs(thumb, D._resample_matrices([(top, bottom)]), D._resample_matrices([(left, right)]))
        assert np.allclose(got[0, 0], D._normalise(ref), atol=1e-4)


def test_colour_distance_searches_crop_boxes(painting, photo):
    for im in (painting, photo):
        w, h = im.size
        cropped = im.crop((round(0.06 * w), round(0.02 * h), w, h - round(0.04 * h)))
        fps = D.fingerprints([im, cropped])
        whole_only = D.colour_distance(fps, fps, [0], [1], D.Rule(crop=0))[0]
        searched = D.colour_distance(fps, fps, [0], [1], D.Rule())[0]
        assert whole_only > D.Rule().colour >= searched
        assert D.colour_distance(fps, fps, [1], [0])[0] == searched    # symmetric


def test_real_photos_are_kept_apart_and_their_copies_grouped():
    import skimage.data
    from pipeline.images.load import to_rgb
    from pipeline.images.nearcopy import encode
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
    # 3 % crops: most (at colour 0.095, 7 of these 10; a star field and coins sit just past it)
    assert (by_photo[:, 3] == by_photo[:, 0]).sum() >= 7


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
