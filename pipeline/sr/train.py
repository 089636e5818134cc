"""The upscaler's training loop: L1 on degraded patch pairs, Adam with cosine decay, resumable.

``train`` takes images and folders, not params.yaml: the stage (``pipeline.upscale``) reads
those. A checkpoint every ``checkpoint_steps`` holds the net, the optimizer, the step, the
logged rows and torch's RNG, so a killed run resumes and ends as if never killed.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from pipeline.runfiles import log_row, save
from pipeline.sr.config import UpscaleConfig
from pipeline.sr.degrade import Degradation, Patches
from pipeline.sr.net import Upscaler
from pipeline.sr.quality import CLASSIC, psnr, reduce
from pipeline.sr.tiles import upscale

WATCH_SIDE = 128   # held-out crops watched during training: the centre this many px of each


class TrainingDiverged(RuntimeError):
    """The loss stopped being a finite number; the message names the key to change."""


def load_upscaler(path: Path, device: str = "cpu") -> Upscaler:
    """The net saved in ``path`` (``models/upscale/upscaler.pt``), in eval mode."""
    saved = torch.load(path, map_location=device, weights_only=True)
    net = Upscaler(**saved["config"]).to(device)
    net.load_state_dict(saved["weights"])
    return net.eval().requires_grad_(False)


def degradation(cfg: UpscaleConfig) -> Degradation:
    return Degradation(cfg.scale, cfg.blur, cfg.noise, cfg.jpeg, cfg.jpeg_quality)


def watch_crops(images: list[np.ndarray], scale: int, n: int = 8) -> list[np.ndarray]:
    """Centre crops of up to ``n`` held-out images, a multiple of ``scale`` on each side."""
    crops = []
    for im in images[:n]:
        side = min(WATCH_SIDE, *im.shape[:2]) // scale * scale
        t, l = (im.shape[0] - side) // 2, (im.shape[1] - side) // 2
        crops.append(im[t:t + side, l:l + side])
    return crops


def gain_db(net: Upscaler, crops: list[np.ndarray], device: str) -> float:
    """Mean PSNR of the net's restore minus Lanczos's on ``crops``; nan with none."""
    if not crops:
        return math.nan
    net.eval()
    s, gains = net.scale, []
    for im in crops:
        small = reduce(im, s)
        gains.append(psnr(im, upscale(net, small, device=device), s) - psnr(im, CLASSIC["lanczos"](small, s), s))
    net.train()
    return float(np.mean(gains))


def train(cfg: UpscaleConfig, images: list[torch.Tensor], held_out: list[np.ndarray], out: Path,
          resume_dir: Path, live=None, device: str = "cpu") -> dict:
    """Train on ``images`` ((3, H, W) uint8, each >= cfg.patch px), watch ``held_out``; save ``out``; a summary."""
    torch.manual_seed(cfg.seed)
    net = Upscaler(cfg.width, cfg.depth, cfg.scale).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.99))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1 + math.cos(math.pi * step / cfg.steps)))
    patches = Patches(images, cfg.patch, degradation(cfg))
    crops = watch_crops(held_out, cfg.scale)
    step, history, seconds, running = 0, [], 0.0, []

    resume_file = resume_dir / "checkpoint.pt"
    if resume_file.exists():
        saved = torch.load(resume_file, map_location=device, weights_only=False)
        net.load_state_dict(saved["net"])
        opt.load_state_dict(saved["opt"])
        sched.load_state_dict(saved["sched"])
        torch.set_rng_state(saved["rng"])
        step, history, seconds, running = saved["step"], saved["history"], saved["seconds"], saved["running"]
        print(f"upscale: resuming at step {step} from {resume_file}")
        if live is not None:
            for row in history:
                log_row(live, row)

    bar = tqdm(total=cfg.steps, initial=step, unit="step", desc="upscale: training")
    t0 = time.time() - seconds
    while step < cfg.steps:
        small, large = patches.batch(cfg.batch)
        loss = F.l1_loss(net(small.to(device)), large.to(device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        running.append(loss.item())
        if not math.isfinite(running[-1]):
            raise TrainingDiverged(f"upscale: the L1 loss became {running[-1]} at step {step}; "
                                   f"lower upscale.lr (now {cfg.lr})")
        bar.update(1)
        if step % cfg.log_steps == 0 or step == cfg.steps:
            row = {"step": step, "l1": float(np.mean(running)), "gain_db": gain_db(net, crops, device),
                   "lr": sched.get_last_lr()[0]}
            running = []
            history.append(row)
            bar.set_postfix(l1=f"{row['l1']:.4f}", gain=f"{row['gain_db']:+.2f} dB")
            if live is not None:
                log_row(live, row)
        if step % cfg.checkpoint_steps == 0 and step < cfg.steps:
            save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                  "rng": torch.get_rng_state(), "step": step, "history": history, "running": running,
                  "seconds": time.time() - t0}, resume_file)
    bar.close()
    net = net.cpu().eval()
    save({"config": net.config(), "weights": net.state_dict()}, out)
    return {"steps": step, "seconds": time.time() - t0, "parameters": sum(p.numel() for p in net.parameters()),
            "l1": history[-1]["l1"] if history else math.nan,
            "watch_gain_db": history[-1]["gain_db"] if history else math.nan}
