"""The headline metrics rank known-bad generators below held-out real images, beyond their intervals.

The real set is about 100 tiles of scikit-image's colour photographs (the full table, on
synthetic paintings too: benchmarks/metric_calibration.py).
"""
import numpy as np
import pytest

from pipeline.metrics import knownbad
from pipeline.metrics.calibration import REALS, calibrate, verdicts


@pytest.fixture(scope="module")
def photo_rows():
    images = knownbad.photo_tiles(tile=96, per_photo=30)
    order = np.random.default_rng(1).permutation(len(images))
    train, held = images[order[0::2]], images[order[1::2]]
    assert 80 <= len(train) <= 120
    return calibrate(train, held, seed=0)


def test_every_known_bad_generator_is_caught_by_its_metric(photo_rows):
    assert verdicts(photo_rows) == {name: "caught" for name in knownbad.GENERATORS}


def test_held_out_reals_look_real(photo_rows):
    real = photo_rows[REALS]
    assert real["kid_lo"] < 0.05 < real["kid_hi"] + 0.2     # ~0: the same distribution
    assert real["recall"] > 0.7 and real["copies"] < 0.1


def test_known_bad_generators_are_what_they_claim():
    reals = knownbad.photo_tiles(size=64, tile=128, per_photo=2)
    rng = np.random.default_rng(0)
    drop = knownbad.mode_drop(reals, 50, rng)
    assert len({x.tobytes() for x in drop}) <= max(1, round(0.1 * len(reals)))
    shuffled = knownbad.shuffled(reals[:1], 1, np.random.default_rng(3))
    patches = lambda im: sorted(im[y:y + 16, x:x + 16].tobytes() for y in range(0, 64, 16) for x in range(0, 64, 16))
    assert patches(shuffled[0]) == patches(reals[0]) and not np.array_equal(shuffled[0], reals[0])
    blobs = knownbad.blobs(reals, 4, rng)
    assert np.abs(np.diff(blobs.astype(int), axis=1)).max() < np.abs(np.diff(reals.astype(int), axis=1)).max()
