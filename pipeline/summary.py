"""Stage ``summary``: every resolution of the ladder in the files runs are compared by.

Reads ``metrics/res/<size>.json`` (evaluation) and ``dvclive/<size>/`` (training
logs) of every resolution trained, the base up to ``train.size``, and the print
upscaler's ``metrics/upscale.json``; writes

- ``metrics/headline.json``: a handful of figures of the largest resolution, with
  short flat names so ``dvc exp show`` fits a terminal (README: Experiments), and the
  upscaler's held-out gain over Lanczos;
- ``plots/metrics_by_resolution.csv``: one row per resolution, every metric;
- ``plots/training.csv``: the training logs of the whole ladder on one axis,
  ``kimg`` = thousands of images shown since the base started.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from pipeline import params as P
from pipeline.fsutil import write_csv, write_json
from pipeline.gan.ladder import Ladder

METRICS, LOGS, PLOTS = Path("metrics/res"), Path("dvclive"), Path("plots")
HEADLINE, UPSCALE = Path("metrics/headline.json"), Path("metrics/upscale.json")
# Training series worth comparing between runs; lr, alpha and kimg/s are settings or constants, not results.
CURVES = ("g_loss", "d_loss", "diversity", "augment_p", "precision", "recall", "real_precision", "real_recall",
          "swd", "real_swd", "modes", "modes_expected", "unclassified", "top3_share", "collapse")


def flatten(d: dict, prefix: str = "") -> dict:
    """Nested metrics -> one level, names joined with ``_``; text fields (reasons) are left out."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, f"{key}_"))
        elif isinstance(v, (int, float)) or v is None:
            out[key] = v
    return out


def headline(metrics: dict, train_seconds: float) -> dict:
    """The figures that say which run is better, rounded so a table stays narrow."""
    def r(value, digits=3):
        return None if value is None else round(float(value), digits)

    modes, swd, prdc, mem = metrics["modes"], metrics["swd"], metrics["prdc"], metrics["memorization"]
    kid = metrics["kid"]
    # k-NN precision is left out: on ~100 real images it scores blur, colour blobs and shuffled
    # patches like real art (benchmarks/metric_calibration.py); KID is the realism figure.
    return {"px": metrics["resolution"], "modes": modes["covered"], "mode_kl": r(modes["kl"]),
            "unclassified": r(modes["unclassified_share"]), "kid": r(kid["samples"]), "kid_real": r(kid["real"]),
            "swd": r(swd["avg"], 1), "swd_real": r(swd["real_avg"], 1),
            "recall": r(prdc["recall"]), "recall_real": r(prdc["real_recall"]), "copies": r(mem["copy_share"]),
            "informative": int(bool(prdc["informative"])), "train_s": round(train_seconds)}


def upscale_headline(path: Path) -> dict:
    """``up_db``: the learned x4's held-out PSNR minus Lanczos's; ``up_tex``: its texture (1 = the original's)."""
    up = json.loads(path.read_text()) if path.exists() else {}
    learned = up.get("learned", {})
    return {"up_db": None if "gain_db" not in learned else round(learned["gain_db"], 2),
            "up_tex": None if "texture" not in learned else round(learned["texture"], 2)}


def training_curves(sizes: list[int], logs: Path = LOGS) -> pd.DataFrame:
    """The CURVES of every resolution's dvclive log, one row per logged step, on a shared kimg axis."""
    frames, offset = [], 0.0
    for size in sizes:
        series = []
        for name in CURVES:
            tsv = logs / str(size) / "plots" / "metrics" / f"{name}.tsv"
            if tsv.exists():
                series.append(pd.read_csv(tsv, sep="\t")[["step", name]].set_index("step"))
        if not series:
            raise SystemExit(f"summary: {logs / str(size)} has no training log (run `dvc repro`)")
        frame = pd.concat(series, axis=1).reset_index()
        frame.insert(0, "kimg", (offset + frame["step"] / 1000).round(3))
        frame.insert(1, "resolution", size)
        offset = float(frame["kimg"].iloc[-1])
        frames.append(frame.drop(columns="step"))
    # Every curve a column, empty where never logged (no sample classified yet, SWD below 16 px):
    # a chart with one of its fields missing from the file is drawn blank.
    return pd.concat(frames, ignore_index=True).reindex(columns=["kimg", "resolution", *CURVES])


def train_seconds(sizes: list[int], logs: Path = LOGS) -> float:
    """Wall-clock seconds of every training stage (dvclive summaries)."""
    total = 0.0
    for size in sizes:
        summary = logs / str(size) / "metrics.json"
        if summary.exists():
            total += float(json.loads(summary.read_text()).get("seconds", 0.0))
    return total


def run(sizes: list[int]) -> dict:
    """Write the three files for the resolutions ``sizes`` (ladder order); return the headline."""
    rows = []
    for size in sizes:
        path = METRICS / f"{size}.json"
        if not path.exists():
            raise SystemExit(f"summary: {path} not found (run `dvc repro` to evaluate {size} px)")
        rows.append(json.loads(path.read_text()))
    flat = [flatten(r) for r in rows]
    write_csv(PLOTS / "metrics_by_resolution.csv", flat,
              ["resolution"] + sorted({k for r in flat for k in r} - {"resolution"}))
    curves = training_curves(sizes)
    write_csv(PLOTS / "training.csv", curves.to_dict("records"), list(curves.columns))
    head = headline(rows[-1], train_seconds(sizes)) | upscale_headline(UPSCALE)
    write_json(HEADLINE, head)
    return head


def main() -> None:
    head = run(Ladder.of(P.load()).trained)
    print("summary: " + ", ".join(f"{k} {v}" for k, v in head.items()) + f" -> {HEADLINE}")


if __name__ == "__main__":
    P.run_stage(main)
