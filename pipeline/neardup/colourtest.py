"""The colour test of near-duplicate detection: how far apart two colour thumbnails are, over crop boxes.

No image files here: uint8 thumbnails in, distances out. A thumbnail set is
(VIEWS, THUMB_SIDE, THUMB_SIDE, 3): the whole image and its border-trimmed core.

The distance is the RMS difference of ``compared`` vectors: COMPARE_SIDE px
thumbnails, deviations from the mean colour at unit spread, with the log mean
colour appended as a brightness and a chroma. Two gates make it infinite: the
mean colours cannot be one artwork's under a brightness/contrast edit
(``colour_agrees``), or textured deviations do not correlate (``layout_agrees``).
Where two images' whole thumbnails differ, one may be a crop of
the other (or a copy cut to remove a rotation's corners): ``crop_distance``
finds the crop box of either image that best matches the other, in two steps:

- ``aligned_boxes`` (coarse): each axis on its own, matching 1-D colour profiles
  (the thumbnail's mean over the other axis) over every box on an ALIGN_STEP
  grid. Separable, so a wide crop range stays cheap: O(boxes per axis) instead of
  the O(boxes per axis ** 2) of a 2-D grid. The former 2-D grid (0.04 step, up
  to 0.12 of an axis) put 61 % of the tuning part's crop copies within the
  threshold, this search 87 %.
- ``refined_distances`` (fine): around the aligned box, each end of each axis
  moved by REFINE_STEPS, y then x, keeping what lowers the full 2-D distance.
"""
from __future__ import annotations

import numpy as np

THUMB_SIDE = 32        # stored colour thumbnails, THUMB_SIDE x THUMB_SIDE RGB
COMPARE_SIDE = 16      # (divides THUMB_SIDE) thumbnails are compared at this size, after cropping
VIEWS = 2              # thumbnails per image: whole and border-trimmed core
VECTOR = COMPARE_SIDE * COMPARE_SIDE * 3 + 4   # length of a compared thumbnail: pixels, brightness, chroma

# The compared form: the pixels' deviations from the mean colour, scaled to unit
# spread (floor 32 levels, so flat images do not amplify noise, nor a channel that
# a brightness edit clips at 255: at floor 16, 4 of 20 such copies of saturated
# near-monochrome canvases fell out, tuning part), then the log mean colour as a
# brightness (the mean of the three logs) and a chroma (each log less that mean),
# weighted. The spread must not include the mean colour: on a saturated
# near-monochrome canvas the channels differ by ~100 levels and would scale its
# faint layout to nothing (two such canvases of one hue in other layouts were
# 0.08 apart). The mean colour counts apart because a copy changes it by 10 % at
# most: a 10 % brightness edit adds ~0.004 to a distance near 0.05, the same hue
# at half the brightness ~0.15. A higher chroma weight (12) kept the same closest
# different artworks on the tuning part and lost 3 % of its combined copies.
SPREAD_FLOOR = 32.0
BRIGHTNESS_WEIGHT = 10.4   # of the mean log colour: a 10 % brightness edit moves it by 0.095
CHROMA_WEIGHT = 6.0        # of each channel's log colour less that mean: a brightness edit leaves it
ALIGN_STEP = 0.02      # coarse search: box ends on this grid (share of a side)
PROFILE_FLOOR = 4.0    # spread floor of a 1-D profile (averaging leaves less spread)
REFINE_STEPS = (0.01, 0.005)   # fine search: box ends moved by these, in turn
# Refine only boxes whose aligned distance is below this (on the tuning part, true
# copies reach at most ~2x the threshold before refining).
REFINE_GATE = 0.3
CHUNK = 4096           # pairs per vectorised batch (bounds memory)


def normalise(v: np.ndarray) -> np.ndarray:
    """Remove global brightness/contrast (one offset and gain for all channels) along the last axis."""
    v = v - v.mean(axis=-1, keepdims=True)
    return v / np.maximum(v.std(axis=-1, keepdims=True), SPREAD_FLOOR)


