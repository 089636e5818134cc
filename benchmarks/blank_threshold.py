"""Where should ``dedup.blank`` sit? The colour spread of blank canvases against real content.

Blank: uniform canvases in 12 colours, saved as JPEG at quality 50-95 and with sensor
noise (sigma 2-4), at 128-1024 px. Content: every synthetic painting of both families
(2 x 240), scikit-image's colour photographs in 96 px tiles, and the whole photographs.
Prints the largest spread of a blank canvas and the smallest of real content.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.images.screen import colour_spread  # noqa: E402
from pipeline.metrics import knownbad  # noqa: E402


def blanks(rng: np.random.Generator):
    for colour in rng.integers(0, 256, (12, 3)):
        for side in (128, 1024):
            base = np.broadcast_to(colour.astype(np.float64), (side, side, 3))
            for sigma in (0, 2, 4):
                noisy = np.clip(np.rint(base + rng.normal(0, sigma, base.shape)), 0, 255).astype(np.uint8)
                for quality in (50, 75, 95):
                    buf = io.BytesIO()
                    Image.fromarray(noisy).save(buf, "JPEG", quality=quality)
                    yield Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def main() -> None:
    rng = np.random.default_rng(0)
    blank = [colour_spread(im) for im in blanks(rng)]
    print(f"blank canvases: {len(blank)}, spread max {max(blank):.2f}, median {np.median(blank):.2f}")
    for fam in ("colourfield", "blocks"):
        s = [colour_spread(Image.fromarray(x)) for x in knownbad.synthetic_set(240, 128, family=fam)]
        print(f"synthetic {fam}: {len(s)}, spread min {min(s):.2f}, 1st percentile {np.percentile(s, 1):.2f}")
    tiles = [colour_spread(Image.fromarray(x)) for x in knownbad.photo_tiles(size=96, tile=96, per_photo=200)]
    print(f"photograph tiles: {len(tiles)}, spread min {min(tiles):.2f}, 1st percentile {np.percentile(tiles, 1):.2f}")
    import skimage.data
    whole = [colour_spread(Image.fromarray(getattr(skimage.data, n)()[..., :3])) for n in knownbad.PHOTOS]
    print(f"whole photographs: {len(whole)}, spread min {min(whole):.2f}")


if __name__ == "__main__":
    main()
