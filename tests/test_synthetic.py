"""The mode classifier evaluation trusts: clean paintings get their mode, damaged ones none."""
from __future__ import annotations

import numpy as np
import pytest

from pipeline.synthetic import CLASSIFY_SIZE, MODES, classify, render


def damaged(share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Paintings of every mode with ``share`` of their pixels replaced by black or white (whichever is farther)."""
    rng = np.random.default_rng(seed)
    images = np.stack([render(m, CLASSIFY_SIZE, rng) for m in range(len(MODES))])
    hit = rng.random(images.shape[:3]) < share
    far = np.where(images.sum(-1, keepdims=True) > 382, 0, 255).astype(np.uint8)
    return np.where(hit[..., None], far, images), np.arange(len(MODES))


def test_clean_and_lightly_damaged_paintings_keep_their_mode():
    for share in (0.0, 0.03):
        images, modes = damaged(share, seed=1)
        assert classify(images).tolist() == modes.tolist(), share


@pytest.mark.parametrize("share", [0.2, 0.3])
def test_a_painting_with_a_fifth_of_its_pixels_wrong_is_no_mode(share):
    """At most a tenth of a painting's core may stray (MIN_INLIERS 0.9); at 0.6 these would pass as modes."""
    images, _ = damaged(share, seed=2)
    assert (classify(images) == -1).all()


def test_a_painting_is_the_same_painting_at_any_size():
    """Grain has a size on the canvas: 256 and 128 px paintings of one seed, reduced to 64 px, agree."""
    from PIL import Image

    small = [np.asarray(Image.fromarray(render(5, size, np.random.default_rng([0, 3]))).resize((64, 64), Image.LANCZOS),
                        float) for size in (128, 256)]
    assert np.abs(small[0] - small[1]).mean() < 0.5
    other = np.asarray(Image.fromarray(render(5, 128, np.random.default_rng([0, 4]))).resize((64, 64), Image.LANCZOS),
                       float)
    assert np.abs(small[0] - other).mean() > 5 * np.abs(small[0] - small[1]).mean()   # another seed is not
