"""One resolution of progressive GAN training, readable top to bottom.

``train(cfg, reals, start, out_dir, resume_dir)`` trains the networks for
``cfg.resolution``: from scratch when ``start`` is None, else from the state of
the previous resolution, growing one block and fading it in. It keeps a
periodic checkpoint in ``resume_dir`` (outside DVC's outputs), so a killed run
continues where it stopped, and rolls back to it if the losses blow up. Every
``watch_kimg`` it logs the losses and the quality watch (``pipeline.gan.watch``:
precision, recall, SWD, modes of the EMA generator), whose ``CollapseRule`` sets
the summary's ``collapse_flag``. With ``patience_kimg`` set, the stage ends once the
watched quality (``watch.plateau_figure``) has not beaten its best by ``watch.MIN_DELTA``
for that long after the fade-in, and hands on (saves) the best watched snapshot, which
the resume checkpoint carries too; the summary says why it stopped (plateau or cap).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from PIL import Image
from tqdm import tqdm

from pipeline.fsutil import atomic_path
from pipeline.gan import checkpoint as ckpt
from pipeline.gan.augment import AdaptiveP, augment
from pipeline.gan.config import TrainConfig
from pipeline.gan.ema import update_ema
from pipeline.gan.losses import d_loss, g_loss, mode_seeking
from pipeline.gan.networks import fade_reals
from pipeline.gan.sampling import generate, latents, to_float, to_uint8
from pipeline.gan.watch import MIN_DELTA, CollapseRule, QualityWatch, plateau_figure
from pipeline.images.grid import image_grid

SAMPLE_SEED = 2024  # fixed latents of every samples.png
WATCH_SEED = 2025   # fixed latents of the quality watch, so its curves move only with the generator
# Quality-watch figures logged per step, the reals' floors beside them (constant within a stage).
WATCHED = ("precision", "recall", "swd", "modes", "modes_expected", "unclassified", "top3_share",
           "real_precision", "real_recall", "real_swd")
GRID = 64


class TrainingDiverged(RuntimeError):
    pass


# ---------------------------------------------------------------- distributed

def world() -> tuple[int, int]:
    """(rank, world size); a single process is (0, 1)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def average_gradients(module: torch.nn.Module) -> None:
    """All-reduce gradients by hand (as StyleGAN2-ADA does): DDP's hooks do not
    see the second-order gradients of R1 / gradient penalties."""
    _, size = world()
    if size == 1:
        return
    for p in module.parameters():
        if p.grad is not None:
            dist.all_reduce(p.grad)
            p.grad /= size


def broadcast_from_rank0(*modules: torch.nn.Module) -> None:
    """Give every rank rank 0's weights: each rank seeds its RNG with its rank, so
    fresh networks (and grown blocks) start different, and averaged gradients
    alone would never bring them together (DDP's constructor does this broadcast)."""
    _, size = world()
    if size == 1:
        return
    for m in modules:
        for t in [*m.parameters(), *m.buffers()]:
            dist.broadcast(t.data, src=0)


def all_mean(value: float, device: str) -> float:
    _, size = world()
    if size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.item() / size


# ---------------------------------------------------------------- helpers

def mean_pairwise_distance(images: torch.Tensor) -> float:
    """Diversity of a batch: mean L2 distance between all pairs, on 16 px copies."""
    small = torch.nn.functional.adaptive_avg_pool2d(images.float(), 16).flatten(1)
    d = torch.cdist(small, small)
    n = len(small)
    return (d.sum() / (n * (n - 1))).item()


def log_row(live, row: dict, samples: Image.Image | None = None) -> None:
    """One dvclive step; the step is the number of images shown, so curves of runs align."""
    live.step = row["step"]
    for k, v in row.items():
        if k != "step" and math.isfinite(v):
            live.log_metric(k, v)
    if samples is not None:
        live.log_image("samples.png", samples)
    live.next_step()


def _rng_state(gens: dict[str, torch.Generator]) -> dict:
    return {"torch": torch.get_rng_state(), **{k: g.get_state() for k, g in gens.items()}}


def _set_rng_state(gens: dict[str, torch.Generator], state: dict) -> None:
    torch.set_rng_state(state["torch"])
    for k, g in gens.items():
        g.set_state(state[k])


# ---------------------------------------------------------------- training

