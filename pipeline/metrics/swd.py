"""Sliced Wasserstein distance between two image sets, exactly as ProGAN measures it.

Karras et al. 2018 (ProGAN), ``metrics/sliced_wasserstein.py``: build a Laplacian
pyramid of every image down to 16 px; from each level take 128 random 7x7
neighbourhoods per image; normalise the descriptors of each set per channel per
level (each set by its own mean and std); then, 4 times over, project both sets
on 128 random unit directions, sort the projections and average the absolute
difference of the sorted values. Each level's distance is reported x1e3, and the
levels are averaged.

A consequence of the per-set normalisation (kept, because it is the definition):
a global per-channel affine colour change of *every* image is normalised away;
a change in how colours are distributed across images is not.
"""
from __future__ import annotations

import numpy as np
import scipy.ndimage

NHOOD_SIZE = 7
NHOODS_PER_IMAGE = 128
DIR_REPEATS = 4
DIRS_PER_REPEAT = 128
MIN_RESOLUTION = 16

# 5x5 binomial filter: matches cv2.pyrDown / pyrUp, as in ProGAN.
_GAUSS = np.float32([[1, 4, 6, 4, 1],
                     [4, 16, 24, 16, 4],
                     [6, 24, 36, 24, 6],
                     [4, 16, 24, 16, 4],
                     [1, 4, 6, 4, 1]]) / 256.0


def levels(resolution: int) -> list[int]:
    """Pyramid level resolutions for images of ``resolution`` px: e.g. 64 -> [64, 32, 16]."""
    out = []
    while resolution >= MIN_RESOLUTION:
        out.append(resolution)
        resolution //= 2
    return out


def _pyr_down(x: np.ndarray) -> np.ndarray:
    return scipy.ndimage.convolve(x, _GAUSS[None, None], mode="mirror")[:, :, ::2, ::2]


def _pyr_up(x: np.ndarray) -> np.ndarray:
    n, c, h, w = x.shape
    up = np.zeros((n, c, h * 2, w * 2), x.dtype)
    up[:, :, ::2, ::2] = x
    return scipy.ndimage.convolve(up, _GAUSS[None, None] * 4.0, mode="mirror")


def laplacian_pyramid(images_nchw: np.ndarray, num_levels: int) -> list[np.ndarray]:
    pyramid = [np.float32(images_nchw)]
    for _ in range(1, num_levels):
        pyramid.append(_pyr_down(pyramid[-1]))
        pyramid[-2] -= _pyr_up(pyramid[-1])
    return pyramid


