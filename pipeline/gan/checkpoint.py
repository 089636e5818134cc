"""Model directories and training checkpoints, always written atomically.

A model directory ``models/<size>/`` holds:

- ``generator.pt``: the EMA generator (config + weights) -- all sampling uses it;
- ``state.pt``: everything the next resolution needs (G, D, EMA, optimizers,
  augmentation p, image counter);
- ``info.json``: readable summary; ``samples.png``: a grid from fixed latents.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from pipeline.fsutil import write_json
from pipeline.gan.networks import Discriminator, Generator
from pipeline.runfiles import save


class ModelDirError(FileNotFoundError):
    pass


def load(path: Path | str, device: str = "cpu") -> Any:
    return torch.load(path, map_location=device, weights_only=False)


def build_generator(config: dict) -> Generator:
    return Generator(config["z_dim"], {int(k): v for k, v in config["channels"].items()},
                     config["resolution"], config["base"], config.get("skip", False),
                     config.get("latent_cells", 0), config.get("latent_scale", 0.0))


def build_discriminator(config: dict) -> Discriminator:
    return Discriminator({int(k): v for k, v in config["channels"].items()},
                         config["resolution"], config["base"], config.get("mbstd_group", 4), config.get("pack", 1))


def write_model_dir(model_dir: Path | str, config: dict, state: dict, info: dict) -> None:
    """Write generator.pt, state.pt and info.json (samples.png is the caller's)."""
    model_dir = Path(model_dir)
    save({"config": config, "weights": state["g_ema"]}, model_dir / "generator.pt")
    save({"config": config, **state}, model_dir / "state.pt")
    write_json(model_dir / "info.json", {**info, "config": config})


def _require(model_dir: Path, name: str) -> Path:
    path = model_dir / name
    if not model_dir.is_dir():
        raise ModelDirError(f"model directory {model_dir} does not exist (train it with `dvc repro`)")
    if not path.exists():
        raise ModelDirError(f"{model_dir} is not a model directory: {name} is missing")
    return path


def load_generator(model_dir: Path | str, device: str = "cpu") -> tuple[Generator, dict]:
    """The EMA generator of ``model_dir`` in eval mode, and its info (resolution, z_dim ...)."""
    model_dir = Path(model_dir)
    ckpt = load(_require(model_dir, "generator.pt"), device)
    G = build_generator(ckpt["config"]).to(device)
    try:
        G.load_state_dict(ckpt["weights"])
    except RuntimeError as e:
        raise ModelDirError(f"{model_dir}/generator.pt does not match its own config: {e}") from None
    info = {**ckpt["config"]}
    info_path = model_dir / "info.json"
    if info_path.exists():
        info = {**json.loads(info_path.read_text()), **info}
    return G.eval().requires_grad_(False), info


def load_discriminator(model_dir: Path | str, device: str = "cpu") -> Discriminator:
    """The discriminator of ``model_dir`` in eval mode (scores images for --pick best)."""
    model_dir = Path(model_dir)
    ckpt = load(_require(model_dir, "state.pt"), device)
    D = build_discriminator(ckpt["config"]).to(device)
    D.load_state_dict(ckpt["D"])
    return D.eval().requires_grad_(False)
