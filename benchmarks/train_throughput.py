"""Images/s of full training steps (D step + G step, DiffAugment at p=0.5, lazy R1) per resolution,
and the time each stage of the ladder should take at that rate.

Runs the real loop (``pipeline.gan.loop.train``) with the channel widths of
params.yaml (``train.channels``) and each resolution's ``res.<size>.batch``, on
random uint8 images. Each size is trained as its own base (no fade-in branch),
so the step is the stable-phase step of a grown stage. The loop keeps its
networks channels-last on every device and uses bf16 autocast on CUDA, where
peak memory is reported too. ``-S`` takes
the overrides ``dvc exp run -S`` takes (DVC's own parser applies them to a copy
of params.yaml), so the time of an experiment can be known before it is run:

    python -m benchmarks.train_throughput [--sizes 32 64 128] [--steps 20] [--device auto|cpu|cuda]
    python -m benchmarks.train_throughput $(grep -v '^#' pipeline/presets/gpu-256.args)

The expected time of a stage is its kimg (``kimg``, or ``fade_kimg + stable_kimg``)
over the measured rate; the quality watch adds about 10 % at train.watch_kimg 4.
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch

from pipeline import params as P
from pipeline.gan.config import TrainConfig, res_entry
from pipeline.gan.ladder import Ladder
from pipeline.gan.loop import train


def overridden(overrides: list[str]) -> dict:
    """params.yaml with ``dvc exp run -S`` overrides applied (by DVC's own code, to a copy)."""
    if not overrides:
        return P.load()
    from dvc.utils.hydra import apply_overrides
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "params.yaml"
        shutil.copy(P.PARAMS_FILE, copy)
        apply_overrides(copy, overrides)
        return P.load(copy)


def stage_kimg(params: dict, size: int) -> float:
    """Thousands of images the stage of ``size`` trains at most (its cap), as the stage reads them."""
    ladder = Ladder.from_params(P.section(params, "ladder"))
    return TrainConfig.from_params(P.section(params, "train"), P.section(params, "res"), ladder, size).total_kimg


def measure(size: int, shared: dict, batch: int, steps: int, device: str) -> dict:
    """Images/s of ``steps`` full training steps at ``size`` with params.yaml's shared ``train`` settings."""
    reals = np.random.default_rng(0).integers(0, 256, (256, size, size, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        def run(n_steps: int, name: str) -> dict:
            cfg = TrainConfig(resolution=size, base=size, **{
                **shared, "batch": batch, "lr": 0.002, "kimg": n_steps * batch / 1000,
                "augment_p": 0.5, "ada_kimg": 0.0,   # p fixed at 0.5
                "watch_kimg": 1e6, "checkpoint_kimg": 1e6, "device": device})
            return train(cfg, reals, None, Path(tmp) / name / "out", Path(tmp) / name / "resume")

        run(2, "warmup")    # allocator, cuDNN autotuning, first-call overheads
        if device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        summary = run(steps, "measure")
    out = {"size": size, "batch": batch, "steps": steps, "images_per_s": summary["kimg_per_s"] * 1000,
           "kimg_per_s": summary["kimg_per_s"]}
    if device.startswith("cuda"):
        out["peak_mem_gib"] = torch.cuda.max_memory_allocated() / 2 ** 30
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="default: every size trained (the ladder up to train.size)")
    ap.add_argument("--steps", type=int, default=20, help="measured steps per size (after 2 warm-up steps)")
    ap.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    ap.add_argument("-S", "--set-param", action="append", default=[], metavar="KEY=VALUE",
                    help="an override as `dvc exp run -S` takes it (repeatable)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    params = overridden(args.set_param)
    ladder = Ladder.of(params)
    shared = TrainConfig.shared(P.section(params, "train"), ladder.top)
    sizes = args.sizes or ladder.trained
    print(f"device {device}" + (f" ({torch.cuda.get_device_name()}, bf16 autocast)" if device == "cuda"
                                else f" ({torch.get_num_threads()} threads)"))
    print(f"{'size':>5} {'batch':>5} {'images/s':>9} {'kimg/s':>8} {'stage kimg':>10} {'expected':>9}"
          + (" peak GiB" if device == "cuda" else ""))
    total = 0.0
    for size in sizes:
        entry, name = res_entry(P.section(params, "res"), size)
        if "batch" not in entry:
            raise P.ParamError(f"{name}.batch", "missing (the benchmark uses each resolution's batch)")
        r = measure(size, shared, P.convert(entry["batch"], int, f"{name}.batch"), args.steps, device)
        kimg = stage_kimg(params, size) if size in dict(ladder.order) else float("nan")
        seconds = kimg / r["kimg_per_s"]
        total += 0 if seconds != seconds else seconds
        print(f"{size:>5} {r['batch']:>5} {r['images_per_s']:>9.1f} {r['kimg_per_s']:>8.3f} {kimg:>10.1f} "
              f"{_duration(seconds):>9}" + (f" {r['peak_mem_gib']:>8.2f}" if "peak_mem_gib" in r else ""), flush=True)
    print(f"expected training time of the measured stages: {_duration(total)} (plus the quality watch, ~10 %)")


def _duration(seconds: float) -> str:
    if seconds != seconds:
        return "-"
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else f"{seconds / 60:.1f} min"


if __name__ == "__main__":
    main()
