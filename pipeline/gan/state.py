"""The training loop's state as one object: networks, optimizers, augmentation, counters and RNGs.

``TrainState.state_dict()`` is the resume checkpoint (``checkpoint.pt``); ``handed_on()`` is what
the next resolution grows from (``state.pt``, see ``pipeline.gan.checkpoint``); ``snapshot()`` is a
detached copy to roll back to. Restoring works in place, so the loop's handles stay valid.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field, fields

import torch

from pipeline.gan.augment import AdaptiveP
from pipeline.gan.networks import Discriminator, Generator

# Everything with a state_dict, named as in the checkpoints: the networks, then their optimizers.
NETWORKS = ("G", "D", "g_ema")
OPTIMIZERS = ("opt_g", "opt_d")


@dataclass
class Progress:
    """How far the stage got and what its watches found: the checkpoint's ``state`` record."""
    nimg: int = 0                  # images shown, all ranks together
    step: int = 0
    history: list[dict] = field(default_factory=list)   # the logged rows, replayed to dvclive on resume
    rollbacks: int = 0
    lr: float = math.nan           # the config's, halved by each rollback
    diversity_min: float = math.inf
    collapse_reasons: list[str] = field(default_factory=list)   # the last watch's verdict
    collapse_watches: int = 0
    collapse_kimg: float | None = None
    watched: dict = field(default_factory=dict)                 # the last watch's figures
    stop_reason: str = "cap"
    best_quality: float = 0.0      # the plateau rule's best watch (nimg None: none yet)
    best_nimg: int | None = None
    best_watched: dict = field(default_factory=dict)
    best_reasons: list[str] = field(default_factory=list)


@dataclass
class TrainState:
    """One stage's training state; the loop updates it, checkpoints save and restore it whole."""
    G: Generator
    D: Discriminator
    g_ema: Generator
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    ada: AdaptiveP
    gens: dict[str, torch.Generator]    # the loop's own RNGs; the global torch RNG is saved beside them
    progress: Progress
    best: dict | None = None            # with patience_kimg: handed_on() at the best watch so far

    def _states(self, names: tuple[str, ...]) -> dict:
        return {k: getattr(self, k).state_dict() for k in names}

    def handed_on(self) -> dict:
        """What the next resolution grows from (state.pt): networks, optimizers, augmentation p, images shown."""
        return {**self._states(NETWORKS), "ada_p": self.ada.p, "nimg": self.progress.nimg,
                **self._states(OPTIMIZERS)}

    def state_dict(self) -> dict:
        """Everything a killed run needs to continue bit for bit (checkpoint.pt); shares the live tensors."""
        return {**self._states(NETWORKS + OPTIMIZERS), "ada": self.ada.state_dict(),
                "state": {f.name: getattr(self.progress, f.name) for f in fields(Progress)},
                "rng": {"torch": torch.get_rng_state(), **{k: g.get_state() for k, g in self.gens.items()}},
                "best": self.best}

    def snapshot(self) -> dict:
        """A copy of ``state_dict()`` that later steps leave alone."""
        return copy.deepcopy(self.state_dict())

    def load_state_dict(self, snap: dict) -> None:
        """Restore a ``state_dict()`` in place, so the loop's handles stay valid. As in torch, the
        optimizers adopt ``snap``'s moment tensors rather than copying them (a rollback passes a copy)."""
        for k in NETWORKS + OPTIMIZERS:
            getattr(self, k).load_state_dict(snap[k])
        self.ada.load_state_dict(snap["ada"])
        for k, v in copy.deepcopy(snap["state"]).items():
            setattr(self.progress, k, v)
        self.best = copy.deepcopy(snap["best"])
        torch.set_rng_state(snap["rng"]["torch"])
        for k, g in self.gens.items():
            g.set_state(snap["rng"][k])

    def set_lr(self, lr: float) -> None:
        """Set every optimizer's learning rate (a restore brings back the saved one)."""
        for k in OPTIMIZERS:
            for group in getattr(self, k).param_groups:
                group["lr"] = lr
