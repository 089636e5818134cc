"""Draw samples from a trained model, for looking at or for the wall.

    python -m pipeline.generate --n 16 --out out/ --seed 0    # the largest model: models/<train.size>
        [--model models/32]                 # another rung
        [--truncation 0.7]                  # nearer the mean latent: safer, less varied
        [--pick best|diverse --candidates 64]  # draw more, keep the top N
        [--print 12x15in --dpi 300 --format png|tiff]  # print files with the DPI recorded
        [--upscaler models/upscale|none] [--passes N] [--tile 192]  # learned x4 passes (default), or Lanczos alone
        [--interpolate 12]                  # latent walk: walk.gif + walk_strip.png

Writes ``sample_0000.png`` ... at the model's resolution; ``--print`` adds
``print_0000.png`` (or ``.tif``) cropped to the print's aspect and enlarged: as many x4
passes of the learned upscaler (stage ``upscale``) as fit, in overlapping tiles, then
Lanczos for the remainder. It says -- on the console and in the file's metadata -- how
the print was made from the model's N px.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
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


def to_print(sample: np.ndarray, size_px: tuple[int, int], upscaler=None, tile: int = 192,
             device: str = "cpu", max_passes: int | None = None) -> tuple[Image.Image, int]:
    """A sample centre-cropped to the print's aspect and enlarged to ``size_px``; and the learned passes run.

    With ``upscaler`` (a ``pipeline.sr.net.Upscaler`` on ``device``): its passes, then Lanczos; without:
    Lanczos alone.
    """
    from pipeline.sr.tiles import enlarge
    return enlarge(sample, size_px, upscaler, tile, device, max_passes)


def load_upscaler(path: Path, device: str = "cpu"):
    """The upscaler in ``path`` (a folder holding upscaler.pt, or the file); SystemExit naming the fix if absent."""
    import pickle

    from pipeline.sr.train import load_upscaler as load
    file = path / "upscaler.pt" if path.suffix != ".pt" else path
    if not file.exists():
        raise SystemExit(f"generate: {file} not found: train it with `dvc repro upscale`, "
                         "or pass --upscaler none for Lanczos alone")
    try:
        net = load(file, device)
    except (RuntimeError, KeyError, TypeError, ValueError, EOFError, pickle.UnpicklingError) as e:
        raise SystemExit(f"generate: {file} is not an upscaler saved by the upscale stage: {e}") from None
    info = file.parent / "info.json"
    gain = json.loads(info.read_text()).get("held_out_gain_db") if info.exists() else None
    if gain is not None and gain < 0:
        print(f"generate: WARNING: {file} restored its held-out images {-gain:.2f} dB worse than Lanczos "
              f"({info}); --upscaler none may print better", file=sys.stderr)
    return net


def describe(res: int, model: Path, seed: int, size_px: tuple[int, int], dpi: int, inches: tuple[float, float],
             passes: int, scale: int, upscaler: Path | None) -> str:
    """The print's description: where it came from and what made every pixel above the model's resolution."""
    factor = max(size_px) / res
    if passes:
        rest = factor / scale ** passes
        how = (f"Enlarged {factor:.1f}x from a {res} px GAN sample ({model}, seed {seed}): {passes} learned "
               f"x{scale} pass{'es' if passes > 1 else ''} ({upscaler}, trained on the collection's full-size images), "
               f"then Lanczos x{rest:.2f}.")
    else:
        how = (f"Upscaled {factor:.1f}x with Lanczos from a {res} px GAN sample ({model}, seed {seed}). "
               f"Detail finer than the {res} px original is interpolated, not generated.")
    return f"{how} {size_px[0]}x{size_px[1]} px at {dpi} dpi = {inches[0]:.2f}x{inches[1]:.2f} in."


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
    ap.add_argument("--upscaler", default="models/upscale", metavar="DIR|none",
                    help="the learned upscaler for --print (default models/upscale); none: Lanczos alone")
    ap.add_argument("--passes", type=int, default=None, metavar="N",
                    help="at most N learned passes (default: as many as fit), Lanczos for the rest")
    ap.add_argument("--tile", type=int, default=192,
                    help="upscaler tile side in input px: bounds memory, the result is the same for any tile")
    ap.add_argument("--interpolate", type=int, default=0, metavar="K",
                    help="also write a latent walk through the samples, K frames between each: walk.gif, walk_strip.png")
    args = ap.parse_args(argv)

    if args.n < 1:
        ap.error("--n must be at least 1")
    if args.truncation is not None and not 0 < args.truncation <= 1:
        ap.error("--truncation must be in (0, 1]")
    if args.dpi < 1:
        ap.error("--dpi must be positive")
    if args.tile < 8:
        ap.error("--tile must be at least 8")
    if args.passes is not None and args.passes < 0:
        ap.error("--passes must be 0 or more")
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
        upscaler_dir = None if args.upscaler.lower() == "none" else Path(args.upscaler)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        net = load_upscaler(upscaler_dir, device) if upscaler_dir else None
        suffix = ".tif" if args.format == "tiff" else ".png"
        start, passes = time.time(), 0
        for i, im in enumerate(images):
            out, passes = to_print(im, size_px, net, args.tile, device, args.passes)
            note = describe(res, args.model, args.seed, size_px, args.dpi, inches, passes,
                            net.scale if net else 1, upscaler_dir)
            save_print(out, args.out / f"print_{i:04d}{suffix}", args.dpi, note)
        how = (f"{passes} learned x{net.scale} pass{'es' if passes != 1 else ''} then Lanczos" if net
               else "Lanczos alone")
        print(f"generate: {len(images)} print files, {size_px[0]}x{size_px[1]} px at {args.dpi} dpi, enlarged "
              f"{max(size_px) / res:.0f}x from {res} px samples ({how}), cropped to the print's aspect ratio; "
              f"{(time.time() - start) / len(images):.1f} s each")

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
