"""Stage ``evaluate@<size>``: measure one trained resolution.

``python -m pipeline.evaluate <size>`` reads ``models/<size>/`` and
``data/prepared/<size>.npy`` (+ ``.csv``) and writes

- ``metrics/res/<size>.json``: every metric beside its real-data reference (see README);
- ``plots/<size>/samples.png``: a grid of evaluation samples;
- ``plots/<size>/nearest.png``: the closest sample/training pairs (samples on top).

A rung above ``train.size`` (``models/<size>/idle.json``, pipeline.train) is not
measured: its metrics file says ``"idle": true`` and ``plots/<size>/`` holds only
``idle.json``. Stage ``summary`` (``pipeline/summary.py``) gathers the trained rungs.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline import params as P
from pipeline.fsutil import write_json
from pipeline.gan.ladder import IDLE
from pipeline.metrics.settings import Settings
from pipeline.neardup.rule import Rule

if TYPE_CHECKING:
    import numpy as np

    from pipeline.synthetic import Family

MODELS, DATA, METRICS, PLOTS = Path("models"), Path("data/prepared"), Path("metrics/res"), Path("plots")
GRID_SAMPLES = 64


def train_labels(index_csv: Path, n_rows: int) -> tuple[np.ndarray | None, Family | None, str]:
    """Mode index of every training row from the prepare index and the synthetic family the modes
    are of, or (None, None, why not)."""
    import numpy as np
    import pandas as pd

    from pipeline.synthetic import family_of

    if not index_csv.exists():
        return None, None, f"{index_csv} not found"
    index = pd.read_csv(index_csv, dtype=str, keep_default_na=False)
    if "mode" not in index.columns:
        return None, None, f"{index_csv} has no mode column"
    if len(index) != n_rows:
        raise SystemExit(f"evaluate: {index_csv} lists {len(index)} rows but the array holds {n_rows}")
    unknown = int((index["mode"] == "").sum())
    if unknown:
        return None, None, f"{unknown} of {n_rows} training images have no synthetic mode"
    family = family_of(index["mode"])
    if family is None:
        return None, None, "the training images' modes are of no single synthetic family"
    lookup = {name: i for i, name in enumerate(family.mode_names)}
    return index["mode"].map(lookup).to_numpy(np.int64), family, ""


def evaluate(size: int, params: dict) -> dict:
    """Measure ``models/<size>`` and write its metrics file and plots; return the metrics."""
    cfg = Settings.from_params(P.section(params, "evaluate"))
    rule = Rule.from_params(P.section(params, "dedup"))
    if cfg.inception_weights:   # asked for FID: a file that is not the Inception weights stops the stage
        from pipeline.metrics.fid import weights_problem
        if problem := weights_problem(cfg.inception_weights):
            raise P.ParamError("evaluate.inception_weights", problem)
    # Only now the heavy imports (torch, scipy): a params error stops the stage in a fraction of a second.
    import numpy as np
    from PIL import Image

    from pipeline.fsutil import atomic_path
    from pipeline.gan.checkpoint import ModelDirError, load_generator
    from pipeline.gan.sampling import generate, latents
    from pipeline.images.grid import image_grid
    from pipeline.metrics.report import measure

    model_dir, array = MODELS / str(size), DATA / f"{size}.npy"
    if (model_dir / IDLE).exists():
        idle = {"resolution": size, "idle": True, "reason": "above train.size: not trained"}
        shutil.rmtree(PLOTS / str(size), ignore_errors=True)
        write_json(PLOTS / str(size) / IDLE, idle)
        write_json(METRICS / f"{size}.json", idle)
        print(f"evaluate {size}px: idle (above train.size) -> {METRICS / f'{size}.json'}")
        return idle
    try:
        G, info = load_generator(model_dir)
    except ModelDirError as e:
        raise SystemExit(f"evaluate: {e}") from None
    if int(info["resolution"]) != size:
        raise SystemExit(f"evaluate: {model_dir} holds a {info['resolution']} px generator, not {size} px")
    if not array.exists():
        raise SystemExit(f"evaluate: {array} not found (run the prepare stage for resolution {size})")
    train = np.load(array)   # whole: memorization compares every sample with every training image
    labels, family, reason = train_labels(DATA / f"{size}.csv", len(train))

    t0 = time.time()
    samples = generate(G, latents(cfg.n_samples, int(info["z_dim"]), cfg.seed))
    report = measure(samples, train, labels, rule, cfg, classify=family and family.classify,
                     n_modes=len(family.modes) if family else 0, no_modes_reason=reason)
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


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("size", type=int, help="resolution to evaluate (models/<size>)")
    args = ap.parse_args(argv)
    evaluate(args.size, P.load())


if __name__ == "__main__":
    P.run_stage(main, sys.argv[1:])
