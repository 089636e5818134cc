"""What the finest SWD level (the 64 px band) sees: the paintings' grain, and a generator's EMA.

1. Grain: colour-field paintings rendered at 256 px and reduced to 64 px (as ``prepare`` does),
   with their fine grain scaled by 0, 0.5, 1 and 2, each set scored against another set rendered
   with the grain as it is. The x1 row is the floor; the others show how much of a generator's
   distance missing or excess grain can explain.
2. ``--model models/64`` (a trained 64 px rung's directory, from ``dvc repro``): its EMA generator,
   its raw weights, and the EMA with the top rung's layers (block and toRGB, or toRGB alone) taken
   from the raw weights, each evaluated like the evaluate stage (1000 samples against
   data/prepared/64.npy): modes, unclassified share, k-NN precision and recall, SWD at 64 px, KID.

    python benchmarks/swd_fine_level.py [--n 256] [--model models/64]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.images.resize import square  # noqa: E402
from pipeline.metrics import swd  # noqa: E402
from pipeline.synthetic import COLOURFIELD  # noqa: E402


RENDER = 256   # scrape's synthetic size in params.yaml: prepare reduces from it


def paintings(n: int, seed: int, grain: float, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        mode = int(rng.integers(len(COLOURFIELD.modes)))
        image = COLOURFIELD.render(mode, RENDER, np.random.default_rng(rng.integers(1 << 62)), grain=grain)
        out.append(square(Image.fromarray(image), size))   # prepare's crop and resize
    return np.stack(out)


def band(images: np.ndarray) -> float:
    """RMS of the finest Laplacian level, as SWD's pyramid builds it (0-255 units)."""
    finest = swd.laplacian_pyramid(images.transpose(0, 3, 1, 2).astype(np.float32), 2)[0]
    return float(np.sqrt(np.mean(finest ** 2)))


def row(name: str, images: np.ndarray, reference: np.ndarray, reference_band: float) -> str:
    levels, _ = swd.swd(images, reference, seed=123)
    return (f"{name:>16} " + "  ".join(f"{levels[r]:6.1f}" for r in sorted(levels, reverse=True))
            + f"  {band(images) / reference_band:5.2f}")


def enlarged(images: np.ndarray, mode: str) -> np.ndarray:
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    x = F.interpolate(x, scale_factor=2, mode=mode, **({} if mode == "nearest" else {"align_corners": False}))
    return x.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def grain_rows(n: int) -> None:
    reference = paintings(n, 1, 1.0)
    reference_band = band(reference)
    print(f"{'paintings':>16} {'SWD x1e3 at 64, 32, 16 px':>22}   band")
    for grain in (1.0, 0.0, 0.5, 2.0):
        print(row(f"grain x{grain}", paintings(n, 2, grain), reference, reference_band))
    small = paintings(n, 2, 1.0, size=32)
    for mode in ("nearest", "bilinear", "bicubic"):
        print(row(f"32 px, {mode}", enlarged(small, mode), reference, reference_band))


def model_rows(model_dir: Path) -> None:
    from pipeline import params as P
    from pipeline.evaluate import DATA, train_labels
    from pipeline.gan import checkpoint as ckpt
    from pipeline.gan.sampling import generate, latents
    from pipeline.metrics.report import measure
    from pipeline.metrics.settings import Settings
    from pipeline.neardup.rule import Rule

    params = P.load()
    cfg = Settings.from_params(P.section(params, "evaluate"))
    rule = Rule.from_params(P.section(params, "dedup"))
    state = ckpt.load(model_dir / "state.pt")
    top = str(state["config"]["resolution"])
    train = np.load(DATA / f"{top}.npy")
    labels, family, _ = train_labels(DATA / f"{top}.csv", len(train))
    ema, raw = state["g_ema"], state["G"]
    rung = (f"blocks.{top}.", f"to_rgb.{top}.")
    variants = {"EMA": ema, "raw": raw,
                "EMA, top rung raw": {k: raw[k] if k.startswith(rung) else v for k, v in ema.items()},
                "EMA, top toRGB raw": {k: raw[k] if k.startswith(rung[1]) else v for k, v in ema.items()}}
    level = f"level_{top}"
    train_band = band(train)
    print(f"{'weights':>20} {'modes':>5} {'uncl':>5} {'prec':>5} {'recall':>6} {'SWD 64':>7} {'floor':>5} {'KID':>5} "
          f"{'band':>5}")
    for name, weights in variants.items():
        G = ckpt.build_generator(state["config"])
        G.load_state_dict(weights)
        with torch.no_grad():
            samples = generate(G.eval(), latents(cfg.n_samples, G.z_dim, cfg.seed))
        m = measure(samples, train, labels, rule, cfg, classify=family and family.classify,
                    n_modes=len(family.modes) if family else 0).metrics
        print(f"{name:>20} {m['modes']['covered'] or '-':>5} {m['modes']['unclassified_share'] or 0:5.2f} "
              f"{m['prdc']['precision']:5.2f} {m['prdc']['recall']:6.3f} {m['swd'][level]:7.1f} "
              f"{m['swd']['real_' + level]:5.1f} {m['kid']['samples']:5.2f} {band(samples) / train_band:5.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=256, help="paintings per set in the grain rows")
    ap.add_argument("--model", type=Path, help="a trained rung's model directory (models/64)")
    args = ap.parse_args()
    grain_rows(args.n)
    if args.model:
        model_rows(args.model)


if __name__ == "__main__":
    main()
