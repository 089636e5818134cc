"""Stage ``train@<size>``: train one resolution of the ladder.

    python -m pipeline.train <size>

The base resolution trains from scratch; a grown one loads
``models/<from>/state.pt``, adds a block and fades it in. Writes
``models/<size>/`` and the dvclive logs in ``dvclive/<size>/``. A killed run
resumes from ``.resume/<size>-<key>/``, where the key hashes this stage's
params and input files, so a changed input never resumes a stale run.

A rung above ``train.size`` gets no images from prepare (an empty array); it
then writes only ``idle.json`` to both folders, in a second. The stage decides
from its data, not from ``train.size``, so moving the top leaves the rungs
below it cached.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import sys
from dataclasses import asdict
from pathlib import Path

from pipeline import params as P
from pipeline.fsutil import file_digest
from pipeline.gan.config import TrainConfig
from pipeline.gan.ladder import IDLE, Ladder

PREPARED = Path("data/prepared")
MODELS = Path("models")
RESUME = Path(".resume")
LOGS = Path("dvclive")


def config(params: dict, size: int) -> tuple[TrainConfig, int | None]:
    """The TrainConfig of resolution ``size`` and the size it grows from (None for the base)."""
    ladder = Ladder.from_params(P.section(params, "ladder"))
    cfg = TrainConfig.from_params(P.section(params, "train"), P.section(params, "res"), ladder, size)
    import torch   # only now: a params error stops the stage before torch takes seconds to load
    if cfg.device == "auto":
        cfg.device = "cuda" if torch.cuda.is_available() else "cpu"
    return cfg, ladder.source(size)


def resume_key(cfg: TrainConfig, inputs: list[Path]) -> str:
    """Hash of the validated config and the input files; a resume checkpoint is only valid for its key."""
    blob = json.dumps({"config": asdict(cfg) | {"device": None}, "inputs": [file_digest(p) for p in inputs]}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def setup_distributed() -> None:
    """Join the process group when started by torchrun (it sets WORLD_SIZE)."""
    import torch
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def write_idle(size: int) -> None:
    """Mark rung ``size`` as not trained in this run: ``idle.json`` alone in its model and log folders."""
    from pipeline.fsutil import write_json

    for folder in (MODELS / str(size), LOGS / str(size)):
        shutil.rmtree(folder, ignore_errors=True)
        write_json(folder / IDLE, {"resolution": size, "idle": True,
                                   "reason": "above train.size: prepare gave this rung no images"})


def is_idle(size: int) -> bool:
    """True when prepare gave rung ``size`` no images (it is above train.size)."""
    import numpy as np

    data_file = PREPARED / f"{size}.npy"
    if not data_file.exists():
        sys.exit(f"train: {data_file} is missing; run `dvc repro prepare` first")
    return len(np.load(data_file, mmap_mode="r")) == 0


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("size", type=int, help="resolution to train (must be on params.yaml's ladder)")
    args = ap.parse_args(argv)
    params = P.load()
    Ladder.from_params(P.section(params, "ladder")).source(args.size)
    TrainConfig.shared(P.section(params, "train"), args.size)   # a typo stops even an idle rung
    if is_idle(args.size):
        write_idle(args.size)
        print(f"train {args.size}px: idle (above train.size) -> {MODELS / str(args.size) / IDLE}")
        return
    cfg, frm = config(params, args.size)
    import numpy as np
    import torch
    from pipeline.gan import checkpoint as ckpt
    from pipeline.gan.loop import GrowthMismatch, TrainingDiverged, train

    setup_distributed()
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if cfg.device == "cuda" and torch.distributed.is_initialized():
        cfg.device = f"cuda:{torch.cuda.current_device()}"
    torch.use_deterministic_algorithms(cfg.device == "cpu", warn_only=True)

    data_file = PREPARED / f"{args.size}.npy"
    inputs = [data_file]
    start = None
    if frm is not None:
        prev = MODELS / str(frm) / "state.pt"
        if not prev.exists():
            sys.exit(f"train: {prev} is missing; the {frm} px stage must run first (`dvc repro`)"
                     + (" -- it is idle: is train.size below it?" if (MODELS / str(frm) / IDLE).exists() else ""))
        start = ckpt.load(prev)
        inputs.append(prev)
    reals = np.load(data_file)

    resume_dir = RESUME / f"{args.size}-{resume_key(cfg, inputs)}"
    out_dir = MODELS / str(args.size)
    live = None
    if rank == 0:
        resume_dir.mkdir(parents=True, exist_ok=True)
        from dvclive import Live
        live = Live(dir=str(LOGS / str(args.size)), dvcyaml=False, save_dvc_exp=False)
    try:
        summary = train(cfg, reals, start, out_dir, resume_dir, live)
    except (TrainingDiverged, GrowthMismatch) as e:
        sys.exit(str(e))
    if rank == 0:
        for k, v in summary.items():
            if isinstance(v, str) or isinstance(v, (int, float, bool)) and math.isfinite(v):
                live.summary[k] = v
        live.end()
        shutil.rmtree(resume_dir, ignore_errors=True)
        print(f"train {args.size}px: {summary['kimg']:.1f} kimg in {summary['seconds']:.0f} s, "
              f"watch {summary['watch_seconds']:.0f} s; recall {summary.get('recall', math.nan):.2f} "
              f"(real {summary.get('real_recall', math.nan):.2f}), modes {summary.get('modes', '-')}"
              + (f"; COLLAPSE: {summary['collapse_reason']}" if summary["collapse_flag"] else "")
              + (f"; plateau, best at {summary['best_kimg']:.1f} kimg" if summary["stop_reason"] == "plateau" else "")
              + f" -> {out_dir}")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    P.run_stage(main)
