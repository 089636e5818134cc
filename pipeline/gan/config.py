"""What one resolution trains with: ``TrainConfig``, read from params.yaml's ``train`` and ``res.<size>``.

Kept apart from the training loop (and from torch) so a stage checks its params
in a fraction of a second, before the heavy imports.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from pipeline.gan.ladder import Ladder
from pipeline.params import ParamError, knob, read, resolution

LOSSES = ("wgan-gp", "ns-r1", "rpgan")
GROWTHS = ("skip", "fade")   # networks.Generator: skip=True (StyleGAN2's skip generator) or ProGAN's hand-over
POLICIES = ("color", "translation", "cutout")   # DiffAugment transforms (pipeline.gan.augment)
# Per-resolution keys (``res.<size>``); the base trains ``kimg``, a grown size fades in, then stabilises;
# either may end sooner on a plateau of the watched quality (``patience_kimg``).
BASE_KEYS = ("batch", "lr", "ema_kimg", "kimg", "patience_kimg")
GROWN_KEYS = ("batch", "lr", "ema_kimg", "fade_kimg", "stable_kimg", "patience_kimg")
LENGTH_KEYS = ("kimg", "fade_kimg", "stable_kimg")   # required where they apply
# Shared keys (``train``), each a params dep of every train stage in dvc.yaml; ``train.size`` (Ladder.top)
# is deliberately not among them, so changing the top leaves the trained rungs cached.
# Every other field is fixed by the stage (resolution, base) or internal.
SHARED_KEYS = ("seed", "device", "z_dim", "channels", "loss", "gamma", "r1_every", "augment",
               "augment_p", "ada_target", "ada_kimg", "xflip", "watch_kimg", "watch_samples",
               "collapse_modes", "collapse_top3", "collapse_recall", "checkpoint_kimg", "max_rollbacks", "mbstd_group",
               "mode_seeking", "pack", "growth", "lr_decay", "gamma_decay", "latent_cells", "latent_scale")
# Widths for 2 CPU cores; ProGAN-like on a GPU: {4: 512, 8: 512, 16: 512, 32: 512, 64: 256, 128: 128, 256: 64}
CPU_CHANNELS = {4: 32, 8: 32, 16: 16, 32: 16, 64: 8, 128: 8, 256: 8}


@dataclass
class TrainConfig:
    resolution: int
    base: int
    seed: int = knob(0, minimum=0)
    device: str = knob("auto", choices=("auto", "cpu", "cuda"))
    z_dim: int = knob(128, minimum=1)
    channels: dict[int, int] = knob(CPU_CHANNELS, minimum=1)
    batch: int = knob(16, minimum=2)
    lr: float = knob(0.002, minimum=0)
    kimg: float = knob(0.0, minimum=0)          # base resolution: images shown, in thousands
    fade_kimg: float = knob(0.0, minimum=0)     # grown resolution: fade-in, then stabilise
    stable_kimg: float = knob(0.0, minimum=0)
    # End the stage once the watched quality (watch.plateau_figure) has not improved for this many kimg
    # after the fade-in, and keep its best snapshot; 0: off, train to the cap (kimg / fade + stable).
    patience_kimg: float = knob(0.0, minimum=0)
    # rpgan over ns-r1 on 3 seeds each at the default budget (README "Quality at the default budget")
    loss: str = knob("rpgan", choices=LOSSES)
    gamma: float = knob(1.0, minimum=0)
    r1_every: int = knob(4, minimum=1)          # lazy regularisation interval (ns-r1, rpgan)
    # R3GAN's schedules: over each stage, the learning rate and gamma fall along a cosine from their
    # value to this share of it at the stage's cap (R3GAN: lr 4x, gamma 10x); 1: constant
    lr_decay: float = knob(1.0, minimum=0, maximum=1)
    gamma_decay: float = knob(1.0, minimum=0, maximum=1)
    # generator EMA half-life, thousands of images, per stage (res.<size>.ema_kimg): a grown rung starts at
    # zero and trains a few kimg, so a long half-life keeps its early, faint state (README)
    ema_kimg: float = knob(3.0, minimum=0)
    ema_rampup: float | None = 0.05
    augment: tuple[str, ...] = knob(POLICIES, choices=POLICIES)
    # raise p while E[sign(D(real))] is above this; rpgan: E[sign(D(real) - D(fake))], each pair's margin
    ada_target: float = knob(0.6, minimum=0, maximum=1)
    ada_kimg: float = knob(20.0, minimum=0)
    augment_p: float = knob(0.0, minimum=0, maximum=1)   # starting probability of each transform
    xflip: bool = False
    # Quality watch (pipeline.gan.watch) and log interval. Measured on 2 shared CPU cores: a watch of
    # 256 samples takes 1.3-2.5 s at 16 px, 2.9-5 s at 64 px; an 8 kimg 16 px stage spent 7.5 of 357 s.
    watch_kimg: float = knob(4.0, minimum=0.001)
    watch_samples: int = knob(256, minimum=8)       # EMA samples per watch, against as many reals
    collapse_modes: float = knob(0.75, minimum=0, maximum=1)   # thresholds of watch.CollapseRule
    collapse_top3: float = knob(0.5, minimum=0, maximum=1)
    collapse_recall: float = knob(0.5, minimum=0, maximum=1)
    checkpoint_kimg: float = knob(2.0, minimum=0.001)
    gp_limit: float = 1e4        # a penalty above this counts as an explosion
    max_rollbacks: int = knob(3, minimum=0)
    mbstd_group: int = knob(4, minimum=1)
    # weight of the MSGAN regulariser in the G loss; 0: off. 0.02 is chosen with the latent cells below
    mode_seeking: float = knob(0.02, minimum=0)
    # PacGAN (Lin et al. 2018): D scores this many samples at once, stacked along channels; 1: off
    pack: int = knob(1, minimum=1)
    # How a grown rung's output relates to the lower one's: skip adds detail to its upsampled output, fade
    # (ProGAN) replaces it once faded in (networks.Generator). skip over fade on 3 seeds at 64 px: recall
    # 0.25 vs 0.12, KID 0.41 vs 1.17 (README "Quality at the default budget")
    growth: str = knob("skip", choices=GROWTHS)
    # Latent cells (networks.GInput): this many cells, each adding a fixed offset of this RMS to the
    # normalised latent; 0: off. 64 at 0.6 with mode seeking 0.02, against neither, at 64 px: unclassified
    # 0.34 vs 0.49 and recall 0.276 vs 0.319 on seeds 0-2, 0.35 vs 0.46 and 0.327 vs 0.252 on held-out
    # seeds 21-23 (README "Quality at the default budget")
    latent_cells: int = knob(64, minimum=0)
    latent_scale: float = knob(0.6, minimum=0)

    @classmethod
    def from_params(cls, train: Mapping, res: Mapping, ladder: Ladder, size: int) -> "TrainConfig":
        """The config of resolution ``size`` from the ``train`` and ``res`` sections; errors name the key."""
        frm = ladder.source(size)
        shared = cls.shared(train, size)
        entry, name = res_entry(res, size)
        keys = BASE_KEYS if frm is None else GROWN_KEYS
        for key in entry:
            if key in BASE_KEYS + GROWN_KEYS and key not in keys:
                raise ParamError(f"{name}.{key}", "the base resolution trains `kimg`; a grown one uses "
                                 "`fade_kimg` and `stable_kimg`" + (" (this is the base)" if frm is None else ""))
        for key in keys:
            if key in LENGTH_KEYS and key not in entry:
                raise ParamError(f"{name}.{key}", "missing (thousands of images to train)")
        cfg = cls(resolution=size, base=ladder.base, **shared, **read(cls, entry, name, keys))
        needed = [2 ** i for i in range(2, size.bit_length())]
        for s in needed:
            if s not in cfg.channels:
                raise ParamError(f"train.channels.{s}", f"missing (needed for resolution {size})")
        cfg.channels = {s: cfg.channels[s] for s in needed}
        if cfg.batch % cfg.pack:
            raise ParamError(f"{name}.batch", f"{cfg.batch} is not a multiple of train.pack ({cfg.pack}): "
                             "the discriminator scores packs of that many samples")
        packs = cfg.batch // cfg.pack   # what D's minibatch stddev groups
        if packs % cfg.mbstd_group and packs > cfg.mbstd_group:
            raise ParamError(f"{name}.batch", f"{cfg.batch} is not a multiple of train.mbstd_group ({cfg.mbstd_group})"
                             + (f" times train.pack ({cfg.pack})" if cfg.pack > 1 else ""))
        return cfg

    @classmethod
    def shared(cls, train: Mapping, size: int) -> dict:
        """The checked values of the ``train`` section (every resolution's); errors name the key."""
        train = dict(train)
        if isinstance(train.get("augment"), str):   # "color,cutout" reads as a list
            train["augment"] = [p.strip() for p in train["augment"].split(",") if p.strip()]
        for key in train:
            if key in BASE_KEYS + GROWN_KEYS:
                raise ParamError(f"train.{key}", f"a per-resolution setting: set it under res (res.{size}.{key})")
        train.pop("size", None)   # the ladder's top (Ladder): which rungs train, not how each trains
        return read(cls, train, "train", SHARED_KEYS)

    @property
    def total_kimg(self) -> float:
        return self.kimg if self.resolution == self.base else self.fade_kimg + self.stable_kimg

    def model_config(self) -> dict:
        return {"z_dim": self.z_dim, "channels": {int(k): v for k, v in self.channels.items()},
                "resolution": self.resolution, "base": self.base, "mbstd_group": self.mbstd_group,
                "pack": self.pack, "skip": self.growth == "skip",
                "latent_cells": self.latent_cells, "latent_scale": self.latent_scale if self.latent_cells else 0.0}


def res_entry(res: Mapping, size: int) -> tuple[Mapping, str]:
    """``res.<size>`` (keys are quoted in params.yaml; plain integers are accepted too)."""
    if not isinstance(res, Mapping):
        raise ParamError("res", "expected a mapping {size: {batch, lr, ...}}")
    sizes = {key: resolution(key, f"res.{key}") for key in res}   # every key checked, not only up to ours
    for key, entry in res.items():
        if sizes[key] == size:
            if not isinstance(entry, Mapping):
                raise ParamError(f"res.{key}", f"expected a mapping, got {entry!r}")
            return entry, f"res.{key}"
    raise ParamError(f"res.{size}", "missing: add per-resolution settings, e.g. "
                     "{batch: 16, lr: 0.002, fade_kimg: 5, stable_kimg: 5}")


