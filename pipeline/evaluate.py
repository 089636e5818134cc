"""Stage ``evaluate``: measure one trained resolution, or gather all of them for the plots.

``python -m pipeline.evaluate <size>`` reads ``models/<size>/`` and
``data/prepared/<size>.npy`` (+ ``.csv``) and writes

- ``metrics/<size>.json``: every metric beside its real-data reference (see README);
- ``plots/<size>/samples.png``: a grid of evaluation samples;
- ``plots/<size>/nearest.png``: the closest sample/training pairs (samples on top).

``python -m pipeline.evaluate --summary`` gathers ``metrics/<size>.json`` of every
resolution of the ladder into ``plots/metrics_by_resolution.csv``, one row per
resolution, which dvc.yaml plots against resolution.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pipeline import params as P
from pipeline.dedup import settings as dedup_rule
from pipeline.fsutil import atomic_path, write_csv, write_json
from pipeline.images.grid import image_grid
from pipeline.metrics.report import Settings, measure

MODELS, DATA, METRICS, PLOTS = Path("models"), Path("data/prepared"), Path("metrics"), Path("plots")
SUMMARY = PLOTS / "metrics_by_resolution.csv"
GRID_SAMPLES = 64


def settings(params: dict) -> tuple[int, Settings]:
    """(number of samples, metric settings) from ``params['evaluate']``; errors name the key."""
    cfg = params["evaluate"]
    d = Settings()
    n = P.get(cfg, "n_samples", "evaluate", int, 1000, minimum=2)
    s = Settings(
        seed=P.get(cfg, "seed", "evaluate", int, d.seed),
        swd_images=P.get(cfg, "swd_images", "evaluate", int, d.swd_images, minimum=2),
        msssim_pairs=P.get(cfg, "msssim_pairs", "evaluate", int, d.msssim_pairs, minimum=1),
        distinct_images=P.get(cfg, "distinct_images", "evaluate", int, d.distinct_images, minimum=2),
        memorization_samples=P.get(cfg, "memorization_samples", "evaluate", int, d.memorization_samples, minimum=1),
        prdc_images=P.get(cfg, "prdc_images", "evaluate", int, d.prdc_images, minimum=4),
        modes_min_count=P.get(cfg, "modes_min_count", "evaluate", int, d.modes_min_count, minimum=1),
        panel_pairs=P.get(cfg, "panel_pairs", "evaluate", int, d.panel_pairs, minimum=1),
        inception_weights=P.get(cfg, "inception_weights", "evaluate", str, d.inception_weights),
    )
    if s.inception_weights and not Path(s.inception_weights).is_file():
        raise P.ParamError("evaluate.inception_weights", f"{s.inception_weights} is not a file "
                           "(leave it empty to skip FID; nothing is downloaded)")
    return n, s


def train_labels(index_csv: Path, n_rows: int) -> tuple[np.ndarray | None, str]:
    """Mode index of every training row from the prepare index, or (None, why not)."""
    from pipeline.sources.synthetic import MODE_NAMES

    if not index_csv.exists():
        return None, f"{index_csv} not found"
    index = pd.read_csv(index_csv, dtype=str, keep_default_na=False)
    if "mode" not in index.columns:
        return None, f"{index_csv} has no mode column"
    if len(index) != n_rows:
        raise SystemExit(f"evaluate: {index_csv} lists {len(index)} rows but the array holds {n_rows}")
    lookup = {name: i for i, name in enumerate(MODE_NAMES)}
    known = index["mode"].map(lookup)
    if known.isna().any():
        return None, f"{int(known.isna().sum())} of {n_rows} training images have no synthetic mode"
    return known.to_numpy(np.int64), ""


def evaluate(size: int, params: dict) -> dict:
    from pipeline.gan.checkpoint import ModelDirError, load_generator
    from pipeline.gan.sampling import generate, latents
    from pipeline.sources.synthetic import MODE_NAMES, classify

    n_samples, cfg = settings(params)
    rule = dedup_rule(params)
    model_dir, array = MODELS / str(size), DATA / f"{size}.npy"
    try:
        G, info = load_generator(model_dir)
    except ModelDirError as e:
        raise SystemExit(f"evaluate: {e}") from None
    if int(info["resolution"]) != size:
        raise SystemExit(f"evaluate: {model_dir} holds a {info['resolution']} px generator, not {size} px")
    if not array.exists():
        raise SystemExit(f"evaluate: {array} not found (run the prepare stage for resolution {size})")
    train = np.load(array)   # whole: memorization compares every sample with every training image
    labels, reason = train_labels(DATA / f"{size}.csv", len(train))

    t0 = time.time()
    samples = generate(G, latents(n_samples, int(info["z_dim"]), cfg.seed))
    report = measure(samples, train, labels, rule, cfg, classify=classify, n_modes=len(MODE_NAMES),
                     no_modes_reason=reason)
    metrics = report.metrics
    metrics["counts"].setdefault("fid_images", 0)

    write_json(METRICS / f"{size}.json", metrics)
    for name, image in (("samples.png", image_grid(samples[:GRID_SAMPLES], columns=8)),
                        ("nearest.png", report.nearest_panel)):
        with atomic_path(PLOTS / str(size) / name) as tmp:
            Image.fromarray(image).save(tmp, format="PNG")
    print(f"evaluate {size}px: {time.time() - t0:.1f} s; SWD x1e3 {metrics['swd']['avg']:.1f} "
          f"(real {metrics['swd']['real_avg']:.1f}), MS-SSIM {metrics['msssim']['samples']:.3f} "
          f"(real {metrics['msssim']['real']:.3f}), modes covered {metrics['modes']['covered']}"
          + (f" -- modes not computed: {metrics['modes']['reason']}" if metrics["modes"]["reason"] else "")
          + (f"\nFID not computed: {metrics['fid']['reason']}" if metrics["fid"]["reason"] else ""))
    return metrics


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flatten(v, f"{key}_"))
        elif isinstance(v, (int, float)) or v is None:
            out[key] = v
    return out


def summary(params: dict) -> list[dict]:
    """One row per resolution of the ladder from ``metrics/<size>.json`` (names joined with ``_``)."""
    rows = []
    for size in P.sizes(params):
        path = METRICS / f"{size}.json"
        if not path.exists():
            raise SystemExit(f"evaluate --summary: {path} not found (run `dvc repro` to evaluate {size} px)")
        rows.append(_flatten(json.loads(path.read_text())))
    columns = ["resolution"] + sorted({k for r in rows for k in r} - {"resolution"})
    write_csv(SUMMARY, rows, columns)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("size", nargs="?", type=int, help="resolution to evaluate (models/<size>)")
    ap.add_argument("--summary", action="store_true", help="gather every resolution's metrics for the plots")
    args = ap.parse_args(argv)
    params = P.load()
    if args.summary:
        summary(params)
    elif args.size is None:
        ap.error("give a resolution, e.g. `python -m pipeline.evaluate 64`, or --summary")
    else:
        if args.size not in P.sizes(params):
            raise SystemExit(f"evaluate: {args.size} px is not in the ladder {P.sizes(params)} (params.yaml: ladder)")
        evaluate(args.size, params)


if __name__ == "__main__":
    main(sys.argv[1:])
