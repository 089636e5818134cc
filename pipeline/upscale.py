"""Stage ``upscale``: train the print upscaler on the collection's own full-size images.

    python -m pipeline.upscale

Reads the kept images of ``data/unique/manifest.csv`` (files in ``data/raw``) at their full
size (the longer side reduced to ``upscale.max_side``). A share ``upscale.holdout`` of them,
chosen by sha256, is never trained on: the stage measures the net on it against Lanczos and
bicubic. Writes:

- ``models/upscale/upscaler.pt`` (what ``generate --print`` uses) and ``info.json``;
- ``dvclive/upscale/``: L1 loss, learning rate and the held-out PSNR gain over Lanczos by step;
- ``metrics/upscale.json``: PSNR, SSIM and texture of each method on the held-out images;
- ``plots/upscale/crops.png``: held-out crops restored by Lanczos and by the net, beside the original;
- ``plots/upscale/print_crop.png``: a 12x15 in, 300 dpi print of a held-out image reduced to 64 px (what a
  generator draws), a 1:1 crop of it made with the net's passes beside the same crop made by Lanczos alone.

A killed run resumes from ``.resume/upscale-<key>/``; the key hashes the params and the manifest.
"""
from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from pipeline import params as P
from pipeline.fsutil import atomic_path, file_digest, write_json
from pipeline.sr.config import UpscaleConfig

RAW, UNIQUE = Path("data/raw"), Path("data/unique/manifest.csv")
MODEL, LOGS = Path("models/upscale"), Path("dvclive/upscale")
METRICS, PLOTS, RESUME = Path("metrics/upscale.json"), Path("plots/upscale"), Path(".resume")


def is_held_out(sha256: str, share: float) -> bool:
    """Whether an image is kept out of training: the first 8 hex digits of its hash, as a fraction, below ``share``."""
    return int(sha256[:8], 16) / 16 ** 8 < share


def _load(job: tuple[str, int]) -> np.ndarray:
    from PIL import Image

    from pipeline.images.load import open_rgb

    path, max_side = job
    image, _ = open_rgb(path)
    if max(image.size) > max_side:
        f = max_side / max(image.size)
        image = image.resize((max(1, round(image.width * f)), max(1, round(image.height * f))), Image.LANCZOS)
    return np.asarray(image, np.uint8)


def load_images(files: list[str], max_side: int, desc: str) -> list[np.ndarray]:
    from pipeline.images.parallel import imap

    return list(imap(_load, [(str(RAW / f), max_side) for f in files], desc=desc))


def crops_figure(images: list[np.ndarray], restore, scale: int, side: int = 96, zoom: int = 2):
    """Rows of [small copy | Lanczos | learned | original], a ``side`` px centre crop of each held-out image."""
    from PIL import Image, ImageDraw

    from pipeline.sr.quality import CLASSIC, crop_to_multiple, reduce

    cell = side * zoom
    rows = []
    for im in images:
        im = crop_to_multiple(im, scale)
        small = reduce(im, scale)
        views = {"small (nearest)": np.asarray(Image.fromarray(small).resize(im.shape[1::-1], Image.NEAREST)),
                 "lanczos": CLASSIC["lanczos"](small, scale), "learned": restore(small, scale), "original": im}
        s = min(side, *im.shape[:2]) // scale * scale
        t, l = (im.shape[0] - s) // 2 // scale * scale, (im.shape[1] - s) // 2 // scale * scale
        rows.append([Image.fromarray(v[t:t + s, l:l + s]).resize((cell, cell), Image.NEAREST) for v in views.values()])
    head = 14
    sheet = Image.new("RGB", (4 * cell, head + len(rows) * cell), "white")
    draw = ImageDraw.Draw(sheet)
    for c, name in enumerate(views):
        draw.text((c * cell + 4, 1), name, fill="black")
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * cell, head + r * cell))
    return sheet


PRINT_PX, PRINT_FROM, PRINT_CROP = (3600, 4500), 64, 480   # 12 x 15 in at 300 dpi, from a 64 px sample


def print_crop_figure(image: np.ndarray, net, side: int = PRINT_CROP):
    """[net's passes then Lanczos | Lanczos alone]: the ``side`` px window with the most edges of a print of
    ``image`` reduced to PRINT_FROM px; and the seconds the learned print took."""
    import time

    from PIL import Image

    from pipeline.images.resize import square
    from pipeline.sr.tiles import enlarge

    small = square(Image.fromarray(image), PRINT_FROM)
    small = image if small is None else small   # a smaller image prints from its own size
    start = time.time()
    learned, _ = enlarge(small, PRINT_PX, net)
    seconds = time.time() - start
    lanczos, _ = enlarge(small, PRINT_PX, None)
    a, b = np.asarray(learned), np.asarray(lanczos)
    luma = b.astype(np.float32).mean(2)
    edges = np.abs(np.diff(luma, axis=0))[:, :-1] + np.abs(np.diff(luma, axis=1))[:-1]
    q = side // 2   # windows on a half-window grid
    h, w = (edges.shape[0] - side) // q + 1, (edges.shape[1] - side) // q + 1
    blocks = edges[:(h + 1) * q, :(w + 1) * q].reshape(h + 1, q, w + 1, q).sum((1, 3))
    score = blocks[:-1, :-1] + blocks[1:, :-1] + blocks[:-1, 1:] + blocks[1:, 1:]
    i, j = np.unravel_index(int(score.argmax()), score.shape)
    t, l = i * q, j * q
    sheet = Image.new("RGB", (2 * side + 8, side), "white")
    sheet.paste(Image.fromarray(a[t:t + side, l:l + side]), (0, 0))
    sheet.paste(Image.fromarray(b[t:t + side, l:l + side]), (side + 8, 0))
    return sheet, seconds