def build(cfg: TrainConfig, start: dict | None):
    """Networks and optimizers; from ``start`` (previous resolution's state) grow one block."""
    if start is None:
        G = ckpt.build_generator(cfg.model_config())
        D = ckpt.build_discriminator(cfg.model_config())
        G_ema = copy.deepcopy(G)
    else:
        prev = dict(start["config"], channels=cfg.model_config()["channels"])
        G, G_ema, D = ckpt.build_generator(prev), ckpt.build_generator(prev), ckpt.build_discriminator(prev)
        G.load_state_dict(start["G"])
        G_ema.load_state_dict(start["g_ema"])
        D.load_state_dict(start["D"])
        G.grow()
        D.grow()
        G_ema.grow()
        # The new block of the EMA starts equal to the trained network's new block.
        G_ema.load_state_dict(G.state_dict() | {k: v for k, v in G_ema.state_dict().items()
                                                if k in start["g_ema"]})
    for net in (G, D, G_ema):
        net.to(cfg.device)
        if cfg.device.startswith("cuda"):
            net.to(memory_format=torch.channels_last)
    G_ema.eval().requires_grad_(False)
    # Adam beta1 = 0, beta2 = 0.99 (ProGAN); optimizer state starts fresh at each resolution.
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.0, 0.99), eps=1e-8)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.0, 0.99), eps=1e-8)
    return G, D, G_ema, opt_g, opt_d


