"""Stage ``train@<size>``: train one resolution of the ladder.

    python -m pipeline.train <size>

The base resolution trains from scratch; a grown one loads
``models/<from>/state.pt``, adds a block and fades it in. Writes
``models/<size>/`` and the dvclive logs in ``dvclive/<size>/``. A killed run
resumes from ``.resume/<size>-<key>/``, where the key hashes this stage's
params and input files, so a changed input never resumes a stale run.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import torch

from pipeline import params as P
from pipeline.gan import checkpoint as ckpt
from pipeline.gan.augment import POLICIES
from pipeline.gan.loop import TrainConfig, TrainingDiverged, train
from pipeline.gan.losses import LOSSES

PREPARED = Path("data/prepared")
MODELS = Path("models")
RESUME = Path(".resume")
LOGS = Path("dvclive")


def config(params: dict, size: int) -> tuple[TrainConfig, int | None]:
    """The TrainConfig of resolution ``size`` and the size it grows from (None for the base)."""
    ladder = dict(params["ladder"]["order"])
    if size not in ladder:
        trained = ", ".join(str(s) for s in ladder)
        raise P.ParamError("ladder", f"resolution {size} is not on the ladder ({trained})")
    frm = ladder[size]
    t, name = params["train"], "train"
    channels = P.per_resolution(P.get(t, "channels", name, dict), "train.channels",
                                [2 ** i for i in range(2, size.bit_length())], int)
    res = params["res"].get(size, params["res"].get(str(size)))
    rname = f"res.{size}"
    if not isinstance(res, dict):
        raise P.ParamError(rname, f"missing: add per-resolution settings, e.g. "
                                  f"{{batch: 16, lr: 0.002, fade_kimg: 5, stable_kimg: 5}}")
    res = dict(res)
    device = P.get(t, "device", name, str, "auto", choices=("auto", "cpu", "cuda"))
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    policy = P.get(t, "augment", name, str, ",".join(POLICIES))
    policy = tuple(p.strip() for p in policy.split(",") if p.strip())
    for p in policy:
        if p not in POLICIES:
            raise P.ParamError("train.augment", f"unknown augmentation {p!r} (known: {', '.join(POLICIES)})")
    cfg = TrainConfig(
        resolution=size, base=params["ladder"]["base"],
        z_dim=P.get(t, "z_dim", name, int, 128, minimum=1),
        channels=channels,
        batch=P.get(res, "batch", rname, int, minimum=2),
        lr=P.get(res, "lr", rname, float, 0.002, minimum=0),
        kimg=P.get(res, "kimg", rname, float, minimum=0) if frm is None else 0.0,
        fade_kimg=P.get(res, "fade_kimg", rname, float, minimum=0) if frm is not None else 0.0,
        stable_kimg=P.get(res, "stable_kimg", rname, float, minimum=0) if frm is not None else 0.0,
        loss=P.get(t, "loss", name, str, "ns-r1", choices=LOSSES),
        gamma=P.get(t, "gamma", name, float, 1.0, minimum=0),
        r1_every=P.get(t, "r1_every", name, int, 4, minimum=1),
        ema_kimg=P.get(t, "ema_kimg", name, float, 1.0, minimum=0),
        policy=policy,
        ada_target=P.get(t, "ada_target", name, float, 0.6),
        ada_kimg=P.get(t, "ada_kimg", name, float, 20.0, minimum=0),
        p_init=P.get(t, "augment_p", name, float, 0.0, minimum=0),
        xflip=P.get(t, "xflip", name, bool, False),
        watch_kimg=P.get(t, "watch_kimg", name, float, 2.0, minimum=0.001),
        collapse_ratio=P.get(t, "collapse_ratio", name, float, 0.5, minimum=0),
        checkpoint_kimg=P.get(t, "checkpoint_kimg", name, float, 2.0, minimum=0.001),
        seed=P.get(t, "seed", name, int, 0),
        device=device,
        max_rollbacks=P.get(t, "max_rollbacks", name, int, 3, minimum=0),
        mbstd_group=P.get(t, "mbstd_group", name, int, 4, minimum=1),
    )
    if cfg.batch % cfg.mbstd_group and cfg.batch > cfg.mbstd_group:
        raise P.ParamError(f"{rname}.batch", f"{cfg.batch} is not a multiple of train.mbstd_group ({cfg.mbstd_group})")
    return cfg, frm


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def resume_key(params: dict, size: int, inputs: list[Path]) -> str:
    """Hash of everything this stage depends on; a resume checkpoint is only valid for its key."""
    res = params["res"].get(size, params["res"].get(str(size)))
    blob = json.dumps({"train": params["train"], "res": res, "base": params["ladder"]["base"], "size": size,
                       "inputs": [file_digest(p) for p in inputs]}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def setup_distributed() -> None:
    """Join the process group when started by torchrun (it sets WORLD_SIZE)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("size", type=int, help="resolution to train (must be on params.yaml's ladder)")
    args = ap.parse_args(argv)
    params = P.load()
    cfg, frm = config(params, args.size)
    setup_distributed()
    rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
    if cfg.device == "cuda" and torch.distributed.is_initialized():
        cfg.device = f"cuda:{torch.cuda.current_device()}"
    torch.use_deterministic_algorithms(cfg.device == "cpu", warn_only=True)

    data_file = PREPARED / f"{args.size}.npy"
    if not data_file.exists():
        sys.exit(f"train: {data_file} is missing; run `dvc repro prepare` first")
    inputs = [data_file]
    start = None
    if frm is not None:
        prev = MODELS / str(frm) / "state.pt"
        if not prev.exists():
            sys.exit(f"train: {prev} is missing; the {frm} px stage must run first (`dvc repro`)")
        start = ckpt.load(prev)
        inputs.append(prev)
    reals = np.load(data_file)
    if len(reals) == 0:
        sys.exit(f"train: {data_file} holds no images")

    resume_dir = RESUME / f"{args.size}-{resume_key(params, args.size, inputs)}"
    out_dir = MODELS / str(args.size)
    live = None
    if rank == 0:
        resume_dir.mkdir(parents=True, exist_ok=True)
        from dvclive import Live
        live = Live(dir=str(LOGS / str(args.size)), dvcyaml=False, save_dvc_exp=False)
    try:
        summary = train(cfg, reals, start, out_dir, resume_dir, live)
    except TrainingDiverged as e:
        sys.exit(str(e))
    if rank == 0:
        for k, v in summary.items():
            if isinstance(v, (int, float, bool)) and v is not None:
                live.summary[k] = v
        live.end()
        shutil.rmtree(resume_dir, ignore_errors=True)
        print(f"train {args.size}px: {summary['kimg']:.1f} kimg in {summary['seconds']:.0f} s, "
              f"diversity {summary['diversity']:.2f} of the reals' -> {out_dir}")
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
