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

Everything a checkpoint holds is one ``TrainState`` (``pipeline.gan.state``); the loop
body runs its phases over it in order: reals, discriminator step, generator step,
counters/EMA/ADA, watch (and plateau), checkpoint.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import contextmanager
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
from pipeline.gan.state import Progress, TrainState
from pipeline.gan.watch import MIN_DELTA, CollapseRule, QualityWatch, plateau_figure
from pipeline.images.grid import image_grid
from pipeline.runfiles import log_row

SAMPLE_SEED = 2024  # fixed latents of every samples.png
WATCH_SEED = 2025   # fixed latents of the quality watch, so its curves move only with the generator
# Quality-watch figures logged per step, the reals' floors beside them (constant within a stage).
WATCHED = ("precision", "recall", "swd", "modes", "modes_expected", "unclassified", "top3_share",
           "real_precision", "real_recall", "real_swd")
GRID = 64


class TrainingDiverged(RuntimeError):
    pass


class GrowthMismatch(ValueError):
    """The lower rung was grown with the other ``train.growth``: its weights draw a different picture."""


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


def next_multiple(nimg: int, every: int) -> int:
    """The first multiple of ``every`` images after ``nimg``: when the next watch or checkpoint is due."""
    return (nimg // every + 1) * every


@contextmanager
def frozen(module: torch.nn.Module):
    """``module``'s weights need no gradient inside: the generator step only passes through D."""
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


# ---------------------------------------------------------------- the phases of a step

def fetch_reals(data: torch.Tensor, batch: int, xflip: bool, g: torch.Generator, device: str) -> torch.Tensor:
    """A random batch of the uint8 NHWC ``data`` as NCHW floats (stored channels-last) on ``device``, with ``xflip`` half mirrored."""
    idx = torch.randint(len(data), (batch,), generator=g)
    real = to_float(data[idx]).to(device).contiguous(memory_format=torch.channels_last)
    if xflip:
        flip = torch.rand(batch, generator=g) < 0.5
        real[flip] = real[flip].flip(3)
    return real


def critic(state: TrainState, policy: tuple[str, ...], alpha: float, autocast):
    """D as the losses call it: behind the augmentation, at fade-in ``alpha``."""
    def score(x: torch.Tensor, parts: int = 1) -> torch.Tensor:
        with autocast:
            return state.D(augment(x, state.ada.p, policy, state.gens["aug"]), alpha, parts).float()
    return score


def cosine_share(final: float, t: float) -> float:
    """R3GAN's cosine schedule at progress ``t`` (0 to 1): 1 at the start, ``final`` at the end."""
    t = min(max(t, 0.0), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * t))


def scheduled_gamma(cfg: TrainConfig, t: float) -> float:
    """``train.gamma`` at stage progress ``t``, along its schedule (``train.gamma_decay``; 1: constant)."""
    return cfg.gamma * cosine_share(cfg.gamma_decay, t)


def penalty_weight(cfg: TrainConfig, step: int, t: float) -> float:
    """WGAN-GP's every step; R1's (and RpGAN's R1 + R2) only every r1_every steps (lazy regularisation), scaled;
    gamma as scheduled at stage progress ``t``."""
    gamma = scheduled_gamma(cfg, t)
    if cfg.loss == "wgan-gp":
        return gamma
    return gamma * cfg.r1_every if step % cfg.r1_every == 0 else 0.0


def optimizer_step(opt: torch.optim.Optimizer, loss: torch.Tensor, module: torch.nn.Module) -> None:
    """One update of ``module`` down ``loss``, its gradients averaged over the ranks."""
    opt.zero_grad(set_to_none=True)
    loss.backward()
    average_gradients(module)
    opt.step()


def diverged(losses: list[float], penalty: float, gp_limit: float, device: str) -> bool:
    """Non-finite loss or exploding penalty on any rank."""
    bad = not all(math.isfinite(v) for v in losses + [penalty]) or penalty >= gp_limit
    return all_mean(float(bad), device) > 0


def roll_back(state: TrainState, last_good: dict, cfg: TrainConfig, rank: int,
              ld: float, lg: float, penalty: float) -> None:
    """Back to ``last_good`` with half the learning rate; TrainingDiverged after max_rollbacks."""
    progress = state.progress
    progress.rollbacks += 1
    if progress.rollbacks > cfg.max_rollbacks:
        raise TrainingDiverged(
            f"train {cfg.resolution}px: losses became non-finite or the gradient penalty exploded "
            f"(d_loss={ld:.3g}, g_loss={lg:.3g}, penalty={penalty:.3g}) {progress.rollbacks} times; "
            f"lower res.{cfg.resolution}.lr (now {progress.lr:.2g}) or raise train.gamma")
    rollbacks, lr = progress.rollbacks, progress.lr * 0.5
    # A copy: torch's optimizers adopt a loaded state's tensors, so later steps would change last_good
    # and a second rollback to it would restore moments it never had.
    state.load_state_dict(copy.deepcopy(last_good))
    progress.rollbacks, progress.lr = rollbacks, lr
    state.set_lr(lr)
    if rank == 0:
        tqdm.write(f"train {cfg.resolution}px: non-finite loss or exploding penalty; rolled back to "
                   f"{progress.nimg / 1000:.1f} kimg and halved the learning rate to {lr:.2g}")


