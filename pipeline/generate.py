"""Draw samples from a trained model, for looking at or for the wall.

    python -m pipeline.generate --n 16 --out out/ --seed 0    # the largest model: models/<train.size>
        [--model models/32]                 # another rung
        [--truncation 0.7]                  # nearer the mean latent: safer, less varied
        [--pick best|diverse --candidates 64]  # draw more, keep the top N
        [--print 12x15in --dpi 300 --format png|tiff]  # upscaled print files with the DPI recorded
        [--interpolate 12]                  # latent walk: walk.gif + walk_strip.png

Writes ``sample_0000.png`` ... at the model's resolution; ``--print`` adds
``print_0000.png`` (or ``.tif``) cropped to the print's aspect and upscaled with
Lanczos, and says -- on the console and in the file's metadata -- that it is
upscaled from the model's N px.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from pipeline import params as P
from pipeline.fsutil import atomic_path
from pipeline.gan.ladder import IDLE, Ladder
from pipeline.images.grid import image_grid

UNITS = {"in": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4}


def parse_print_size(text: str) -> tuple[float, float]:
    """'12x15in' / '30x40cm' / '300x400mm' -> (width, height) in inches."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*x\s*(\d+(?:\.\d+)?)\s*(in|cm|mm)\s*", text)
    if not m or float(m[1]) <= 0 or float(m[2]) <= 0:
        raise ValueError(f"print size {text!r}: expected WIDTHxHEIGHT with a unit, e.g. 12x15in or 30x40cm")
    return float(m[1]) * UNITS[m[3]], float(m[2]) * UNITS[m[3]]


def print_pixels(inches: tuple[float, float], dpi: int) -> tuple[int, int]:
    return round(inches[0] * dpi), round(inches[1] * dpi)


def to_print(sample: np.ndarray, size_px: tuple[int, int]) -> Image.Image:
    """Center-crop a sample to the print's aspect ratio, then upscale it to ``size_px`` with Lanczos."""
    im = Image.fromarray(sample)
    w, h = im.size
    target = size_px[0] / size_px[1]
    if w / h > target:                       # too wide: crop the sides
        cw, ch = round(h * target), h
    else:                                    # too tall: crop top and bottom
        cw, ch = w, round(w / target)
    left, top = (w - cw) / 2, (h - ch) / 2
    return im.resize(size_px, Image.LANCZOS, box=(left, top, left + cw, top + ch))


