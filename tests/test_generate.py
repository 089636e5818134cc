import numpy as np
import pytest
from PIL import Image

from model_helpers import write_untrained_model, write_upscaler
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


@pytest.fixture(scope="module")
def upscaler(tmp_path_factory):
    return write_upscaler(tmp_path_factory.mktemp("upscale"))


def test_print_export_records_dpi_and_pixel_size(model, upscaler, tmp_path, capsys):
    main(["--model", str(model), "--n", "1", "--out", str(tmp_path), "--print", "2x2.5in", "--dpi", "120",
          "--upscaler", str(upscaler)])
    im = Image.open(tmp_path / "print_0000.png")
    assert im.size == (240, 300)
    assert round(im.info["dpi"][0]) == 120 == round(im.info["dpi"][1])
    # 25.6 x 32 px of the sample -> one x4 pass (102 x 128) -> Lanczos x2.34 to 240 x 300
    assert "from a 32 px" in im.info["Description"] and "1 learned x4 pass (" in im.info["Description"]
    assert "then Lanczos x2.34" in im.info["Description"]
    assert "1 learned x4 pass then Lanczos" in capsys.readouterr().out
    main(["--model", str(model), "--n", "1", "--out", str(tmp_path / "t"), "--print", "10x10cm", "--dpi", "254",
          "--format", "tiff", "--upscaler", "none"])
    tif = Image.open(tmp_path / "t" / "print_0000.tif")
    assert tif.size == (1000, 1000) and tif.info["dpi"] == (254, 254)


def test_print_crop_keeps_the_centre():
    sample = np.zeros((32, 32, 3), np.uint8)
    sample[:, :4] = 255                      # a white stripe at the left edge is cropped away for a tall print
    tall, passes = to_print(sample, (40, 80))
    assert np.asarray(tall).shape == (80, 40, 3) and np.asarray(tall).max() < 40 and passes == 0


def test_a_wall_print_at_12x15_inches_is_3600x4500_at_300_dpi_with_three_learned_passes(tmp_path):
    model = write_untrained_model(tmp_path / "64", resolution=64, base=16)
    up = write_upscaler(tmp_path / "up")
    main(["--model", str(model), "--n", "1", "--out", str(tmp_path / "out"), "--print", "12x15in", "--dpi", "300",
          "--upscaler", str(up)])
    im = Image.open(tmp_path / "out" / "print_0000.png")
    assert im.size == (3600, 4500) and tuple(round(d) for d in im.info["dpi"]) == (300, 300)
    assert "3 learned x4 passes" in im.info["Description"] and "3600x4500 px at 300 dpi" in im.info["Description"]
    main(["--model", str(model), "--n", "1", "--out", str(tmp_path / "two"), "--print", "12x15in", "--dpi", "300",
          "--upscaler", str(up), "--passes", "2"])
    two = Image.open(tmp_path / "two" / "print_0000.png")
    assert two.size == (3600, 4500) and "2 learned x4 passes (" in two.info["Description"]
    assert "then Lanczos x4.39" in two.info["Description"]


def test_one_tile_or_many_give_the_same_print_within_rounding(model, upscaler, tmp_path):
    for tile in (8, 1000):
        main(["--model", str(model), "--n", "1", "--out", str(tmp_path / str(tile)), "--print", "2x2.5in",
              "--dpi", "300", "--upscaler", str(upscaler), "--tile", str(tile)])
    a, b = (np.asarray(Image.open(tmp_path / str(t) / "print_0000.png")).astype(int) for t in (8, 1000))
    assert a.shape == (750, 600, 3)   # two passes: 25.6 x 32 -> 410 x 512, then Lanczos
    assert np.abs(a - b).max() <= 1


def test_the_learned_print_differs_from_lanczos_and_says_so(model, upscaler, tmp_path):
    for name, flag in (("learned", str(upscaler)), ("lanczos", "none")):
        main(["--model", str(model), "--n", "1", "--out", str(tmp_path / name), "--print", "2x2.5in", "--dpi", "120",
              "--upscaler", flag])
    learned, lanczos = (Image.open(tmp_path / n / "print_0000.png") for n in ("learned", "lanczos"))
    assert "Lanczos from a 32 px" in lanczos.info["Description"] and "learned" not in lanczos.info["Description"]
    assert np.abs(np.asarray(learned).astype(int) - np.asarray(lanczos).astype(int)).mean() > 1


def test_a_missing_upscaler_names_the_stage_and_the_way_around_it(model, tmp_path):
    with pytest.raises(SystemExit, match=r"dvc repro upscale.*--upscaler none"):
        main(["--model", str(model), "--n", "1", "--out", str(tmp_path), "--print", "2x2.5in",
              "--upscaler", str(tmp_path / "nowhere")])
    assert not list(tmp_path.glob("print_*"))


@pytest.mark.parametrize("content", [b"not a checkpoint", b""], ids=["garbage", "empty"])
def test_a_broken_upscaler_file_is_named_not_a_traceback(model, tmp_path, content):
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "upscaler.pt").write_bytes(content)
    with pytest.raises(SystemExit, match=r"up/upscaler.pt is not an upscaler saved by the upscale stage"):
        main(["--model", str(model), "--n", "1", "--out", str(tmp_path / "out"), "--print", "2x2.5in",
              "--upscaler", str(tmp_path / "up")])


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


def test_an_upscaler_that_lost_to_lanczos_on_its_held_out_images_is_printed_with_a_warning(model, tmp_path, capsys):
    up = write_upscaler(tmp_path / "up")
    (up / "info.json").write_text('{"held_out_gain_db": -2.07}')
    main(["--model", str(model), "--n", "1", "--out", str(tmp_path / "out"), "--print", "2x2.5in", "--dpi", "120",
          "--upscaler", str(up)])
    assert "2.07 dB worse than Lanczos" in capsys.readouterr().err
    (up / "info.json").write_text('{"held_out_gain_db": 1.5}')
    main(["--model", str(model), "--n", "1", "--out", str(tmp_path / "out"), "--print", "2x2.5in", "--dpi", "120",
          "--upscaler", str(up)])
    assert "WARNING" not in capsys.readouterr().err