def adapt_p(ada: AdaptiveP, nimg: int, device: str) -> None:
    """ADA's update over the last ``nimg`` images, from D's signs on reals averaged over all ranks."""
    ada.signs = [all_mean(sum(ada.signs) / len(ada.signs), device)] if ada.signs else []
    ada.update(nimg)


class Watch:
    """The quality watch of one stage (``pipeline.gan.watch``), on fixed latents so its curves move only
    with the generator; rank 0 measures, every rank draws the sample grid."""

    def __init__(self, cfg: TrainConfig, reals: np.ndarray, rank: int):
        self.device = cfg.device
        self.fixed_z = latents(GRID, cfg.z_dim, SAMPLE_SEED)
        watch_reals = to_float(reals[torch.randperm(len(reals), generator=torch.Generator().manual_seed(0))[:GRID]])
        self.real_diversity = mean_pairwise_distance(watch_reals)
        t0 = time.time()
        self.quality = QualityWatch(reals, cfg.watch_samples) if rank == 0 else None
        self.rule = CollapseRule(cfg.collapse_modes, cfg.collapse_top3, cfg.collapse_recall)
        self.z = latents(cfg.watch_samples, cfg.z_dim, WATCH_SEED)[:self.quality.n] if self.quality else None
        self.seconds = time.time() - t0

    def __call__(self, g_ema: torch.nn.Module, alpha: float, progress: Progress,
                 autocast) -> tuple[torch.Tensor, dict]:
        """Score ``g_ema`` once and record the verdict in ``progress``: the sample grid's images and the
        figures to log (diversity on every rank; the quality watch's and ``quality`` on rank 0)."""
        with torch.no_grad(), autocast:
            samples = g_ema(self.fixed_z.to(self.device), alpha).float().cpu()
        diversity = mean_pairwise_distance(samples) / self.real_diversity
        progress.diversity_min = min(progress.diversity_min, diversity)
        if self.quality is None:
            return samples, {"diversity": diversity}
        t0 = time.time()
        with torch.no_grad(), autocast:
            images = np.concatenate([to_uint8(g_ema(z.to(self.device), alpha).float()) for z in self.z.split(256)])
        progress.watched = self.quality(images)
        reasons = self.rule.reasons(progress.watched)
        progress.collapse_reasons = reasons
        if reasons:
            progress.collapse_watches += 1
            progress.collapse_kimg = progress.collapse_kimg or progress.nimg / 1000
        figures = ({"diversity": diversity} | {k: progress.watched[k] for k in WATCHED if k in progress.watched}
                   | {"collapse": int(bool(reasons)), "quality": plateau_figure(progress.watched)})
        self.seconds += time.time() - t0
        return samples, figures


def keep_best(state: TrainState, quality: float, alpha: float, patience_kimg: float) -> None:
    """Record the last watch as the best when its ``quality`` beats the best by MIN_DELTA; with
    ``patience_kimg`` keep what it would hand on too."""
    progress = state.progress
    # Only a faded-in model (alpha 1) may be handed on, so the plateau clock starts there, and
    # only at a quality above 0: at 8 px on 48 paintings recall stayed 0 for 5.5 of 8 kimg.
    if alpha == 1.0 and quality > progress.best_quality + MIN_DELTA:
        progress.best_quality, progress.best_nimg = quality, progress.nimg
        progress.best_watched, progress.best_reasons = dict(progress.watched), progress.collapse_reasons
        if patience_kimg:
            state.best = copy.deepcopy(state.handed_on())


def plateaued(progress: Progress, patience_kimg: float) -> bool:
    """No better watch for ``patience_kimg`` since the best (0: never)."""
    return (patience_kimg > 0 and progress.best_nimg is not None
            and progress.nimg - progress.best_nimg >= patience_kimg * 1000)


# ---------------------------------------------------------------- training

