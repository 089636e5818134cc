"""train.latent_cells: the generator jumps at the borders of its latent cells, the cells are fixed and travel
with the model, and a rung grown with other cells is refused with the key named."""
import numpy as np
import torch
import yaml

from pipeline.gan.checkpoint import build_generator, load_generator
from pipeline.gan.layers import pixel_norm
from pipeline.gan.networks import Generator
from pipeline.synthetic import MODES, render
from train_helpers import make_project, run_stage

torch.set_num_threads(1)
CH = {4: 8, 8: 8, 16: 4}


def generators(cells: int):
    """The same weights with and without cells (the cells are buffers, not weights)."""
    torch.manual_seed(0)
    plain = Generator(16, CH, 16, 16)
    torch.manual_seed(0)
    celled = Generator(16, CH, 16, 16, cells=cells, cell_scale=0.6)
    celled.load_state_dict(plain.state_dict() | {k: v for k, v in celled.state_dict().items() if "cell_" in k})
    return plain.eval(), celled.eval()


def border_pair(G: Generator, tol: float = 1e-6):
    """Two latents within ``tol`` of each other on either side of a cell border (bisection along a line)."""
    g = torch.Generator().manual_seed(3)
    a, b = torch.randn(1, 16, generator=g), torch.randn(1, 16, generator=g)
    cell = lambda z: int(G.input.cell(pixel_norm(z)))
    while cell(a) == cell(b):
        b = torch.randn(1, 16, generator=g)
    lo, hi = 0.0, 1.0
    while hi - lo > tol:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cell(torch.lerp(a, b, mid)) == cell(a) else (lo, mid)
    return torch.lerp(a, b, lo), torch.lerp(a, b, hi)


def test_the_generator_jumps_at_a_cell_border_and_is_continuous_without_cells():
    plain, celled = generators(8)
    z0, z1 = border_pair(celled)
    assert int(celled.input.cell(pixel_norm(z0))) != int(celled.input.cell(pixel_norm(z1)))
    with torch.no_grad():
        jump = (celled(z0) - celled(z1)).abs().mean()
        smooth = (plain(z0) - plain(z1)).abs().mean()
    assert jump > 1e3 * smooth and jump > 1e-3


def test_cells_are_fixed_the_same_in_every_build_and_round_trip_through_the_model_config():
    config = {"z_dim": 16, "channels": CH, "resolution": 16, "base": 16, "skip": True,
              "latent_cells": 8, "latent_scale": 0.6}
    G, again = build_generator(config), build_generator(config)
    assert not any("cell_" in name for name, _ in G.named_parameters())      # nothing to train, nothing to drift
    for name in ("input.cell_dirs", "input.cell_offset"):
        torch.testing.assert_close(G.state_dict()[name], again.state_dict()[name])
    offset = G.state_dict()["input.cell_offset"]
    assert offset.shape == (8, 16) and 0.4 < offset.pow(2).mean().sqrt() < 0.8
    assert build_generator({**config, "latent_scale": 0.3}).state_dict()["input.cell_offset"].pow(2).mean().sqrt() < 0.4
    for off in ({**config, "latent_cells": 0}, {k: v for k, v in config.items() if not k.startswith("latent")}):
        assert build_generator(off).input.cells == 0                           # models from before the keys too
        assert not any("cell_" in k for k in build_generator(off).state_dict())


def test_a_stage_trains_with_cells_and_a_rung_grown_with_other_cells_is_refused(tmp_path):
    root = make_project(tmp_path / "p", size=8, train={"latent_cells": 8})
    done = run_stage(root, size=8, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    G, config = load_generator(root / "models" / "8")
    assert config["latent_cells"] == 8 and config["latent_scale"] == 0.6 and G.input.cells == 8
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["ladder"]["grow"] = {"16": 8}
    params["res"]["16"] = {"batch": 8, "lr": 0.002, "fade_kimg": 0.2, "stable_kimg": 0.2}
    params["train"]["latent_cells"] = 0
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    rng = np.random.default_rng(1)
    np.save(root / "data" / "prepared" / "16.npy", np.stack([render(i % len(MODES), 16, rng) for i in range(48)]))
    done = run_stage(root, size=16, timeout=120)
    assert done.returncode == 1
    assert "the 8 px model was trained with train.latent_cells=8, this stage has 0" in done.stderr
    assert "Traceback" not in done.stderr
