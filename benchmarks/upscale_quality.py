"""Does the learned x4 restore full-size images better than Lanczos and bicubic, on images it never saw?

Each image is reduced 4x as prepare reduces (Pillow's antialiased Lanczos), restored 4x,
and compared with the original: PSNR (dB), SSIM, and texture (gradient energy over the
original's; interpolation stays below 1).

A. The default collection: the upscaler at the default params (`upscale` in params.yaml)
   trained on 1080 colour-field paintings at 256 px, as `dvc repro` trains it, once per
   seed. Measured on three families it never trained on:
   - colourfield: 48 new paintings of the training family (the family the defaults were
     chosen on: its rows are the tuning figures);
   - blocks: 48 paintings of the held-out family (other layouts and palettes);
   - photos: scikit-image's colour photographs (a net trained on paintings, out of its domain).
B. A photo collection: the same params trained on half of the photographs (256 px tiles of
   their full-size images), measured on the other half; both halves in turn.
C. The print: one 3600x4500 px print (12x15 in at 300 dpi) from a 64 px image, learned
   passes then Lanczos, against Lanczos alone; and the tiled print against an untiled one.

    python benchmarks/upscale_quality.py                 # about 20 minutes on 2 CPU cores
    python benchmarks/upscale_quality.py --parts A --set lr=0.002 --set blur=0.6   # other params, part A only
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import params as P  # noqa: E402
from pipeline.sr.config import UpscaleConfig  # noqa: E402
from pipeline.sr.quality import CLASSIC, compare, reduce  # noqa: E402
from pipeline.sr.tiles import enlarge  # noqa: E402
from pipeline.sr.train import load_upscaler, train  # noqa: E402
from pipeline.sr.tiles import upscale  # noqa: E402
from pipeline.synthetic import BLOCKS, COLOURFIELD  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# scikit-image's colour photographs (pipeline.metrics.knownbad.PHOTOS), in two halves of unlike content
PHOTO_HALVES = (("astronaut", "coffee", "immunohistochemistry", "retina"), ("chelsea", "rocket", "hubble_deep_field"))


def paintings(family, n: int, seed: int, size: int = 256) -> list[np.ndarray]:
    return [family.render(i % len(family.modes), size, np.random.default_rng([seed, i])) for i in range(n)]


def photos(names) -> list[np.ndarray]:
    from skimage import data
    return [np.ascontiguousarray(getattr(data, n)()[..., :3]) for n in names]


def tiles(images: list[np.ndarray], side: int = 256) -> list[np.ndarray]:
    """Every whole ``side`` px tile of each image: a collection of full-size pieces to train on."""
    return [im[t:t + side, l:l + side] for im in images
            for t in range(0, im.shape[0] - side + 1, side) for l in range(0, im.shape[1] - side + 1, side)]


def trained(cfg: UpscaleConfig, images: list[np.ndarray]):
    with tempfile.TemporaryDirectory() as tmp:
        start = time.time()
        train(cfg, [torch.from_numpy(im).permute(2, 0, 1).contiguous() for im in images], [],
              Path(tmp) / "net.pt", Path(tmp))
        seconds = time.time() - start
        return load_upscaler(Path(tmp) / "net.pt"), seconds


def restorers(net) -> dict:
    return {"learned": lambda small, scale: upscale(net, small), **CLASSIC}


def table(title: str, rows: dict[str, list[dict]]) -> None:
    """Mean +- sd over runs of each family's figures."""
    print(f"\n{title}")
    print(f"{'family':<13}{'images':>7}  {'method':<9}{'PSNR dB':>16}{'gain dB':>16}{'SSIM':>18}{'texture':>16}")
    for family, runs in rows.items():
        for method in ("learned", "lanczos", "bicubic"):
            def f(key, digits=2):
                v = np.array([r[method][key] for r in runs])
                return f"{v.mean():.{digits}f}" + (f" +- {v.std(ddof=1):.{digits}f}" if len(v) > 1 else "")
            print(f"{family:<13}{runs[0][method]['images']:>7}  {method:<9}{f('psnr'):>16}{f('gain_db'):>16}"
                  f"{f('ssim', 3):>18}{f('texture'):>16}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=3, help="training seeds for part A")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="an `upscale` key other than params.yaml's, e.g. --set steps=500 (repeatable)")
    ap.add_argument("--parts", default="ABC", help="which parts to run, e.g. A or BC")
    args = ap.parse_args()
    section = dict(P.section(P.load(REPO / "params.yaml"), "upscale"))
    for item in args.set:
        key, _, value = item.partition("=")
        section[key] = yaml.safe_load(value)
    cfg = UpscaleConfig.from_params(section)
    print(f"upscaler: {', '.join(f'{k} {v}' for k, v in sorted(section.items()))}; "
          f"{torch.get_num_threads()} threads")

    collection = paintings(COLOURFIELD, 1080, 0)
    families = {"colourfield": paintings(COLOURFIELD, 48, 7), "blocks": paintings(BLOCKS, 48, 9),
                "photos": photos(PHOTO_HALVES[0] + PHOTO_HALVES[1])}
    rows_a: dict[str, list] = {f: [] for f in families}
    seconds, first = [], None
    for seed in range(args.seeds if "A" in args.parts or "C" in args.parts else 0):
        if "A" not in args.parts and seed:
            break
        net, s = trained(replace(cfg, seed=seed), collection)
        seconds.append(s)
        first = first or net
        if "A" in args.parts:
            for family, images in families.items():
                rows_a[family].append(compare(images, restorers(net), cfg.scale))
            print(f"seed {seed}: " + ", ".join(f"{f} {rows[-1]['learned']['gain_db']:+.2f} dB"
                                               for f, rows in rows_a.items()), flush=True)
    if "A" in args.parts:
        print(f"\nA. trained on 1080 colour-field paintings, {args.seeds} seed(s): "
              f"{np.mean(seconds):.0f} s of training each")
        table("held-out x4 restores (mean +- sd over seeds)", rows_a)

    rows_b: dict[str, list] = {"photos": []}
    for train_half, test_half in (PHOTO_HALVES, PHOTO_HALVES[::-1]) if "B" in args.parts else ():
        net, s = trained(cfg, tiles(photos(train_half)))
        rows_b["photos"].append(compare(photos(test_half), restorers(net), cfg.scale))
        print(f"\nB. trained on {len(tiles(photos(train_half)))} tiles of {', '.join(train_half)} ({s:.0f} s); "
              f"measured on {', '.join(test_half)}")
        table("held-out x4 restores", {"photos": rows_b["photos"][-1:]})

    if "C" not in args.parts:
        return
    small = reduce(families["colourfield"][0], 4)       # a 64 px painting, as a generator draws one
    times = {}
    for name, net in (("learned", first), ("lanczos", None)):
        start = time.time()
        out, passes = enlarge(small, (3600, 4500), net)
        times[name] = (time.time() - start, passes, out)
    whole, _ = enlarge(small, (3600, 4500), first, tile=100000)
    seam = np.abs(np.asarray(whole).astype(int) - np.asarray(times["learned"][2]).astype(int))
    print(f"\nC. a 3600x4500 print from 64 px: learned {times['learned'][0]:.1f} s ({times['learned'][1]} x4 passes, "
          f"then Lanczos), Lanczos alone {times['lanczos'][0]:.1f} s; tiled against untiled: max difference "
          f"{seam.max()} levels, {100 * (seam > 0).mean():.4f} % of values differ")


if __name__ == "__main__":
    main()
