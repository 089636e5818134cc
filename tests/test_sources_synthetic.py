"""The colour-field paintings, their exact mode classifier, and the synthetic source that stores them."""
from __future__ import annotations

import numpy as np
from PIL import Image

from pipeline.sources.store import RawStore
from pipeline import synthetic as C
from pipeline.sources import synthetic
from pipeline.sources.http import HttpSettings


def paintings(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    modes = np.arange(n) % len(C.MODES)
    return np.stack([C.render(int(m), size, np.random.default_rng([seed, i])) for i, m in enumerate(modes)]), modes


def test_classifier_is_exact_on_paintings_at_every_training_size():
    images, modes = paintings(96, 128)
    assert (C.classify(images) == modes).all()
    for size in (16, 32, 64):
        small = np.stack([np.asarray(Image.fromarray(im).resize((size, size), Image.LANCZOS)) for im in images])
        assert (C.classify(small) == modes).mean() >= 0.98, size


def test_classifier_rejects_what_is_no_clean_painting():
    rng = np.random.default_rng(3)
    noise = rng.integers(0, 256, (20, 64, 64, 3), dtype=np.uint8)
    flat = np.full((5, 64, 64, 3), 128, np.uint8)
    images, modes = paintings(48, 64)
    other = (np.arange(48) + 1) % 48                      # a painting of another mode
    blends = ((images.astype(float) + images[other]) / 2).astype(np.uint8)
    assert (C.classify(noise) == -1).all()
    assert (C.classify(flat) == -1).all()
    assert (C.classify(blends) == -1).all()


def test_render_is_deterministic_and_varied():
    a = C.render(5, 64, np.random.default_rng([0, 1]))
    b = C.render(5, 64, np.random.default_rng([0, 1]))
    c = C.render(5, 64, np.random.default_rng([0, 2]))
    assert np.array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 2       # same mode, another painting


def test_collect_records_modes_and_is_balanced(tmp_path):
    store = RawStore(tmp_path / "raw")
    source = synthetic.Source.from_params({"kind": "synthetic", "n": 48, "size": 32, "seed": 0}, "scrape.sources[0]")
    synthetic.collect(source, store, HttpSettings())
    store.close()
    rows = list(store.rows.values())
    assert len(rows) == 48
    counts = np.bincount([C.MODE_NAMES.index(r["mode"]) for r in rows], minlength=len(C.MODES))
    assert (counts == 2).all()
    # the recorded mode is the one the classifier sees in the stored file
    for r in rows[:8]:
        im = np.asarray(Image.open(tmp_path / "raw" / r["file"]).convert("RGB"))
        assert C.MODE_NAMES[C.classify(im)[0]] == r["mode"]
