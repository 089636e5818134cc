"""Generator EMA and model directories (write + load round trip, clear errors)."""
import pytest
import torch
from torch import nn

from pipeline.gan.checkpoint import (ModelDirError, build_discriminator, build_generator, load_discriminator,
                                     load_generator, write_model_dir)
from pipeline.gan.ema import update_ema

torch.set_num_threads(1)
CONFIG = {"z_dim": 16, "channels": {4: 8, 8: 8, 16: 4, 32: 4}, "resolution": 16, "base": 8, "mbstd_group": 4}


def test_ema_moves_by_the_half_life():
    ema, model = nn.Linear(2, 2), nn.Linear(2, 2)
    with torch.no_grad():
        ema.weight.fill_(0.0)
        model.weight.fill_(1.0)
    # batch = half-life: one update moves half way.
    beta = update_ema(ema, model, batch=500, half_life_kimg=0.5)
    assert beta == pytest.approx(0.5)
    torch.testing.assert_close(ema.weight, torch.full((2, 2), 0.5))
    # Two updates of a quarter half-life each: 1 - 0.5 ** 0.5 of the remaining distance, twice.
    update_ema(ema, model, batch=250, half_life_kimg=1.0)
    update_ema(ema, model, batch=250, half_life_kimg=1.0)
    torch.testing.assert_close(ema.weight, torch.full((2, 2), 1 - 0.5 * 0.5 ** 0.5))
    torch.testing.assert_close(model.weight, torch.ones(2, 2))   # the model is untouched


def test_ema_rampup_caps_the_half_life_early():
    ema, model = nn.Linear(1, 1), nn.Linear(1, 1)
    # 10 kimg half-life, but at 1000 images with rampup 0.05 the half-life is 50 images.
    beta = update_ema(ema, model, batch=50, half_life_kimg=10.0, nimg=1000, rampup=0.05)
    assert beta == pytest.approx(0.5)
    assert update_ema(ema, model, batch=50, half_life_kimg=10.0, nimg=10**7, rampup=0.05) \
        == pytest.approx(0.5 ** (50 / 10_000))


def write_dir(tmp_path):
    torch.manual_seed(0)
    G, D, G_ema = build_generator(CONFIG), build_discriminator(CONFIG), build_generator(CONFIG)
    write_model_dir(tmp_path / "m", CONFIG, {"G": G.state_dict(), "D": D.state_dict(), "g_ema": G_ema.state_dict()},
                    {"note": "test"})
    return tmp_path / "m", G, D, G_ema


def test_model_dir_round_trip_gives_identical_outputs(tmp_path):
    model_dir, G, D, G_ema = write_dir(tmp_path)
    assert {p.name for p in model_dir.iterdir()} == {"generator.pt", "state.pt", "info.json"}
    G2, info = load_generator(model_dir)
    D2 = load_discriminator(model_dir)
    assert info["resolution"] == 16 and info["z_dim"] == 16 and info["note"] == "test"
    z, x = torch.randn(4, 16), torch.rand(4, 3, 16, 16) * 2 - 1
    with torch.no_grad():
        # generator.pt is the EMA generator, not the trained one.
        assert torch.equal(G2(z), G_ema(z))
        assert not torch.equal(G2(z), G(z))
        assert torch.equal(D2(x), D(x))
    assert not G2.training and not any(p.requires_grad for p in G2.parameters())


def test_missing_dir_and_files_raise_model_dir_error(tmp_path):
    with pytest.raises(ModelDirError, match="does not exist"):
        load_generator(tmp_path / "nowhere")
    with pytest.raises(ModelDirError, match="does not exist"):
        load_discriminator(tmp_path / "nowhere")
    model_dir, *_ = write_dir(tmp_path)
    (model_dir / "state.pt").unlink()
    with pytest.raises(ModelDirError, match="state.pt is missing"):
        load_discriminator(model_dir)
    load_generator(model_dir)                      # generator.pt alone is enough to sample
    (model_dir / "generator.pt").unlink()
    with pytest.raises(ModelDirError, match="generator.pt is missing"):
        load_generator(model_dir)


def test_generator_weights_that_do_not_match_the_config_are_a_model_dir_error(tmp_path):
    model_dir, *_ = write_dir(tmp_path)
    ckpt = torch.load(model_dir / "generator.pt", weights_only=False)
    ckpt["config"] = dict(ckpt["config"], resolution=32)
    torch.save(ckpt, model_dir / "generator.pt")
    with pytest.raises(ModelDirError, match="does not match its own config"):
        load_generator(model_dir)