def main() -> None:
    params = P.load()
    cfg = UpscaleConfig.from_params(P.section(params, "upscale"))
    if not UNIQUE.exists():
        sys.exit(f"upscale: {UNIQUE} is missing; run `dvc repro dedup` first")
    import torch

    from pipeline.images.collection import kept_rows
    from pipeline.sr.quality import CLASSIC, compare
    from pipeline.sr.tiles import upscale
    from pipeline.sr.train import TrainingDiverged, load_upscaler, train

    rows = kept_rows(UNIQUE)
    held = rows["sha256"].map(lambda h: is_held_out(h, cfg.holdout)).to_numpy(bool)
    images = load_images(list(rows["file"][~held]), cfg.max_side, "upscale: reading training images")
    fit = [torch.from_numpy(im).permute(2, 0, 1).contiguous() for im in images if min(im.shape[:2]) >= cfg.patch]
    if not fit:
        largest = max((min(im.shape[:2]) for im in images), default=0)
        sys.exit(f"upscale: no training image is {cfg.patch} px on its shorter side (largest {largest} px); "
                 f"lower upscale.patch or collect larger images")
    held_out = [im for im in load_images(list(rows["file"][held].iloc[:cfg.eval_images]), cfg.max_side,
                                         "upscale: reading held-out images") if min(im.shape[:2]) >= 4 * cfg.scale]
    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    torch.use_deterministic_algorithms(device == "cpu", warn_only=True)

    blob = json.dumps({"config": asdict(cfg) | {"device": None}, "manifest": file_digest(UNIQUE)}, sort_keys=True)
    resume_dir = RESUME / f"upscale-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"
    resume_dir.mkdir(parents=True, exist_ok=True)
    MODEL.mkdir(parents=True, exist_ok=True)
    from dvclive import Live
    live = Live(dir=str(LOGS), dvcyaml=False, save_dvc_exp=False)
    try:
        summary = train(cfg, fit, held_out, MODEL / "upscaler.pt", resume_dir, live, device)
    except TrainingDiverged as e:
        sys.exit(str(e))

    net = load_upscaler(MODEL / "upscaler.pt")   # measured as saved: the file generate --print loads
    learned = lambda small, scale: upscale(net, small)   # noqa: E731
    table = compare(held_out, {"learned": learned, **CLASSIC}, cfg.scale) if held_out else {}
    result = {"train_images": len(fit), "train_images_too_small": len(images) - len(fit),
              "held_out_images": len(held_out), "scale": cfg.scale, "parameters": summary["parameters"],
              "train_s": round(summary["seconds"], 1), **table}
    if not held_out:
        result["note"] = "no held-out image: raise upscale.holdout to measure the net"
    # generate --print reads the held-out gain from here and warns when the net did worse than Lanczos
    write_json(MODEL / "info.json", {"config": net.config(), "trained_on": str(UNIQUE), **summary,
                                     "held_out_images": len(held_out),
                                     "held_out_gain_db": table["learned"]["gain_db"] if held_out else None})
    PLOTS.mkdir(parents=True, exist_ok=True)
    from PIL import Image
    with atomic_path(PLOTS / "crops.png") as tmp:
        figure = crops_figure(held_out[:3], learned, cfg.scale) if held_out else Image.new("RGB", (1, 1), "white")
        figure.save(tmp, format="PNG")
    with atomic_path(PLOTS / "print_crop.png") as tmp:
        figure, result["print_s"] = (print_crop_figure(held_out[0], net) if held_out
                                     else (Image.new("RGB", (1, 1), "white"), None))
        figure.save(tmp, format="PNG")
    write_json(METRICS, result)
    for k, v in summary.items():
        if isinstance(v, (int, float)) and math.isfinite(v):
            live.summary[k] = v
    live.end()
    shutil.rmtree(resume_dir, ignore_errors=True)
    if held_out:
        l, z = table["learned"], table["lanczos"]
        print(f"upscale: {summary['steps']} steps in {summary['seconds']:.0f} s on {len(fit)} images; held-out "
              f"x{cfg.scale} ({len(held_out)} images): PSNR {l['psnr']:.2f} dB vs Lanczos {z['psnr']:.2f} "
              f"({l['gain_db']:+.2f} dB), texture {l['texture']:.2f} vs {z['texture']:.2f} -> {MODEL}")
    else:
        print(f"upscale: {summary['steps']} steps in {summary['seconds']:.0f} s; no held-out image -> {MODEL}")


if __name__ == "__main__":
    P.run_stage(main)