def build(cfg: TrainConfig, start: dict | None):
    """Networks and optimizers; from ``start`` (previous resolution's state) grow one block."""
    if start is None:
        G = ckpt.build_generator(cfg.model_config())
        D = ckpt.build_discriminator(cfg.model_config())
        G_ema = copy.deepcopy(G)
    else:
        model = cfg.model_config()
        if start["config"].get("skip", False) != model["skip"] and start["config"]["resolution"] > start["config"]["base"]:
            raise GrowthMismatch(f"train {cfg.resolution}px: the {start['config']['resolution']} px model was grown with "
                                 f"train.growth={'fade' if model['skip'] else 'skip'}; retrain every rung with "
                                 f"train.growth={cfg.growth}")
        for key in ("latent_cells", "latent_scale"):
            if start["config"].get(key, 0) != model[key]:
                raise GrowthMismatch(f"train {cfg.resolution}px: the {start['config']['resolution']} px model was trained "
                                     f"with train.{key}={start['config'].get(key, 0)}, this stage has {model[key]}; "
                                     f"retrain every rung with the same train.{key}")
        prev = dict(start["config"], channels=model["channels"], skip=model["skip"])
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
    # NHWC on every device: tensor cores want it on CUDA, and oneDNN's CPU convolutions run these small
    # layers faster in it (2 idle cores: 1.10x, 1.16x, 1.29x and 1.51x the images/s at 16, 32, 64 and 128 px).
    for net in (G, D, G_ema):
        net.to(cfg.device, memory_format=torch.channels_last)
    G_ema.eval().requires_grad_(False)
    # Adam beta1 = 0, beta2 = 0.99 (ProGAN); optimizer state starts fresh at each resolution. foreach: one
    # multi-tensor update per step on the CPU too, where torch otherwise loops over the parameters.
    opt_g = torch.optim.Adam(G.parameters(), lr=cfg.lr, betas=(0.0, 0.99), eps=1e-8, foreach=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=cfg.lr, betas=(0.0, 0.99), eps=1e-8, foreach=True)
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
    if batch % cfg.pack:
        raise ValueError(f"train {cfg.resolution}px: {batch} images per process do not split into packs of "
                         f"train.pack ({cfg.pack}); use a batch that is a multiple of {cfg.pack * size}")
    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.startswith("cuda"))
    grown = start is not None
    fade_nimg = cfg.fade_kimg * 1000 if grown else 0
    total_nimg = int(cfg.total_kimg * 1000)
    watch_every, ckpt_every = int(cfg.watch_kimg * 1000), int(cfg.checkpoint_kimg * 1000)

    # The state: networks (grown from start), optimizers, augmentation, counters, RNGs.
    G, D, g_ema, opt_g, opt_d = build(cfg, start)
    broadcast_from_rank0(G, D, g_ema)
    ada = AdaptiveP(start["ada_p"] if start else cfg.augment_p, cfg.ada_target, cfg.ada_kimg)
    state = TrainState(G, D, g_ema, opt_g, opt_d, ada, gens, Progress(lr=cfg.lr))
    progress = state.progress
    watch = Watch(cfg, reals, rank)

    # Resume a killed run from its last checkpoint, which is also what a rollback returns to.
    resume_file = resume_dir / "checkpoint.pt"
    if resume_file.exists():
        state.load_state_dict(ckpt.load(resume_file, device))
        if rank == 0:
            print(f"train {cfg.resolution}: resuming at {progress.nimg / 1000:.1f} kimg from {resume_file}")
            if live is not None:
                for row in progress.history:
                    log_row(live, row)
    last_good = state.snapshot()

    bar = tqdm(total=total_nimg / 1000, initial=progress.nimg / 1000, unit="kimg", desc=f"train {cfg.resolution}px",
               disable=rank != 0, bar_format="{l_bar}{bar}| {n:.1f}/{total:.1f} kimg [{elapsed}<{remaining}]")
    t0, nimg0, logs = time.time(), progress.nimg, {}
    next_watch, next_ckpt = next_multiple(progress.nimg, watch_every), next_multiple(progress.nimg, ckpt_every)
    while progress.nimg < total_nimg:
        # Fetch reals, faded like the generator's output while the new block fades in.
        alpha = min(1.0, progress.nimg / fade_nimg) if fade_nimg else 1.0
        real = fade_reals(fetch_reals(data, batch, cfg.xflip, gens["data"], device), alpha, cfg.growth == "skip")
        score = critic(state, cfg.augment, alpha, autocast)
        # The learning rate along its schedule (constant at lr_decay 1); a rollback's halving of
        # progress.lr carries through. Gamma's schedule is penalty_weight's.
        t = progress.nimg / total_nimg
        lr = progress.lr * cosine_share(cfg.lr_decay, t)
        if cfg.lr_decay != 1.0:
            state.set_lr(lr)

        # Discriminator step.
        with autocast:
            fake = G(torch.randn(batch, cfg.z_dim, device=device), alpha).float()
        loss_d, logs_d, sureness = d_loss(cfg.loss, score, real, fake.detach(),
                                          penalty_weight(cfg, progress.step, t), gens["aug"])
        penalty = logs_d.get("penalty", 0.0)
        if diverged([loss_d.item()], penalty, cfg.gp_limit, device):
            roll_back(state, last_good, cfg, rank, loss_d.item(), math.nan, penalty)
            continue
        optimizer_step(opt_d, loss_d, D)
        ada.observe(sureness)

        # Generator step, against the updated discriminator.
        with frozen(D):
            z = torch.randn(batch, cfg.z_dim, device=device)
            with autocast:
                fake = G(z, alpha).float()
            loss_g = g_loss(cfg.loss, score, fake, real)
            if cfg.mode_seeking > 0:
                loss_g = loss_g + cfg.mode_seeking * mode_seeking(z, fake)
            if diverged([loss_g.item()], 0.0, cfg.gp_limit, device):
                roll_back(state, last_good, cfg, rank, loss_d.item(), loss_g.item(), penalty)
                continue
            optimizer_step(opt_g, loss_g, G)

        # Counters, EMA, augmentation strength.
        progress.nimg += cfg.batch
        progress.step += 1
        update_ema(g_ema, G, cfg.batch, cfg.ema_kimg, progress.nimg, None if grown else cfg.ema_rampup)
        if progress.step % 4 == 0:
            adapt_p(ada, 4 * cfg.batch, device)
        logs = {"g_loss": loss_g.item(), **logs_d, "alpha": alpha}
        bar.update(progress.nimg / 1000 - bar.n)   # back after a rollback, else the bar overruns its total

        # Watch and log; stop on a plateau.
        if progress.nimg >= next_watch or progress.nimg >= total_nimg:
            next_watch += watch_every
            samples, figures = watch(g_ema, alpha, progress, autocast)
            if "quality" in figures:
                keep_best(state, figures["quality"], alpha, cfg.patience_kimg)
            kimg_s = (progress.nimg - nimg0) / 1000 / max(time.time() - t0, 1e-9)
            row = {"step": progress.nimg, "kimg": progress.nimg / 1000, **logs, "augment_p": ada.p,
                   "ada_rt": ada.last_rt, **figures, "kimg_per_s": kimg_s, "lr": lr,
                   "gamma": scheduled_gamma(cfg, t)}
            progress.history.append(row)
            if rank == 0:
                bar.set_postfix(g=f"{logs['g_loss']:.2f}", d=f"{logs['d_loss']:.2f}", p=f"{ada.p:.2f}",
                                recall=f"{figures.get('recall', math.nan):.2f}", modes=figures.get("modes", "-"))
                if live is not None:
                    log_row(live, row, Image.fromarray(image_grid(to_uint8(samples), columns=8)))
            if all_mean(float(plateaued(progress, cfg.patience_kimg)), device) > 0:   # rank 0 watches; all stop
                progress.stop_reason = "plateau"
                break

        # Checkpoint: what a killed run resumes from and a rollback returns to.
        if progress.nimg >= next_ckpt:
            next_ckpt += ckpt_every
            last_good = state.snapshot()
            if rank == 0:
                ckpt.save(last_good, resume_file)
    bar.close()

    # The stage hands on its best watch when it kept one, else its last; the summary describes that one.
    final = state.best if state.best is not None else state.handed_on()
    g_ema.load_state_dict(final["g_ema"])
    watched, reasons = ((progress.best_watched, progress.best_reasons) if state.best is not None
                        else (progress.watched, progress.collapse_reasons))
    summary = {"kimg": progress.nimg / 1000, "seconds": time.time() - t0,
               "kimg_per_s": (progress.nimg - nimg0) / 1000 / max(time.time() - t0, 1e-9),
               "augment_p": final["ada_p"], "diversity": progress.history[-1]["diversity"] if progress.history else None,
               "diversity_min": progress.diversity_min,
               # The verdict of the watch handed on (an untrained start is not collapse).
               "collapse_flag": bool(reasons), "collapse_reason": "; ".join(reasons),
               "collapse_watches": progress.collapse_watches, "collapse_kimg": progress.collapse_kimg,
               **{k: v for k, v in watched.items() if k in WATCHED or k.startswith("real_")},  # handed-on watch
               "stop_reason": progress.stop_reason, "stop_kimg": progress.nimg / 1000,
               "best_kimg": progress.best_nimg / 1000 if progress.best_nimg is not None else None,
               "best_quality": progress.best_quality if progress.best_nimg is not None else None,
               "watch_seconds": watch.seconds,
               "rollbacks": progress.rollbacks, "g_loss": logs.get("g_loss"), "d_loss": logs.get("d_loss")}
    if rank == 0:
        ckpt.write_model_dir(out_dir, cfg.model_config(), final, {"summary": summary, "train": asdict(cfg)})
        grid = image_grid(generate(g_ema, watch.fixed_z), columns=8)
        with atomic_path(out_dir / "samples.png") as tmp:
            Image.fromarray(grid).save(tmp, format="PNG")
    return summary