def train(cfg: TrainConfig, reals: np.ndarray, start: dict | None, out_dir: Path, resume_dir: Path,
          live=None) -> dict:
    """Train one resolution; write ``out_dir`` (model dir) and return the run's summary metrics."""
    rank, size = world()
    device = cfg.device
    torch.manual_seed(cfg.seed * 1000 + cfg.resolution * 10 + rank)
    gens = {"data": torch.Generator().manual_seed(cfg.seed + 17 * rank + cfg.resolution),
            "aug": torch.Generator(device=device).manual_seed(cfg.seed + 31 * rank + cfg.resolution)}
    data = torch.from_numpy(np.ascontiguousarray(reals))          # uint8 NHWC, in memory
    batch = cfg.batch // size
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))

    G, D, G_ema, opt_g, opt_d = build(cfg, start)
    broadcast_from_rank0(G, D, G_ema)
    ada = AdaptiveP(start["ada_p"] if start else cfg.augment_p, cfg.ada_target, cfg.ada_kimg)
    grown = start is not None
    fade_nimg = cfg.fade_kimg * 1000 if grown else 0
    total_nimg = int(cfg.total_kimg * 1000)
    fixed_z = latents(GRID, cfg.z_dim, SAMPLE_SEED)
    watch_reals = to_float(reals[torch.randperm(len(reals), generator=torch.Generator().manual_seed(0))[:GRID]])
    real_diversity = mean_pairwise_distance(watch_reals)
    watch_t0 = time.time()
    quality = QualityWatch(reals, cfg.watch_samples) if rank == 0 else None
    collapse_rule = CollapseRule(cfg.collapse_modes, cfg.collapse_top3, cfg.collapse_recall)
    watch_z = latents(cfg.watch_samples, cfg.z_dim, WATCH_SEED)[:quality.n] if quality else None
    watch_seconds = time.time() - watch_t0

    state = {"nimg": 0, "step": 0, "history": [], "rollbacks": 0, "lr": cfg.lr, "diversity_min": math.inf,
             "collapse_reasons": [], "collapse_watches": 0, "collapse_kimg": None, "watched": {},
             "stop_reason": "cap", "best_quality": 0.0, "best_nimg": None, "best_watched": {}, "best_reasons": []}
    best = None   # with patience_kimg: handed_on() at the best watch so far
    resume_file = resume_dir / "checkpoint.pt"

    def handed_on() -> dict:
        """What the next resolution grows from (state.pt)."""
        return {"G": G.state_dict(), "D": D.state_dict(), "g_ema": G_ema.state_dict(), "ada_p": ada.p,
                "nimg": state["nimg"], "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict()}

    def snapshot() -> dict:
        return {"G": G.state_dict(), "D": D.state_dict(), "g_ema": G_ema.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(), "ada": ada.state_dict(),
                "state": copy.deepcopy(state), "rng": _rng_state(gens), "best": best}

    def restore(snap: dict) -> None:
        nonlocal best
        best = copy.deepcopy(snap["best"])
        G.load_state_dict(snap["G"])
        D.load_state_dict(snap["D"])
        G_ema.load_state_dict(snap["g_ema"])
        opt_g.load_state_dict(snap["opt_g"])
        opt_d.load_state_dict(snap["opt_d"])
        ada.load_state_dict(snap["ada"])
        state.update(copy.deepcopy(snap["state"]))
        _set_rng_state(gens, snap["rng"])

    if resume_file.exists():
        restore(ckpt.load(resume_file, device))
        if rank == 0:
            print(f"train {cfg.resolution}: resuming at {state['nimg'] / 1000:.1f} kimg from {resume_file}")
            if live is not None:
                for row in state["history"]:
                    log_row(live, row)
    last_good = copy.deepcopy(snapshot())

    def critic(x: torch.Tensor, alpha: float) -> torch.Tensor:
        with autocast:
            return D(augment(x, ada.p, cfg.augment, gens["aug"]), alpha).float()

    def diverged(losses: list[float], penalty: float) -> bool:
        """Non-finite loss or exploding penalty on any rank."""
        bad = not all(math.isfinite(v) for v in losses + [penalty]) or penalty >= cfg.gp_limit
        return all_mean(float(bad), device) > 0

    def rollback(ld: float, lg: float, penalty: float) -> None:
        """Back to the last good checkpoint with half the learning rate; give up after max_rollbacks."""
        state["rollbacks"] += 1
        if state["rollbacks"] > cfg.max_rollbacks:
            raise TrainingDiverged(
                f"train {cfg.resolution}px: losses became non-finite or the gradient penalty exploded "
                f"(d_loss={ld:.3g}, g_loss={lg:.3g}, penalty={penalty:.3g}) {state['rollbacks']} times; "
                f"lower res.{cfg.resolution}.lr (now {state['lr']:.2g}) or raise train.gamma")
        rollbacks, lr = state["rollbacks"], state["lr"] * 0.5
        restore(last_good)
        state["rollbacks"], state["lr"] = rollbacks, lr
        for opt in (opt_g, opt_d):
            for group in opt.param_groups:
                group["lr"] = lr
        if rank == 0:
            tqdm.write(f"train {cfg.resolution}px: non-finite loss or exploding penalty; rolled back to "
                       f"{state['nimg'] / 1000:.1f} kimg and halved the learning rate to {lr:.2g}")

    bar = tqdm(total=total_nimg / 1000, initial=state["nimg"] / 1000, unit="kimg", desc=f"train {cfg.resolution}px",
               disable=rank != 0, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} kimg [{elapsed}<{remaining}]")
    t0, nimg0, logs = time.time(), state["nimg"], {}
    next_watch = (state["nimg"] // int(cfg.watch_kimg * 1000) + 1) * int(cfg.watch_kimg * 1000)
    next_ckpt = (state["nimg"] // int(cfg.checkpoint_kimg * 1000) + 1) * int(cfg.checkpoint_kimg * 1000)
    while state["nimg"] < total_nimg:
        alpha = min(1.0, state["nimg"] / fade_nimg) if fade_nimg else 1.0
        idx = torch.randint(len(data), (batch,), generator=gens["data"])
        real = to_float(data[idx]).to(device)
        if cfg.xflip:
            flip = torch.rand(batch, generator=gens["data"]) < 0.5
            real[flip] = real[flip].flip(3)
        real = fade_reals(real, alpha)

        # Discriminator step (R1 only every r1_every steps, scaled to match).
        regularise = cfg.loss == "wgan-gp" or state["step"] % cfg.r1_every == 0
        gamma = cfg.gamma * (cfg.r1_every if cfg.loss == "ns-r1" else 1) if regularise else 0.0
        D_fn = lambda x: critic(x, alpha)
        with autocast:
            fake = G(torch.randn(batch, cfg.z_dim, device=device), alpha).float()
        loss_d, logs_d, real_scores = d_loss(cfg.loss, D_fn, real, fake.detach(), gamma, gens["aug"])
        penalty = logs_d.get("penalty", 0.0)
        if diverged([loss_d.item()], penalty):
            rollback(loss_d.item(), float("nan"), penalty)
            continue
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        average_gradients(D)
        opt_d.step()
        ada.observe(real_scores)

        # Generator step, against the updated discriminator (whose weights need no gradient here).
        D.requires_grad_(False)
        z = torch.randn(batch, cfg.z_dim, device=device)
        with autocast:
            fake = G(z, alpha).float()
        loss_g = g_loss(cfg.loss, D_fn, fake)
        if cfg.mode_seeking > 0:
            loss_g = loss_g + cfg.mode_seeking * mode_seeking(z, fake)
        if diverged([loss_g.item()], 0.0):
            D.requires_grad_(True)
            rollback(loss_d.item(), loss_g.item(), penalty)
            continue
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        D.requires_grad_(True)
        average_gradients(G)
        opt_g.step()

        state["nimg"] += cfg.batch
        state["step"] += 1
        update_ema(G_ema, G, cfg.batch, cfg.ema_kimg, state["nimg"], None if grown else cfg.ema_rampup)
        if state["step"] % 4 == 0:
            ada.signs = [all_mean(sum(ada.signs) / len(ada.signs), device)] if ada.signs else []
            ada.update(4 * cfg.batch)
        logs = {"g_loss": loss_g.item(), **logs_d, "alpha": alpha}
        bar.update(cfg.batch / 1000)

        if state["nimg"] >= next_watch or state["nimg"] >= total_nimg:
            next_watch += int(cfg.watch_kimg * 1000)
            with torch.no_grad(), autocast:
                samples = G_ema(fixed_z.to(device), alpha).float().cpu()
            diversity = mean_pairwise_distance(samples) / real_diversity
            state["diversity_min"] = min(state["diversity_min"], diversity)
            watched = {}
            if quality is not None:
                watch_t0 = time.time()
                with torch.no_grad(), autocast:
                    images = np.concatenate([to_uint8(G_ema(z.to(device), alpha).float())
                                             for z in watch_z.split(256)])
                state["watched"] = quality(images)
                reasons = collapse_rule.reasons(state["watched"])
                state["collapse_reasons"] = reasons
                if reasons:
                    state["collapse_watches"] += 1
                    state["collapse_kimg"] = state["collapse_kimg"] or state["nimg"] / 1000
                quality_now = plateau_figure(state["watched"])
                # Only a faded-in model (alpha 1) may be handed on, so the plateau clock starts there, and
                # only at a quality above 0: at 8 px on 48 paintings recall stayed 0 for 5.5 of 8 kimg.
                if alpha == 1.0 and quality_now > state["best_quality"] + MIN_DELTA:
                    state.update(best_quality=quality_now, best_nimg=state["nimg"],
                                 best_watched=dict(state["watched"]), best_reasons=reasons)
                    if cfg.patience_kimg:
                        best = copy.deepcopy(handed_on())
                watched = ({k: state["watched"][k] for k in WATCHED if k in state["watched"]}
                           | {"collapse": int(bool(reasons)), "quality": quality_now})
                watch_seconds += time.time() - watch_t0
            kimg_s = (state["nimg"] - nimg0) / 1000 / max(time.time() - t0, 1e-9)
            row = {"step": state["nimg"], "kimg": state["nimg"] / 1000, **logs, "augment_p": ada.p,
                   "ada_rt": ada.last_rt, "diversity": diversity, **watched, "kimg_per_s": kimg_s, "lr": state["lr"]}
            state["history"].append(row)
            if rank == 0:
                bar.set_postfix(g=f"{logs['g_loss']:.2f}", d=f"{logs['d_loss']:.2f}", p=f"{ada.p:.2f}",
                                recall=f"{watched.get('recall', math.nan):.2f}", modes=watched.get("modes", "-"))
                if live is not None:
                    log_row(live, row, Image.fromarray(image_grid(to_uint8(samples), columns=8)))
            plateau = (cfg.patience_kimg > 0 and state["best_nimg"] is not None
                       and state["nimg"] - state["best_nimg"] >= cfg.patience_kimg * 1000)
            if all_mean(float(plateau), device) > 0:   # rank 0 watches; every rank stops with it
                state["stop_reason"] = "plateau"
                break
        if state["nimg"] >= next_ckpt:
            next_ckpt += int(cfg.checkpoint_kimg * 1000)
            last_good = copy.deepcopy(snapshot())
            if rank == 0:
                ckpt.save(last_good, resume_file)
    bar.close()

    # The stage hands on its best watch when it kept one, else its last; the summary describes that one.
    final = best if best is not None else handed_on()
    G_ema.load_state_dict(final["g_ema"])
    watched, reasons = ((state["best_watched"], state["best_reasons"]) if best is not None
                        else (state["watched"], state["collapse_reasons"]))
    summary = {"kimg": state["nimg"] / 1000, "seconds": time.time() - t0,
               "kimg_per_s": (state["nimg"] - nimg0) / 1000 / max(time.time() - t0, 1e-9),
               "augment_p": final["ada_p"], "diversity": state["history"][-1]["diversity"] if state["history"] else None,
               "diversity_min": state["diversity_min"],
               # The verdict of the watch handed on (an untrained start is not collapse).
               "collapse_flag": bool(reasons), "collapse_reason": "; ".join(reasons),
               "collapse_watches": state["collapse_watches"], "collapse_kimg": state["collapse_kimg"],
               **{k: v for k, v in watched.items() if k in WATCHED or k.startswith("real_")},  # handed-on watch
               "stop_reason": state["stop_reason"], "stop_kimg": state["nimg"] / 1000,
               "best_kimg": state["best_nimg"] / 1000 if state["best_nimg"] is not None else None,
               "best_quality": state["best_quality"] if state["best_nimg"] is not None else None,
               "watch_seconds": watch_seconds,
               "rollbacks": state["rollbacks"], "g_loss": logs.get("g_loss"), "d_loss": logs.get("d_loss")}
    if rank == 0:
        ckpt.write_model_dir(out_dir, cfg.model_config(), final, {"summary": summary, "train": asdict(cfg)})
        grid = image_grid(generate(G_ema, fixed_z), columns=8)
        with atomic_path(out_dir / "samples.png") as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
    return summary