def _descriptors(level: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """NHOODS_PER_IMAGE random 7x7 neighbourhoods of every image: (N*128, C, 7, 7)."""
    n, c, h, w = level.shape
    count = NHOODS_PER_IMAGE * n
    half = NHOOD_SIZE // 2
    nhood, chan, y, x = np.ogrid[0:count, 0:c, -half:half + 1, -half:half + 1]
    img = nhood // NHOODS_PER_IMAGE
    x = x + rng.integers(half, w - half, size=(count, 1, 1, 1))
    y = y + rng.integers(half, h - half, size=(count, 1, 1, 1))
    idx = ((img * c + chan) * h + y) * w + x
    return level.flat[idx]


def _finalize(desc: np.ndarray) -> np.ndarray:
    desc = desc - desc.mean(axis=(0, 2, 3), keepdims=True)
    desc /= desc.std(axis=(0, 2, 3), keepdims=True) + 1e-12  # epsilon: a flat set has std 0
    return desc.reshape(desc.shape[0], -1)


def _directions(dims: int, rng: np.random.Generator) -> np.ndarray:
    """DIRS_PER_REPEAT random unit directions in descriptor space, one per column (float32)."""
    dirs = rng.standard_normal((dims, DIRS_PER_REPEAT))
    dirs /= np.sqrt(np.sum(np.square(dirs), axis=0, keepdims=True))
    return dirs.astype(np.float32)


def _sorted_projections(desc: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    # one row per direction: sorting contiguous rows is about 4x faster than sorting columns
    return np.sort(dirs.T @ desc.T, axis=1)


def _sliced_wasserstein(a: np.ndarray, b: np.ndarray, rng: np.random.Generator) -> float:
    results = []
    for _ in range(DIR_REPEATS):
        dirs = _directions(a.shape[1], rng)
        results.append(np.mean(np.abs(_sorted_projections(a, dirs) - _sorted_projections(b, dirs))))
    return float(np.mean(results))


def descriptors(images: np.ndarray, seed: int) -> list[np.ndarray]:
    """Normalised descriptors of one image set, one array per pyramid level.

    ``images``: uint8 (N, H, W, 3) with H == W >= 16.
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != images.shape[2] or images.shape[1] < MIN_RESOLUTION:
        raise ValueError(f"expected square (N, H, W, 3) images of at least {MIN_RESOLUTION} px, got {images.shape}")
    rng = np.random.default_rng(seed)
    nchw = images.transpose(0, 3, 1, 2)
    pyramid = laplacian_pyramid(nchw, len(levels(images.shape[1])))
    return [_finalize(_descriptors(level, rng)) for level in pyramid]


def swd(a: np.ndarray, b: np.ndarray, seed: int = 0) -> tuple[dict[int, float], float]:
    """SWD x1e3 between image sets ``a`` and ``b`` (same shape, uint8 NHWC).

    Returns ({level resolution: distance}, average over levels) -- ProGAN's
    ``SWDx1e3_<res>`` and ``SWDx1e3_avg``. The random patches and directions
    come from ``seed``, so a call is deterministic. ``swd_to(Reference(a, seed), b)``
    gives the same, measuring many sets against one ``a``.
    """
    if a.shape != b.shape:
        raise ValueError(f"SWD needs sets of equal shape, got {a.shape} and {b.shape}")
    rng = np.random.default_rng([seed, 2])
    per_level = {res: 1e3 * _sliced_wasserstein(x, y, rng)
                 for res, x, y in zip(levels(b.shape[1]), descriptors(a, seed), descriptors(b, seed + 1))}
    return per_level, float(np.mean(list(per_level.values())))


class Reference:
    """One image set's side of ``swd(a, b, seed)``, for measuring many sets against it: its
    descriptors projected on every direction ``swd`` draws and sorted, once. Sorting is most of
    SWD's time, so each later set costs half of a whole ``swd``, with the same value to the bit.
    Holds levels x DIR_REPEATS x DIRS_PER_REPEAT x (N x NHOODS_PER_IMAGE) float32: 200 MB for 256
    images at 64 px."""

    def __init__(self, images: np.ndarray, seed: int = 0):
        self.shape, self.seed = np.shape(images), seed
        rng = np.random.default_rng([seed, 2])
        self.projections = []   # per level: [(directions, sorted projections)] per repeat
        for desc in descriptors(images, seed):
            repeats = [_directions(desc.shape[1], rng) for _ in range(DIR_REPEATS)]
            self.projections.append([(dirs, _sorted_projections(desc, dirs)) for dirs in repeats])


def swd_to(reference: Reference, b: np.ndarray) -> tuple[dict[int, float], float]:
    """``swd(a, b, seed)`` against ``reference = Reference(a, seed)``; ``b`` must have ``a``'s shape."""
    if np.shape(b) != reference.shape:
        raise ValueError(f"SWD needs sets of equal shape, got {reference.shape} and {np.shape(b)}")
    per_level = {}
    for res, desc, repeats in zip(levels(b.shape[1]), descriptors(b, reference.seed + 1), reference.projections):
        per_level[res] = 1e3 * float(np.mean([np.mean(np.abs(ref - _sorted_projections(desc, dirs)))
                                              for dirs, ref in repeats]))
    return per_level, float(np.mean(list(per_level.values())))
