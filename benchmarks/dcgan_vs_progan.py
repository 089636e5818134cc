"""Mode coverage over wall-clock time: this project's progressive recipe against the PyTorch DCGAN tutorial.

Both train on the same prepared synthetic paintings (data/prepared/<size>.npy)
for the same budget of training time; every ``--every`` seconds 1,000 samples
of each are scored with the evaluation's mode counter (colourfield.classify +
metrics.modes). Scoring time is not counted in the budget.

(a) ours: ``pipeline.gan.loop.train`` with params.yaml's settings, the base
    stage then every grown stage up to ``--size``. The budget is split across
    stages in the proportion of the time params.yaml's kimg would take at each
    stage's measured speed (every stage's kimg is scaled by one factor). The
    speeds come from a short probe before the clock starts, so on a busy
    machine ours may overrun the budget: the printed times are the real ones.
(b) DCGAN, written from the tutorial's description: nz=100, ngf=ndf=64, BCE,
    Adam 2e-4 betas (0.5, 0.999), batch 128, N(0, 0.02) init (BatchNorm
    weights N(1, 0.02)), transposed-conv G with BatchNorm + ReLU and tanh,
    strided-conv D with LeakyReLU 0.2 and BatchNorm (not on the first layer).

    python -m benchmarks.dcgan_vs_progan [--size 64] [--minutes 10] [--every 60] [--samples 1000]
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline import params as P
from pipeline.gan.ladder import Ladder
from pipeline.gan import checkpoint as ckpt
from pipeline.gan import loop
from pipeline.gan.sampling import latents, to_float, to_uint8
from pipeline.metrics.modes import classify_in_chunks, mode_metrics
from pipeline.synthetic import MODE_NAMES, classify
from pipeline.train import config

NZ, NGF, NDF, BATCH, LR, BETAS = 100, 64, 64, 128, 2e-4, (0.5, 0.999)
EVAL_SEED = 7


# ---------------------------------------------------------------- scoring

class Scorer:
    """Mode coverage and KL of ``n`` samples against the training images' modes."""

    def __init__(self, train_images: np.ndarray, n: int):
        self.train_labels = classify_in_chunks(classify, train_images)
        self.n = n
        self.curve: list[dict] = []

    def __call__(self, images: np.ndarray, seconds: float, note: str = "") -> dict:
        m = mode_metrics(classify_in_chunks(classify, images), self.train_labels, len(MODE_NAMES))
        row = {"seconds": seconds, "covered": m["covered"], "train_modes": m["train_modes"],
               "kl": m["kl"], "unclassified": m["unclassified_share"], "note": note}
        self.curve.append(row)
        return row


class Clock:
    """Training time only: scoring is paused out."""

    def __init__(self):
        self.t0, self.paused = time.perf_counter(), 0.0

    def now(self) -> float:
        return time.perf_counter() - self.t0 - self.paused

    def pause(self):
        clock, start = self, time.perf_counter()

        class _Pause:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                clock.paused += time.perf_counter() - start
        return _Pause()


def print_row(name: str, row: dict) -> None:
    kl = f"{row['kl']:.3f}" if row["kl"] is not None else "  -  "
    print(f"{name:>6} {row['seconds']:8.1f} s  modes {row['covered']:2d}/{row['train_modes']}  KL {kl}  "
          f"unclassified {row['unclassified']:.2f} {row['note']}", flush=True)


# ---------------------------------------------------------------- (b) DCGAN

def dcgan_generator(size: int) -> nn.Sequential:
    n = int(math.log2(size)) - 2                     # upsamplings after the 4x4 start (64 px: 4)
    ch = [NGF * 2 ** i for i in reversed(range(n))]   # 64 px: 512, 256, 128, 64
    layers = [nn.ConvTranspose2d(NZ, ch[0], 4, 1, 0, bias=False), nn.BatchNorm2d(ch[0]), nn.ReLU(True)]
    for a, b in zip(ch, ch[1:]):
        layers += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU(True)]
    return nn.Sequential(*layers, nn.ConvTranspose2d(ch[-1], 3, 4, 2, 1, bias=False), nn.Tanh())


