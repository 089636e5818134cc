import numpy as np
import pytest
from PIL import Image

from model_helpers import write_untrained_model
from pipeline.generate import main, parse_print_size, slerp, to_print


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return write_untrained_model(tmp_path_factory.mktemp("models") / "32", resolution=32, base=16)


def test_writes_n_samples_reproducibly(model, tmp_path):
    main(["--model", str(model), "--n", "3", "--out", str(tmp_path / "a"), "--seed", "7"])
    main(["--model", str(model), "--n", "3", "--out", str(tmp_path / "b"), "--seed", "7"])
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert files == ["sample_0000.png", "sample_0001.png", "sample_0002.png"]
    for name in files:
        a, b = Image.open(tmp_path / "a" / name), Image.open(tmp_path / "b" / name)
        assert a.size == (32, 32)
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_print_export_records_dpi_and_pixel_size(model, tmp_path, capsys):
    main(["--model", str(model), "--n", "1", "--out", str(tmp_path), "--print", "2x2.5in", "--dpi", "120"])
    im = Image.open(tmp_path / "print_0000.png")
    assert im.size == (240, 300)
    assert round(im.info["dpi"][0]) == 120 == round(im.info["dpi"][1])
    assert "from a 32 px" in im.info["Description"]
    assert "UPSCALED" in capsys.readouterr().out
    main(["--model", str(model), "--n", "1", "--out", str(tmp_path / "t"), "--print", "10x10cm", "--dpi", "254",
          "--format", "tiff"])
    tif = Image.open(tmp_path / "t" / "print_0000.tif")
    assert tif.size == (1000, 1000) and tif.info["dpi"] == (254, 254)


def test_print_crop_keeps_the_centre():
    sample = np.zeros((32, 32, 3), np.uint8)
    sample[:, :4] = 255                      # a white stripe at the left edge is cropped away for a tall print
    tall = np.asarray(to_print(sample, (40, 80)))
    assert tall.shape == (80, 40, 3) and tall.max() < 40


def test_print_size_parsing():
    assert parse_print_size("12x15in") == (12.0, 15.0)
    assert parse_print_size("25.4x50.8mm") == pytest.approx((1.0, 2.0))
    with pytest.raises(ValueError):
        parse_print_size("12x15")


def test_interpolation_writes_a_gif_and_strip(model, tmp_path):
    main(["--model", str(model), "--n", "2", "--out", str(tmp_path), "--interpolate", "3"])
    gif = Image.open(tmp_path / "walk.gif")
    assert gif.n_frames == 6
    assert (tmp_path / "walk_strip.png").exists()


def test_slerp_keeps_the_norm_halfway_where_a_straight_line_cuts_the_corner():
    """Two orthogonal latents of norm 3: the spherical midpoint has norm 3; the linear one 3 / sqrt(2) = 2.12."""
    import torch
    a, b = torch.zeros(8, dtype=torch.float64), torch.zeros(8, dtype=torch.float64)
    a[0], b[1] = 3.0, 3.0
    mid = slerp(a, b, torch.tensor([0.5], dtype=torch.float64))
    assert mid.norm().item() == pytest.approx(3.0)
    assert mid[0].item() == pytest.approx(mid[1].item()) == pytest.approx(3 / 2 ** 0.5)


def test_slerp_ends_at_its_endpoints():
    a, b = np.random.default_rng(0).standard_normal((2, 8))
    import torch
    a, b = torch.tensor(a), torch.tensor(b)
    assert torch.allclose(slerp(a, b, torch.tensor([0.0])), a)
    assert torch.allclose(slerp(a, b, torch.tensor([1.0])), b)


def test_pick_best_keeps_the_highest_scoring_candidates(model, tmp_path):
    import torch
    from pipeline.gan.checkpoint import load_discriminator
    from pipeline.gan.sampling import to_float
    main(["--model", str(model), "--n", "2", "--out", str(tmp_path / "all"), "--seed", "3", "--candidates", "8",
          "--pick", "all"])
    main(["--model", str(model), "--n", "2", "--out", str(tmp_path / "best"), "--seed", "3", "--candidates", "8",
          "--pick", "best"])
    main(["--model", str(model), "--n", "3", "--out", str(tmp_path / "div"), "--seed", "3", "--pick", "diverse"])
    assert len(list((tmp_path / "div").glob("sample_*.png"))) == 3
    # the kept images are the two best of the 8 candidates
    from pipeline.gan.checkpoint import load_generator
    from pipeline.gan.sampling import generate, latents
    G, info = load_generator(model)
    cands = generate(G, latents(8, info["z_dim"], 3))
    with torch.no_grad():
        scores = load_discriminator(model)(to_float(cands)).numpy()
    best = [np.asarray(Image.open(tmp_path / "best" / f"sample_000{i}.png")) for i in range(2)]
    for im, idx in zip(best, np.argsort(-scores)[:2]):
        assert np.array_equal(im, cands[idx])


def test_clear_errors_for_missing_and_mismatched_models(model, tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        main(["--model", str(tmp_path / "models" / "64"), "--n", "1", "--out", str(tmp_path)])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="generator.pt is missing"):
        main(["--model", str(tmp_path / "empty"), "--n", "1", "--out", str(tmp_path)])
    renamed = tmp_path / "64"
    renamed.mkdir()
    for f in model.iterdir():
        (renamed / f.name).write_bytes(f.read_bytes())
    with pytest.raises(SystemExit, match="holds a 32 px generator, not 64 px"):
        main(["--model", str(renamed), "--n", "1", "--out", str(tmp_path)])
