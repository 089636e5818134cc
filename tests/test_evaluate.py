import json
import math

import numpy as np
import pytest
import yaml
from PIL import Image

from metrics_helpers import paintings
from model_helpers import write_untrained_model
from pipeline import evaluate as E
from pipeline.metrics.settings import Settings
from pipeline.params import ParamError
from pipeline.synthetic import BLOCKS, COLOURFIELD, MODE_NAMES

SMALL = {"n_samples": 48, "seed": 1, "swd_images": 16, "msssim_pairs": 10, "distinct_images": 20,
         "memorization_samples": 20, "prdc_images": 16, "modes_min_count": 2, "panel_pairs": 4,
         "inception_weights": ""}


def _params(evaluate=None, grow=None):
    return {"scrape": {"sources": [{"kind": "synthetic", "n": 10, "size": 32, "seed": 0}]},
            "dedup": {}, "prepare": {}, "train": {}, "res": {},
            "ladder": {"base": 16, "grow": grow or {"32": 16}},
            "evaluate": dict(SMALL if evaluate is None else evaluate)}


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A working directory with prepared data and untrained models at 16 and 32 px."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(_params()))
    prepared = tmp_path / "data" / "prepared"
    prepared.mkdir(parents=True)
    for size in (16, 32):
        images = paintings(40, size, seed=size, modes=range(6))
        np.save(prepared / f"{size}.npy", images)
        modes = [MODE_NAMES[i % 6] for i in range(40)]
        (prepared / f"{size}.csv").write_text("row,sha256,mode\n" + "".join(f"{i},x{i},{m}\n" for i, m in enumerate(modes)))
        write_untrained_model(tmp_path / "models" / str(size), resolution=size, base=16)
    return tmp_path


def test_settings_errors_name_the_key(tmp_path):
    with pytest.raises(ParamError, match="evaluate.swd_images"):
        Settings.from_params({**SMALL, "swd_images": 0})
    with pytest.raises(ParamError, match="evaluate.inception_weights"):
        Settings.from_params({**SMALL, "inception_weights": str(tmp_path / "none.pth")})
    s = Settings.from_params({})
    assert s.n_samples == 1000 and s.swd_images == 256          # defaults fill a bare section


def test_train_labels(tmp_path):
    csv = tmp_path / "i.csv"
    csv.write_text("row,mode\n0,two-navy\n1,zip-ash\n")
    labels, family, reason = E.train_labels(csv, 2)
    assert labels.tolist() == [MODE_NAMES.index("two-navy"), MODE_NAMES.index("zip-ash")] and reason == ""
    assert family is COLOURFIELD
    csv.write_text("row,mode\n0,quad-coral\n1,band-sand\n")     # the held-out family
    labels, family, _ = E.train_labels(csv, 2)
    assert family is BLOCKS and labels.tolist() == [BLOCKS.mode_names.index(m) for m in ("quad-coral", "band-sand")]
    csv.write_text("row,mode\n0,two-navy\n1,\n")
    assert E.train_labels(csv, 2) == (None, None, "1 of 2 training images have no synthetic mode")
    csv.write_text("row,mode\n0,two-navy\n1,quad-coral\n")
    assert E.train_labels(csv, 2) == (None, None, "the training images' modes are of no single synthetic family")
    csv.write_text("row,sha256\n0,a\n")
    assert E.train_labels(csv, 1)[0] is None


def test_evaluate_writes_every_metric_and_the_plots(project):
    E.main(["16"])
    E.main(["32"])
    m = json.loads((project / "metrics" / "res" / "32.json").read_text())
    assert m["resolution"] == 32
    assert set(m) == {"resolution", "swd", "msssim", "distinct_share", "memorization", "prdc", "kid", "modes",
                      "fid", "counts"}
    # realism and coverage carry intervals over real halves, and say when the set is too small to tell
    assert m["kid"]["samples_lo"] <= m["kid"]["samples"] <= m["kid"]["samples_hi"]
    assert m["kid"]["samples_lo"] > m["kid"]["real_hi"]        # an untrained generator is not real
    assert m["prdc"]["recall_lo"] <= m["prdc"]["recall"] <= m["prdc"]["recall_hi"]
    assert m["prdc"]["n_half"] == 16 and m["prdc"]["informative"] is False
    assert "not informative at n = 16" in m["kid"]["reason"]
    assert set(m["swd"]) == {"avg", "real_avg", "level_32", "level_16", "real_level_32", "real_level_16"}
    finite = [m["swd"]["avg"], m["swd"]["real_avg"], m["msssim"]["samples"], m["msssim"]["real"],
              m["distinct_share"]["samples"], m["distinct_share"]["real"], m["prdc"]["precision"],
              m["prdc"]["real_recall"], m["memorization"]["closer_than_train_share"]]
    assert all(math.isfinite(v) for v in finite)
    # an untrained generator is far from the paintings: SWD well above the real floor, no mode covered
    assert m["swd"]["avg"] > 1.5 * m["swd"]["real_avg"]
    assert m["modes"]["train_modes"] == 6 and m["modes"]["n_samples"] == 48 and m["modes"]["reason"] == ""
    # the real reference: training paintings classify as their own modes
    assert m["modes"]["real_covered"] == 6 and m["modes"]["real_unclassified_share"] == 0.0
    assert m["modes"]["real_kl"] < 0.05
    assert m["fid"]["fid"] is None and m["fid"]["reason"] == "evaluate.inception_weights not set"
    assert m["counts"]["swd_images"] == 16 and m["counts"]["train"] == 40
    samples = Image.open(project / "plots" / "32" / "samples.png")
    assert samples.size == (8 * 34 + 2, 6 * 34 + 2)          # 48 samples, 8 per row
    assert Image.open(project / "plots" / "32" / "nearest.png").size == (4 * 34 + 2, 2 * 34 + 2)


def test_same_params_same_metrics(project):
    E.main(["16"])
    first = (project / "metrics" / "res" / "16.json").read_bytes()
    E.main(["16"])
    assert (project / "metrics" / "res" / "16.json").read_bytes() == first


def test_modes_not_computed_without_labels(project):
    (project / "data" / "prepared" / "16.csv").write_text("row,sha256\n" + "".join(f"{i},x\n" for i in range(40)))
    E.main(["16"])
    m = json.loads((project / "metrics" / "res" / "16.json").read_text())
    assert m["modes"]["covered"] is None and "no mode column" in m["modes"]["reason"]


def test_clear_errors(project):
    with pytest.raises(SystemExit, match="models/64"):
        E.main(["64"])
    (project / "models" / "32" / "generator.pt").unlink()
    with pytest.raises(SystemExit, match="generator.pt is missing"):
        E.main(["32"])