def dcgan_discriminator(size: int) -> nn.Sequential:
    n = int(math.log2(size)) - 2
    ch = [NDF * 2 ** i for i in range(n)]            # 64 px: 64, 128, 256, 512
    layers = [nn.Conv2d(3, ch[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
    for a, b in zip(ch, ch[1:]):
        layers += [nn.Conv2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.LeakyReLU(0.2, True)]
    # The tutorial ends in Sigmoid + BCELoss; BCEWithLogitsLoss on the logit is the same loss, stabler.
    return nn.Sequential(*layers, nn.Conv2d(ch[-1], 1, 4, 1, 0, bias=False), nn.Flatten(0))


def dcgan_init(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def run_dcgan(reals: np.ndarray, budget: float, every: float, scorer: Scorer, seed: int) -> None:
    torch.manual_seed(seed)
    size = reals.shape[1]
    G, D = dcgan_generator(size), dcgan_discriminator(size)
    G.apply(dcgan_init)
    D.apply(dcgan_init)
    opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    bce = nn.BCEWithLogitsLoss()
    data = to_float(reals)
    z_eval = latents(scorer.n, NZ, EVAL_SEED).view(-1, NZ, 1, 1)

    def score(t: float, note: str = "") -> None:
        G.eval()
        with torch.no_grad():
            images = np.concatenate([to_uint8(G(z_eval[i:i + 250])) for i in range(0, len(z_eval), 250)])
        G.train()
        print_row("dcgan", scorer(images, t, note))

    clock, next_score, nimg = Clock(), every, 0
    while clock.now() < budget:
        for idx in torch.randperm(len(data)).split(BATCH):   # epochs of shuffled batches, as a DataLoader would
            real = data[idx]
            ones, zeros = torch.ones(len(real)), torch.zeros(len(real))
            fake = G(torch.randn(len(real), NZ, 1, 1))
            loss_d = bce(D(real), ones) + bce(D(fake.detach()), zeros)
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            loss_g = bce(D(fake), ones)
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
            nimg += len(real)
            if clock.now() >= next_score:
                next_score += every
                with clock.pause():
                    score(clock.now())
            if clock.now() >= budget:
                break
    with clock.pause():
        score(clock.now(), f"(end, {nimg / 1000:.1f} kimg)")


# ---------------------------------------------------------------- (a) ours

class Watch:
    """Stands in for dvclive in ``loop.train``: at each watch point, scores the EMA generator."""

    def __init__(self, hook):
        self.hook, self.row = hook, {}

    def log_metric(self, key, value):
        self.row[key] = value

    def log_image(self, *args, **kwargs):
        pass

    def next_step(self):
        self.hook(self.row)
        self.row = {}


def stage_speed(cfg: loop.TrainConfig, reals: np.ndarray, start, steps: int = 4) -> float:
    """Images/s of a stage's training step, from a short run (2 warm-up steps, then ``steps``)."""
    with tempfile.TemporaryDirectory() as tmp:
        for n, name in ((2, "warm"), (steps, "measure")):
            probe = loop.TrainConfig(**{**cfg.__dict__, "kimg": n * cfg.batch / 1000, "fade_kimg": 0.0,
                                        "stable_kimg": n * cfg.batch / 1000, "watch_kimg": 1e6,
                                        "checkpoint_kimg": 1e6})
            summary = loop.train(probe, reals, start, Path(tmp) / name, Path(tmp) / f"{name}-resume")
    return summary["kimg_per_s"] * 1000


def run_ours(params: dict, arrays: dict[int, np.ndarray], size: int, budget: float, every: float,
             scorer: Scorer) -> None:
    sizes = [s for s in Ladder.from_params(params["ladder"]).sizes if s <= size]
    cfgs = {s: config(params, s)[0] for s in sizes}
    # Speeds need a start state for grown stages; an untrained one costs the same per step.
    speeds, start = {}, None
    for s in sizes:
        speeds[s] = stage_speed(cfgs[s], arrays[s], start)
        start = _untrained_state(cfgs[s])
    planned = {s: cfgs[s].total_kimg * 1000 / speeds[s] for s in sizes}    # seconds at params.yaml's kimg
    factor = budget / sum(planned.values())
    print(f"ours: stages {sizes}, img/s {', '.join(f'{speeds[s]:.0f}' for s in sizes)}; params.yaml kimg "
          f"would take {sum(planned.values()):.0f} s, scaled by {factor:.3f} to fit {budget:.0f} s", flush=True)

    z_eval = latents(scorer.n, cfgs[sizes[0]].z_dim, EVAL_SEED)
    nets: dict = {}
    build = loop.build

    def capture(cfg, start):
        out = build(cfg, start)
        nets["G_ema"] = out[2]
        return out

    clock = Clock()
    last = {"t": 0.0}

    def hook(row: dict) -> None:
        if clock.now() - last["t"] < every:
            return
        last["t"] = clock.now()
        with clock.pause():
            G = nets["G_ema"]
            with torch.no_grad():
                images = np.concatenate([to_uint8(G(z_eval[i:i + 250], row.get("alpha", 1.0)))
                                         for i in range(0, len(z_eval), 250)])
            if images.shape[1] != size:      # earlier stages: score at the final resolution, upscaled
                images = images.repeat(size // images.shape[1], 1).repeat(size // images.shape[1], 2)
            print_row("ours", scorer(images, clock.now(), f"({G.resolution} px, {row.get('kimg', 0):.1f} kimg)"))

    loop.build = capture
    start = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for s in sizes:
                cfg = cfgs[s]
                scaled = loop.TrainConfig(**{**cfg.__dict__, "kimg": cfg.kimg * factor,
                                             "fade_kimg": cfg.fade_kimg * factor,
                                             "stable_kimg": cfg.stable_kimg * factor,
                                             "watch_kimg": max(0.001, speeds[s] * min(every, 10) / 1000 / 2),
                                             "checkpoint_kimg": 1e6})
                loop.train(scaled, arrays[s], start, Path(tmp) / str(s), Path(tmp) / f"{s}-resume", Watch(hook))
                start = ckpt.load(Path(tmp) / str(s) / "state.pt")
    finally:
        loop.build = build
    last["t"] = -math.inf
    hook({"alpha": 1.0, "kimg": math.nan})
    scorer.curve[-1]["note"] = "(end)"


def _untrained_state(cfg: loop.TrainConfig) -> dict:
    """A start state of resolution ``cfg.resolution`` (for timing the next stage)."""
    G, D, G_ema, *_ = loop.build(cfg, None if cfg.resolution == cfg.base else _untrained_state(
        loop.TrainConfig(**{**cfg.__dict__, "resolution": cfg.resolution // 2})))
    return {"config": cfg.model_config(), "G": G.state_dict(), "D": D.state_dict(),
            "g_ema": G_ema.state_dict(), "ada_p": cfg.augment_p}


# ---------------------------------------------------------------- main

def load_params(size: int) -> dict:
    """params.yaml with the ladder extended to ``size`` (each step grows from half)."""
    raw = P.load()
    grow = raw.setdefault("ladder", {}).setdefault("grow", {}) or {}
    s = 2 * int(raw["ladder"]["base"])
    while s <= size:
        grow.setdefault(str(s), s // 2)
        s *= 2
    raw["ladder"]["grow"] = grow
    Ladder.from_params(raw["ladder"])   # errors name the key
    return raw


def prepared(size: int, data_dir: Path) -> np.ndarray:
    path = data_dir / f"{size}.npy"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `dvc repro prepare` (with {size} on the ladder)")
    return np.load(path)


def downscale(images: np.ndarray, size: int) -> np.ndarray:
    """Area downscaling of a uint8 batch (for stages whose prepared array is missing)."""
    f = images.shape[1] // size
    x = images.reshape(len(images), size, f, size, f, 3).astype(np.float32).mean((2, 4))
    return np.rint(x).astype(np.uint8)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=64, help="resolution of both GANs")
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget of each, in minutes")
    ap.add_argument("--every", type=float, default=60.0, help="score both every this many seconds of training")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--data", type=Path, default=Path("data/prepared"))
    ap.add_argument("--only", choices=("ours", "dcgan"), default=None, help="run one side only")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True, warn_only=True)
    params = load_params(args.size)
    reals = prepared(args.size, args.data)
    arrays = {s: (np.load(args.data / f"{s}.npy") if (args.data / f"{s}.npy").exists() else downscale(reals, s))
              for s in Ladder.from_params(params["ladder"]).sizes if s <= args.size}
    budget = args.minutes * 60
    print(f"{len(reals)} training images at {args.size} px; budget {budget:.0f} s each; "
          f"{args.samples} samples scored every {args.every:.0f} s; {torch.get_num_threads()} threads", flush=True)

    curves = {}
    for name, run in (("ours", lambda sc: run_ours(params, arrays, args.size, budget, args.every, sc)),
                      ("dcgan", lambda sc: run_dcgan(reals, budget, args.every, sc, config(params, Ladder.from_params(params["ladder"]).base)[0].seed))):
        if args.only in (None, name):
            scorer = Scorer(reals, args.samples)
            run(scorer)
            curves[name] = scorer.curve

    print("\nend points:")
    for name, curve in curves.items():
        print_row(name, curve[-1])
    if len(curves) == 2:
        target = curves["dcgan"][-1]["covered"]
        reached = next((r["seconds"] for r in curves["ours"] if r["covered"] >= target), None)
        print(f"ours reaches DCGAN's final coverage ({target} modes) at "
              + (f"{reached:.0f} s ({reached / budget:.0%} of the budget)" if reached is not None else "no point")
              + f"; target: at most {budget / 2:.0f} s and a higher end point")


if __name__ == "__main__":
    main()