def compared(v: np.ndarray) -> np.ndarray:
    """Compared form of thumbnails flattened along the last axis ((side, side, 3) order): VECTOR long."""
    px = v.reshape(*v.shape[:-1], -1, 3).astype(np.float32)
    mean = px.mean(axis=-2, keepdims=True)
    dev = px - mean
    dev = dev / np.maximum(dev.std(axis=(-2, -1), keepdims=True), SPREAD_FLOOR)
    log = np.log(mean + 16.0)[..., 0, :]                                    # (..., 3)
    brightness = log.mean(axis=-1, keepdims=True)
    return np.concatenate([dev.reshape(*v.shape[:-1], -1), BRIGHTNESS_WEIGHT * brightness,
                           CHROMA_WEIGHT * (log - brightness)], axis=-1)


def rms(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RMS difference along the last axis."""
    return np.sqrt(np.maximum(((x - y) ** 2).mean(-1), 0))


# The mean-colour gate. A copy changes an artwork's mean colour m the way a
# brightness or contrast edit does: its grey level L = mean(m) by +-10 %, its
# chroma c = m - L (the hue direction and saturation) by a factor near 1, never
# its hue. Two palettes of one layout are apart in one of the two even when
# the RMS distance, where the four colour terms are diluted among the pixels,
# is not (a (47, 232, 74) and a (54, 170, 90) green canvas of one layout: 0.105).
GREY_GATE = 0.15           # |log((L' + 16) / (L + 16))|: a 10 % brightness edit is 0.095
CHROMA_GATE = 0.25         # |c' - c| <= CHROMA_GATE * max(|c|, |c'|) + CHROMA_SLACK levels
CHROMA_SLACK = 8.0


def _mean_colour(v: np.ndarray) -> np.ndarray:
    """(..., 3) linear mean colour of compared vectors (from their brightness and chroma terms)."""
    brightness = v[..., -4:-3] / BRIGHTNESS_WEIGHT
    return np.exp(brightness + v[..., -3:] / CHROMA_WEIGHT) - 16.0


def colour_agrees(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether compared vectors' mean colours could be one artwork's (the mean-colour gate), broadcast."""
    mx, my = _mean_colour(x), _mean_colour(y)
    lx, ly = mx.mean(-1), my.mean(-1)
    grey = np.abs(np.log((ly + 16.0) / (lx + 16.0))) <= GREY_GATE
    cx, cy = mx - lx[..., None], my - ly[..., None]
    reach = CHROMA_GATE * np.maximum(np.linalg.norm(cx, axis=-1), np.linalg.norm(cy, axis=-1)) + CHROMA_SLACK
    return grey & (np.linalg.norm(cx - cy, axis=-1) <= reach)


# The layout gate. The RMS distance compares deviations scaled to unit spread
# with a floor (SPREAD_FLOOR), so on a faintly textured image (a micrograph, a
# canvas with a faint wash) two other layouts are at most spread / floor apart:
# two adjacent tiles of one grey micrograph, spread 2.2 levels, were 0.104
# apart with uncorrelated deviations. Where both thumbnails have at least
# TEXTURE levels of spread, their deviations must correlate (a copy's do:
# tuning parts, no copy lost at 0.7).
LAYOUT_GATE = 0.7
TEXTURE = 1.5


def layout_agrees(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Whether compared vectors' pixel deviations correlate (the layout gate; untextured ones always do)."""
    n = COMPARE_SIDE * COMPARE_SIDE * 3
    px, py = x[..., :n], y[..., :n]
    sx, sy = np.sqrt((px ** 2).mean(-1)), np.sqrt((py ** 2).mean(-1))      # spread / max(spread, floor)
    corr = (px * py).mean(-1) / np.maximum(sx * sy, 1e-12)
    textured = (sx * SPREAD_FLOOR >= TEXTURE) & (sy * SPREAD_FLOOR >= TEXTURE)
    return ~textured | (corr >= LAYOUT_GATE)


def distance(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """RMS difference of compared vectors along the last axis; inf where a gate (colour, layout) fails."""
    return np.where(colour_agrees(x, y) & layout_agrees(x, y), rms(x, y), np.inf)


def _block_means(thumb: np.ndarray, side: int) -> np.ndarray:
    """(n, VIEWS, side * side * 3) float32 block means of (n, VIEWS, THUMB_SIDE, THUMB_SIDE, 3) uint8.

    Summed from strided slices in uint16 (``side`` divides THUMB_SIDE): numpy's mean
    over non-adjacent axes is several times slower on the 100k benchmark.
    """
    f = THUMB_SIDE // side
    t = thumb.astype(np.uint16)
    rows = sum(t[:, :, k::f] for k in range(f))
    blocks = sum(rows[:, :, :, k::f] for k in range(f)).astype(np.float32) / (f * f)
    return blocks.reshape(len(thumb), VIEWS, -1)


def whole_vectors(thumb: np.ndarray) -> np.ndarray:
    """(n, VIEWS, VECTOR) compared whole thumbnails of (n, VIEWS, THUMB_SIDE, THUMB_SIDE, 3) uint8."""
    return compared(_block_means(thumb, COMPARE_SIDE))


def resample_matrices(boxes: np.ndarray) -> np.ndarray:
    """(boxes, COMPARE_SIDE, THUMB_SIDE): area-average the box of a thumbnail axis to COMPARE_SIDE px.

    ``boxes`` is (B, 2): (cut at start, cut at end) as shares of the side.
    """
    box = np.asarray(boxes, np.float64).reshape(-1, 2)
    lo, hi = box[:, :1] * THUMB_SIDE, (1 - box[:, 1:]) * THUMB_SIDE
    step = (hi - lo) / COMPARE_SIDE                                   # (B, 1)
    x0 = (lo + np.arange(COMPARE_SIDE) * step)[..., None]             # (B, C, 1)
    pix = np.arange(THUMB_SIDE)
    overlap = np.minimum(pix + 1, x0 + step[..., None]) - np.maximum(pix, x0)
    return (np.maximum(overlap, 0) / step[..., None]).astype(np.float32)


def _rows_cut(thumb: np.ndarray, ybox: np.ndarray) -> np.ndarray:
    """(P, S, C * 3): each thumbnail (P, S, S, 3) cut to its y box, columns first."""
    p, s = len(thumb), THUMB_SIDE
    r = resample_matrices(ybox) @ thumb.reshape(p, s, s * 3).astype(np.float32)         # (P, C, S * 3)
    return r.reshape(p, COMPARE_SIDE, s, 3).transpose(0, 2, 1, 3).reshape(p, s, -1)


def _box_pixels(rows_cut: np.ndarray, xbox: np.ndarray) -> np.ndarray:
    """(P, C, C, 3) pixels, rows first, of ``_rows_cut`` output cut to its x box."""
    p = len(rows_cut)
    both = resample_matrices(xbox) @ rows_cut                                           # (P, C_x, C_y * 3)
    return both.reshape(p, COMPARE_SIDE, COMPARE_SIDE, 3).transpose(0, 2, 1, 3)


def _cols_cut(rows_cut: np.ndarray, xbox: np.ndarray) -> np.ndarray:
    """(P, VECTOR) compared vectors of ``_rows_cut`` output cut to its x box."""
    return compared(_box_pixels(rows_cut, xbox).reshape(len(rows_cut), -1))


def box_vectors(thumb: np.ndarray, ybox: np.ndarray, xbox: np.ndarray) -> np.ndarray:
    """(P, VECTOR) compared thumbnails of one crop box each: thumb (P, S, S, 3), ybox / xbox (P, 2)."""
    return _cols_cut(_rows_cut(thumb, ybox), xbox)


def axis_boxes(crop: float, step: float = ALIGN_STEP) -> np.ndarray:
    """(B, 2) every (cut at start, cut at end) on a ``step`` grid with total <= crop; (0, 0) first."""
    cuts = np.arange(0, crop + 1e-9, step)
    return np.array([(a, b) for a in cuts for b in cuts if a + b <= crop + 1e-9]).reshape(-1, 2)


def _best_box(src: np.ndarray, dst: np.ndarray, boxes: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """(P, 2): the box of each ``src`` profile (P, S, 3) whose resampling best matches ``dst`` (P, S, 3) whole.

    Profiles are compared without their mean colour, at unit spread (floor
    PROFILE_FLOOR). The squared distance is expanded (|x|^2 / s^2 + |t|^2 - 2 x.t / s)
    so the (boxes, C, P, 3) resampled profiles are passed over twice, not ten times.
    """
    b, c, s = matrices.shape
    p = len(src)
    t = np.einsum("cs,psk->cpk", matrices[0], dst)                          # box (0, 0): the whole
    t -= t.mean(axis=0)
    t /= np.maximum(np.sqrt((t ** 2).mean(axis=(0, 2))), PROFILE_FLOOR)[:, None]
    cut = (matrices.reshape(b * c, s) @ src.transpose(1, 0, 2).reshape(s, p * 3)).reshape(b, c, p, 3)
    mean = cut.mean(axis=1)                                                 # (B, P, 3)
    spread = np.einsum("bcpk,bcpk->bp", cut, cut) - c * np.einsum("bpk,bpk->bp", mean, mean)
    scale = np.maximum(np.sqrt(np.maximum(spread, 0) / (c * 3)), PROFILE_FLOOR)
    dot = np.einsum("bcpk,cpk->bp", cut, t)        # t has no mean colour, so the cut's mean drops out
    ssd = spread / scale ** 2 - 2 * dot / scale
    return boxes[np.argmin(ssd, axis=0)]


def aligned_boxes(src: np.ndarray, dst: np.ndarray, crop: float) -> tuple[np.ndarray, np.ndarray]:
    """Coarse search: (ybox, xbox), each (P, 2), the crop of ``src`` (P, S, S, 3) that best matches ``dst``.

    Rows first (profiles are means over the whole width), then columns over the
    rows inside the chosen y box, then rows again over the chosen x box.
    """
    boxes = axis_boxes(crop)
    m = resample_matrices(boxes)
    s, d = src.astype(np.float32), dst.astype(np.float32)
    d_rows, d_cols = d.mean(axis=2), d.mean(axis=1)
    ybox = _best_box(s.mean(axis=2), d_rows, boxes, m)
    weights = lambda box: resample_matrices(box).sum(axis=1) / COMPARE_SIDE   # (P, S) share of each line in a box
    xbox = _best_box(np.einsum("py,pyxk->pxk", weights(ybox), s), d_cols, boxes, m)
    ybox = _best_box(np.einsum("px,pyxk->pyk", weights(xbox), s), d_rows, boxes, m)
    return ybox, xbox


def refined_distances(src: np.ndarray, target: np.ndarray, ybox: np.ndarray, xbox: np.ndarray,
                      crop: float) -> np.ndarray:
    """Fine search: (P,) best distance near each box, each end of y then x moved by REFINE_STEPS in turn.

    ``src`` (P, S, S, 3) thumbnails are cut; ``target`` (P, VECTOR) compared vectors.
    """
    ybox, xbox = ybox.copy(), xbox.copy()
    best = distance(box_vectors(src, ybox, xbox), target)
    # moving y: cut x first (on the transposed thumbnail, against the transposed target), so the
    # fixed cut is made once per step; moving x: cut y first
    searches = ((ybox, xbox, src.transpose(0, 2, 1, 3), _transposed(target)), (xbox, ybox, src, target))
    for step in REFINE_STEPS:
        moves = np.array([(da, db) for da in (-step, 0, step) for db in (-step, 0, step) if da or db])
        for moving, fixed, image, goal in searches:
            cut = _rows_cut(image, fixed)
            for move in moves:
                tried = np.clip(moving + move, 0, None)
                too_wide = tried.sum(1) > crop + 1e-9
                tried[too_wide] = moving[too_wide]
                d = distance(_cols_cut(cut, tried), goal)
                better = d < best
                best[better] = d[better]
                moving[better] = tried[better]
    return best


def _transposed(v: np.ndarray) -> np.ndarray:
    """Compared vectors (P, VECTOR) with the pixels' x and y swapped (the colour terms stay)."""
    c = COMPARE_SIDE
    pixels = v[:, :c * c * 3].reshape(-1, c, c, 3).transpose(0, 2, 1, 3).reshape(len(v), -1)
    return np.concatenate([pixels, v[:, c * c * 3:]], axis=1)


def framed(thumb: np.ndarray) -> np.ndarray:
    """(P,) whether a border was trimmed: the core view differs from the whole of (P, VIEWS, S, S, 3) thumbnails."""
    return (thumb[:, 0] != thumb[:, 1]).any(axis=(1, 2, 3))


def frames_only(a: np.ndarray, b: np.ndarray, wa: np.ndarray, wb: np.ndarray) -> np.ndarray:
    """(P,) pairs whose whole views may agree only by their frames: both ``framed``, cores not in agreement."""
    return framed(a) & framed(b) & ~np.isfinite(distance(wa[:, 1], wb[:, 1]))


def crop_distance(a: np.ndarray, b: np.ndarray, crop: float) -> np.ndarray:
    """(P,) smallest distance of a crop box (up to ``crop`` of each axis) of one thumbnail set to the other's.

    ``a``, ``b`` are aligned (P, VIEWS, S, S, 3) thumbnail sets. Views are paired
    like with like (whole with whole, core with core; not whole with whole
    where both are ``framed``); both directions are tried.
    """
    best = np.full(len(a), np.inf, np.float32)
    for lo in range(0, len(a), CHUNK):
        sa, sb = a[lo:lo + CHUNK], b[lo:lo + CHUNK]
        targets = (whole_vectors(sb), whole_vectors(sa))
        both_framed = frames_only(sa, sb, targets[1], targets[0])
        for side, (src, tv) in enumerate(((sa, targets[0]), (sb, targets[1]))):
            for view in range(VIEWS):
                ybox, xbox = aligned_boxes(src[:, view], (sb, sa)[side][:, view], crop)
                d = distance(box_vectors(src[:, view], ybox, xbox), tv[:, view])
                if view == 0:
                    d[both_framed] = np.inf
                near = np.flatnonzero(d <= REFINE_GATE)
                if len(near):
                    d[near] = refined_distances(src[near, view], tv[near, view], ybox[near], xbox[near], crop)
                best[lo:lo + CHUNK] = np.minimum(best[lo:lo + CHUNK], d)
    return best


def distances(a: np.ndarray, b: np.ndarray, crop: float, enough: float) -> np.ndarray:
    """(P,) colour distance of aligned thumbnail sets ``a``, ``b`` (P, VIEWS, S, S, 3).

    The closest pair of whole views (any view with any, but not whole with whole
    where both are ``framed``: two mats alike outweigh faint content inside
    them); where that is above ``enough``, the best crop box too (``crop_distance``).
    """
    if len(a) == 0:
        return np.zeros(0, np.float32)
    wa, wb = whole_vectors(a), whole_vectors(b)
    d = distance(wa[:, :, None], wb[:, None])
    d[frames_only(a, b, wa, wb), 0, 0] = np.inf
    best = d.min(axis=(1, 2))
    todo = np.flatnonzero(best > enough)
    if len(todo) and crop > 0:
        best[todo] = np.minimum(best[todo], crop_distance(a[todo], b[todo], crop))
    return best


# Colour code: 64 random hyperplanes through the normalised CODE_SIDE px colour
# thumbnail (SimHash), so the Hamming distance of two codes follows the angle
# between the thumbnails. It finds the copies pHash misses on flat and
# near-monochrome images, whose pHash DCT coefficients sit near their median and
# flip under re-encoding (tuning part: JPEG, WEBP and +-10 % brightness copies of
# near-monochrome canvases move pHash a median 9-12 bits, the code a median 0, p90 1).
CODE_SIDE = 8
_PLANES = np.random.default_rng(20261127).standard_normal((CODE_SIDE * CODE_SIDE * 3, 64)).astype(np.float32)


# A crop of 2-10 % per side moves the whole view's code; the core cut by CODE_CUT
# per side (the middle of that range) is coded too, and a crop copy's whole view
# finds it (tuning parts: crop copies found 0.878 -> 0.915 and 0.927 -> 0.939;
# 0.04 found fewer, 0.08 as many).
CODE_CUT = 0.06


def _cut_blocks(thumb: np.ndarray, cut: float) -> np.ndarray:
    """(N, CODE_SIDE ** 2 * 3) block means of (N, S, S, 3) thumbnails with ``cut`` of each side cut off."""
    box = np.array([(cut, cut)])            # one box for all: its resampling matrix broadcasts
    pixels = _box_pixels(_rows_cut(thumb, box), box)                                     # (N, C, C, 3)
    f = COMPARE_SIDE // CODE_SIDE
    return pixels.reshape(len(thumb), CODE_SIDE, f, CODE_SIDE, f, 3).mean(axis=(2, 4)).reshape(len(thumb), -1)


def codes(thumb: np.ndarray) -> np.ndarray:
    """(N, VIEWS + 1) uint64 colour codes of (N, VIEWS, THUMB_SIDE, THUMB_SIDE, 3) thumbnails.

    One per view, then one of the core cut by CODE_CUT per side (a crop copy's whole view finds it).
    """
    blocks = np.concatenate([_block_means(thumb, CODE_SIDE), _cut_blocks(thumb[:, 1], CODE_CUT)[:, None]], axis=1)
    bits = normalise(blocks) @ _PLANES > 0
    return np.packbits(bits, axis=-1).view(">u8")[..., 0].astype(np.uint64)

