"""One knob to grow: train.size picks the rungs that train; the rest of the ladder idles in a second."""
from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from pipeline import evaluate as E
from pipeline import generate as G
from pipeline import prepare
from pipeline.gan.ladder import IDLE, Ladder
from pipeline.params import ParamError
from test_prepare import _store
from train_helpers import make_project, run_stage


def test_train_size_picks_the_rungs_that_train():
    ladder = Ladder.of({"train": {"size": 128}})
    assert ladder.sizes == [16, 32, 64, 128, 256] and ladder.trained == [16, 32, 64, 128] and ladder.top == 128
    assert Ladder.of({}).trained == [16, 32, 64]   # the default top
    assert Ladder.of({"ladder": {"base": 8, "grow": {"16": 8}}}).top == 16   # a shorter ladder: its top


@pytest.mark.parametrize("size, match", [
    (48, "train.size: resolution 48 is not a power of two"),
    (512, r"train.size: 512 px is not on the ladder .*\+ladder.grow.512=256"),
    (8, "train.size: 8 px is not on the ladder"),
    (True, "train.size: expected int"),
])
def test_a_bad_train_size_names_the_key(size, match):
    with pytest.raises(ParamError, match=match):
        Ladder.of({"train": {"size": size}})


def test_prepare_gives_rungs_above_the_top_an_empty_array(tmp_path):
    raw, manifest = _store(tmp_path, [40, 70, 90, 140])
    stats = prepare.run(raw, manifest, tmp_path / "a", [32, 64, 128], workers=1, idle={64, 128})
    assert np.load(tmp_path / "a" / "64.npy").shape == (0, 64, 64, 3)
    assert stats["resolutions"]["128"] == {"images": 0, "idle": True}
    assert not (tmp_path / "a" / "preview_64.png").exists()
    # the rung below the top is the same bytes whatever the top
    prepare.run(raw, manifest, tmp_path / "b", [32, 64, 128], workers=1, idle={128})
    assert (tmp_path / "a" / "32.npy").read_bytes() == (tmp_path / "b" / "32.npy").read_bytes()
    assert np.load(tmp_path / "b" / "64.npy").shape == (3, 64, 64, 3)


def test_a_rung_with_no_images_idles_without_training(tmp_path):
    root = make_project(tmp_path / "p", size=8)
    np.save(root / "data" / "prepared" / "8.npy", np.zeros((0, 8, 8, 3), np.uint8))
    (root / "models" / "8").mkdir(parents=True)
    (root / "models" / "8" / "stale.pt").write_bytes(b"old")   # a run by hand leaves nothing stale
    proc = run_stage(root, size=8)
    assert proc.returncode == 0, proc.stderr
    assert "idle" in proc.stdout
    for folder in ("models", "dvclive"):
        assert [p.name for p in (root / folder / "8").iterdir()] == [IDLE]
    assert not (root / ".resume").exists()


def test_a_params_typo_stops_an_idle_rung_too(tmp_path):
    root = make_project(tmp_path / "p", size=8, train={"gama": 1.0})
    np.save(root / "data" / "prepared" / "8.npy", np.zeros((0, 8, 8, 3), np.uint8))
    proc = run_stage(root, size=8)
    assert proc.returncode != 0 and "train.gama" in proc.stderr


def test_evaluate_records_an_idle_rung(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models" / "64").mkdir(parents=True)
    (tmp_path / "models" / "64" / IDLE).write_text("{}")
    metrics = E.evaluate(64, {})
    assert metrics["idle"] is True
    assert json.loads((tmp_path / "metrics" / "res" / "64.json").read_text())["idle"] is True
    assert [p.name for p in (tmp_path / "plots" / "64").iterdir()] == [IDLE]


def test_generate_defaults_to_the_top_model_and_refuses_an_idle_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"size": 128}}))
    assert G.top_model(tmp_path / "params.yaml").as_posix() == "models/128"
    (tmp_path / "models" / "128").mkdir(parents=True)
    (tmp_path / "models" / "128" / IDLE).write_text("{}")
    with pytest.raises(SystemExit, match="above train.size"):
        G.main(["--out", str(tmp_path / "out")])


def test_an_idle_rung_needs_no_settings_of_its_own(tmp_path):
    """Rungs above train.size may lack res.<size> and train.channels.<size>: they never train."""
    root = make_project(tmp_path / "p", size=8)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["ladder"] = {"base": 8, "grow": {"16": 8, "32": 16}}   # no res.32, no train.channels.32 set here
    params["train"]["channels"] = {4: 8, 8: 8, 16: 4}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    np.save(root / "data" / "prepared" / "32.npy", np.zeros((0, 32, 32, 3), np.uint8))
    proc = run_stage(root, size=32)
    assert proc.returncode == 0 and "idle" in proc.stdout, proc.stderr
