"""The colour-field paintings of both families, their exact mode classifiers, and the synthetic source
that stores them."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline.sources.store import RawStore
from pipeline import synthetic as C
from pipeline.sources import synthetic
from pipeline.sources.http import HttpSettings


FAMILIES = list(C.FAMILIES.values())


def paintings(n: int, size: int, seed: int = 0, family: C.Family = C.COLOURFIELD) -> tuple[np.ndarray, np.ndarray]:
    modes = np.arange(n) % len(family.modes)
    return (np.stack([family.render(int(m), size, np.random.default_rng([seed, i])) for i, m in enumerate(modes)]),
            modes)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_classifier_is_exact_on_paintings_at_every_training_size(family):
    images, modes = paintings(96, 128, family=family)
    assert (family.classify(images) == modes).all()
    for size in (16, 32, 64):
        small = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.LANCZOS)) for im in images])
        assert (family.classify(small) == modes).mean() >= 0.98, size


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_classifier_rejects_what_is_no_clean_painting(family):
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (20, 64, 64, 3), dtype=np.uint8)
    flat = np.full((5, 64, 64, 3), 128, np.uint8)
    images, modes = paintings(48, 64, family=family)
    other = (np.arange(48) + 1) % 48                      # a painting of another mode
    blends = ((images.astype(float) + images[other]) / 2).astype(np.uint8)
    assert (family.classify(noise) == -1).all()
    assert (family.classify(flat) == -1).all()
    assert (family.classify(blends) == -1).all()


def test_the_held_out_family_shares_no_layout_palette_or_painting_with_the_tuned_one():
    """blocks checks the recipe on content it was not tuned on: nothing of colourfield's in it, and each
    family's paintings are no painting of the other's (so ``detect`` tells them apart)."""
    a, b = C.COLOURFIELD, C.BLOCKS
    assert not set(a.layouts) & set(b.layouts) and not set(a.palettes) & set(b.palettes)
    colours = lambda f: {c for canvas, bands in f.palettes.values() for c in (canvas, *bands)}   # noqa: E731
    assert not colours(a) & colours(b)
    assert len(b.modes) == len(a.modes) == 24 and not set(a.mode_names) & set(b.mode_names)
    for mine, other in ((a, b), (b, a)):
        images, modes = paintings(96, 32, seed=4, family=mine)
        assert (other.classify(images) == -1).all()
        family, labels = C.detect(images)
        assert family is mine and (labels == modes).all()
    assert C.family_of(["nest-plum", "quad-sand"]) is b and C.family_of(["two-ash", "nest-plum"]) is None


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_render_is_deterministic_and_varied(family):
    a = family.render(5, 64, np.random.default_rng([0, 1]))
    b = family.render(5, 64, np.random.default_rng([0, 1]))
    c = family.render(5, 64, np.random.default_rng([0, 2]))
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 2       # same mode, another painting


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_collect_records_modes_and_is_balanced(tmp_path, family):
    store = RawStore(tmp_path / "raw")
    spec = {"kind": "synthetic", "n": 48, "size": 32, "seed": 0} | ({"family": family.name} if family.name != "colourfield" else {})
    source = synthetic.Source.from_params(spec, "scrape.sources[0]")
    synthetic.collect(source, store, HttpSettings())
    store.close()
    rows = list(store.rows.values())
    assert len(rows) == 48
    counts = np.bincount([family.mode_names.index(r["mode"]) for r in rows], minlength=len(family.modes))
    assert (counts == 2).all()
    # the recorded mode is the one the classifier sees in the stored file
    for r in rows[:8]:
        im = np.asarray(Image.open(tmp_path / "raw" / r["file"]).convert("RGB"))
        assert family.mode_names[family.classify(im)[0]] == r["mode"]


def test_an_unknown_family_is_refused_naming_the_key():
    with pytest.raises(Exception, match=r"scrape.sources\[0\].family"):
        synthetic.Source.from_params({"kind": "synthetic", "family": "cubist"}, "scrape.sources[0]")