def save_print(im: Image.Image, path: Path, dpi: int, note: str) -> None:
    """PNG or TIFF (by suffix) with ``dpi`` recorded and ``note`` in the file's description."""
    with atomic_path(path) as tmp:
        if path.suffix.lower() in (".tif", ".tiff"):
            im.save(tmp, format="TIFF", dpi=(dpi, dpi), compression="tiff_lzw", tiffinfo={270: note})
        else:
            info = PngImagePlugin.PngInfo()
            info.add_text("Description", note)
            im.save(tmp, format="PNG", dpi=(dpi, dpi), pnginfo=info)


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation between latents (keeps them at a typical Gaussian norm)."""
    an, bn = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
    omega = torch.arccos((an * bn).sum(-1, keepdim=True).clamp(-1, 1))
    so = torch.sin(omega)
    lin = (1 - t) * a + t * b
    sph = (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / so.clamp(min=1e-8)
    return torch.where(so < 1e-6, lin, sph)


def walk(keys: torch.Tensor, steps: int) -> torch.Tensor:
    """A closed walk through ``keys`` with ``steps`` latents from each key to the next."""
    t = (torch.arange(steps, dtype=keys.dtype) / steps)[:, None]
    return torch.cat([slerp(keys[i], keys[(i + 1) % len(keys)], t) for i in range(len(keys))])


def pick(images: np.ndarray, n: int, how: str, D=None) -> np.ndarray:
    """Indices of the ``n`` images to keep: ``best`` by discriminator score, ``diverse`` by farthest-point selection."""
    if how == "best":
        from pipeline.gan.sampling import to_float
        with torch.no_grad():
            # scored in batches of 64: ProGAN's minibatch-stddev layer sees each batch as a whole
            scores = torch.cat([D(to_float(images[i:i + 64])) for i in range(0, len(images), 64)]).numpy()
        return np.argsort(-scores, kind="stable")[:n]
    from pipeline.metrics.prdc import features
    f = features(images)
    chosen = [0]
    dist = torch.cdist(f, f[:1]).squeeze(1)
    while len(chosen) < n:
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = torch.minimum(dist, torch.cdist(f, f[nxt:nxt + 1]).squeeze(1))
    return np.array(chosen)


def top_model(params_file: Path = P.PARAMS_FILE) -> Path:
    """``models/<train.size>``: the largest model of the run params.yaml describes."""
    try:
        return Path("models") / str(Ladder.of(P.load(params_file)).top)
    except P.ParamError as e:
        raise SystemExit(f"generate: {e}; or pass --model") from None


def _load(model: Path):
    from pipeline.gan.checkpoint import ModelDirError, load_generator
    if (model / IDLE).exists():
        raise SystemExit(f"generate: {model} was not trained: it is above train.size "
                         f"(raise it with `dvc exp run -S train.size={model.name}`)")
    try:
        G, info = load_generator(model)
    except ModelDirError as e:
        raise SystemExit(f"generate: {e}") from None
    if model.name.isdigit() and int(model.name) != int(info["resolution"]):
        raise SystemExit(f"generate: {model} holds a {info['resolution']} px generator, not {model.name} px "
                         "(the directory was copied or renamed; pass the directory the model was trained into)")
    return G, info


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline.generate", description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=None,
                    help="a trained model directory, e.g. models/64 (default: models/<train.size> of params.yaml)")
    ap.add_argument("--n", type=int, default=16, help="number of images to write")
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--truncation", type=float, default=None, metavar="PSI",
                    help="in (0, 1]: pull samples towards the mean (1 = none)")
    ap.add_argument("--pick", choices=["all", "best", "diverse"], default="all",
                    help="best: top --n of --candidates by discriminator score; diverse: most different ones")
    ap.add_argument("--candidates", type=int, default=None, help="candidates drawn for --pick (default 4 x --n)")
    ap.add_argument("--print", dest="print_size", default=None, metavar="WxHin",
                    help="also write print files of this size, e.g. 12x15in or 30x40cm")
    ap.add_argument("--dpi", type=int, default=300, help="print resolution (dots per inch)")
    ap.add_argument("--format", choices=["png", "tiff"], default="png", help="print file format")
    ap.add_argument("--interpolate", type=int, default=0, metavar="K",
                    help="also write a latent walk through the samples, K frames between each: walk.gif, walk_strip.png")
    args = ap.parse_args(argv)

    if args.n < 1:
        ap.error("--n must be at least 1")
    if args.truncation is not None and not 0 < args.truncation <= 1:
        ap.error("--truncation must be in (0, 1]")
    if args.dpi < 1:
        ap.error("--dpi must be positive")
    inches = None
    if args.print_size:
        try:
            inches = parse_print_size(args.print_size)
        except ValueError as e:
            ap.error(str(e))
    candidates = args.candidates or (4 * args.n if args.pick != "all" else args.n)
    if candidates < args.n:
        ap.error("--candidates must be at least --n")

    if args.model is None:
        args.model = top_model()
    from pipeline.gan.sampling import generate, latents
    G, info = _load(args.model)
    res = int(info["resolution"])
    z = latents(candidates, int(info["z_dim"]), args.seed)
    images = generate(G, z, truncation=args.truncation)
    if args.pick != "all":
        D = None
        if args.pick == "best":
            from pipeline.gan.checkpoint import ModelDirError, load_discriminator
            try:
                D = load_discriminator(args.model)
            except ModelDirError as e:
                raise SystemExit(f"generate: --pick best needs the discriminator: {e}") from None
        keep = pick(images, args.n, args.pick, D)
        images, z = images[keep], z[torch.as_tensor(keep)]

    args.out.mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(images):
        with atomic_path(args.out / f"sample_{i:04d}.png") as tmp:
            Image.fromarray(im).save(tmp, format="PNG")
    print(f"generate: {len(images)} samples of {res} px in {args.out}")

    if inches:
        size_px = print_pixels(inches, args.dpi)
        factor = max(size_px) / res
        suffix = ".tif" if args.format == "tiff" else ".png"
        note = (f"Upscaled {factor:.1f}x with Lanczos from a {res} px GAN sample ({args.model}, seed {args.seed}); "
                f"{size_px[0]}x{size_px[1]} px at {args.dpi} dpi = {inches[0]:.2f}x{inches[1]:.2f} in. "
                f"Detail finer than the {res} px original is interpolated, not generated.")
        for i, im in enumerate(images):
            save_print(to_print(im, size_px), args.out / f"print_{i:04d}{suffix}", args.dpi, note)
        print(f"generate: {len(images)} print files, {size_px[0]}x{size_px[1]} px at {args.dpi} dpi -- "
              f"UPSCALED {factor:.0f}x from {res} px samples, cropped to the print's aspect ratio")

    if args.interpolate:
        frames = generate(G, walk(z, args.interpolate), truncation=args.truncation)
        pil = [Image.fromarray(f) for f in frames]
        with atomic_path(args.out / "walk.gif") as tmp:
            pil[0].save(tmp, format="GIF", save_all=True, append_images=pil[1:], duration=80, loop=0)
        with atomic_path(args.out / "walk_strip.png") as tmp:
            Image.fromarray(image_grid(frames, columns=args.interpolate)).save(tmp, format="PNG")
        print(f"generate: latent walk of {len(frames)} frames in {args.out / 'walk.gif'} and walk_strip.png")


if __name__ == "__main__":
    main(sys.argv[1:])
