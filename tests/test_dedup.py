"""Near-duplicate rule: copies of each kind match, different artworks do not; search is exact."""
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pipeline import dedup as stage
from pipeline.images import dedup as D
from pipeline.images.nearcopy import KINDS
from pipeline.sources import synthetic


@pytest.fixture(scope="module")
def photo():
    import skimage.data
    return Image.fromarray(skimage.data.astronaut()).resize((256, 256), Image.LANCZOS)


@pytest.fixture(scope="module")
def painting():
    return Image.fromarray(synthetic.render(0, 256, np.random.default_rng(5)))


def _matches(a, b) -> bool:
    return D.match(D.fingerprints([a]), D.fingerprints([b]))[0] == 0


@pytest.mark.parametrize("kind", [pytest.param(k, marks=pytest.mark.xfail(
    reason="an 8 % one-sided crop can move pHash past hash_bits; crop recall is in benchmarks/dedup_quality.py",
    strict=False)) if k == "crop" else k for k in sorted(KINDS)])
def test_each_kind_of_copy_matches_a_photo(photo, kind):
    assert _matches(KINDS[kind](photo, np.random.default_rng(1)), photo)


@pytest.mark.parametrize("kind", ["resize", "jpeg", "webp", "png", "border", "letterbox", "brightness", "contrast"])
def test_each_kind_of_copy_matches_a_painting(painting, kind):
    assert _matches(KINDS[kind](painting, np.random.default_rng(1)), painting)


def test_same_layout_and_palette_but_another_painting_is_not_a_copy(painting):
    others = [Image.fromarray(synthetic.render(0, 256, np.random.default_rng(s))) for s in range(10, 30)]
    assert (D.match(D.fingerprints(others), D.fingerprints([painting])) == -1).all()


def test_same_layout_other_colours_or_same_colours_other_layout_is_not_a_copy(painting):
    rng = np.random.default_rng(3)
    lay, pal = synthetic.MODES[0]
    other_palette = [m for m, (l, p) in enumerate(synthetic.MODES) if l == lay and p != pal]
    other_layout = [m for m, (l, p) in enumerate(synthetic.MODES) if l != lay and p == pal]
    others = [Image.fromarray(synthetic.render(m, 256, rng)) for m in other_palette + other_layout]
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
        t, b, l, r = D.trim_border(synthetic.render(seed % 24, 256, np.random.default_rng(seed)))
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
        stage.settings({"dedup": {"hash_bits": 80}})


def test_pairs_and_group_equal_brute_force_over_views():
    rng = np.random.default_rng(1)
    n, d = 400, 6
    codes = rng.integers(0, 2**64, (n, 2), dtype=np.uint64, endpoint=False)
    codes[::3, 1] = codes[::3, 0]                                   # views that hash alike
    codes[200:260] = codes[:60] ^ (rng.integers(0, 2**64, (60, 2), dtype=np.uint64, endpoint=False)
                                   & rng.integers(0, 2**64, (60, 2), dtype=np.uint64, endpoint=False)
                                   & rng.integers(0, 2**64, (60, 2), dtype=np.uint64, endpoint=False))
    codes[300:320] = codes[:20]                                     # exact copies
    colour = rng.normal(0, 1, (n, 2, d)).astype(np.float32)
    colour[200:260] = colour[:60] + rng.normal(0, 0.1, (60, 2, d)).astype(np.float32)
    colour[300:320] = colour[:20]
    fps = D.Fingerprints(codes, colour, np.ones((n, 2), np.int64))
    rule = D.Rule(hash_bits=10, colour=0.15)
    hd = np.bitwise_count(codes[:, None, :, None] ^ codes[None, :, None, :])
    cd = np.sqrt(((colour[:, None, :, None] - colour[None, :, None, :]) ** 2).mean(-1))
    ok = ((hd <= rule.hash_bits) & (cd <= rule.colour)).any(axis=(2, 3))
    bi, bj = np.nonzero(np.triu(ok, 1))
    i, j, _, _ = D.pairs(fps, rule)
    assert len(bi) > 60 and sorted(zip(i.tolist(), j.tolist())) == sorted(zip(bi.tolist(), bj.tolist()))
    from scipy.sparse.csgraph import connected_components
    _, ref = connected_components(np.triu(ok, 1), directed=False)
    groups = D.group(fps, rule)
    assert (groups[:, None] == groups[None]).tolist() == (ref[:, None] == ref[None]).tolist()
    assert (D.match(fps[200:260], fps[:60], rule) == np.arange(60)).mean() > 0.9
