"""Stage summary: the headline file, metrics by resolution, and the ladder's training curves on one axis."""
import json

import pytest
import yaml
from dvclive import Live

from pipeline import summary as S
from pipeline.runfiles import log_row


def evaluation(size: int, covered: int) -> dict:
    return {"resolution": size, "swd": {"avg": 40.123, "real_avg": 20.0},
            "modes": {"covered": covered, "kl": 0.51234, "unclassified_share": 0.25, "reason": ""},
            "prdc": {"precision": 0.7, "recall": 0.3333, "real_recall": 0.9, "informative": True},
            "kid": {"samples": 1.23456, "real": -0.05}, "memorization": {"copy_share": 0.0},
            "msssim": {"samples": 0.2, "real": 0.18}, "fid": {"fid": None, "reason": "not set"}}


def training_log(size: int, steps: list[int], seconds: float) -> None:
    """A real dvclive log, written the way the training loop writes it."""
    live = Live(dir=f"dvclive/{size}", dvcyaml=False, save_dvc_exp=False)
    for step in steps:
        log_row(live, {"step": step, "g_loss": 1.0 + step / 1000, "d_loss": 0.5, "diversity": 0.9,
                       "augment_p": 0.1, "lr": 0.002, "alpha": 1.0})
    live.summary["seconds"] = seconds
    live.end()


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"train": {"size": 32}}))   # the ladder: 16 ... 256
    (tmp_path / "metrics" / "res").mkdir(parents=True)
    for size, covered in ((16, 20), (32, 22)):
        (tmp_path / "metrics" / "res" / f"{size}.json").write_text(json.dumps(evaluation(size, covered)))
    training_log(16, [1000, 2000], 120.0)
    training_log(32, [500, 1000, 1500], 60.0)
    return tmp_path


def test_headline_is_the_largest_resolution_with_short_names(project):
    S.main()
    head = json.loads((project / "metrics" / "headline.json").read_text())
    assert head == {"px": 32, "modes": 22, "mode_kl": 0.512, "unclassified": 0.25, "kid": 1.235, "kid_real": -0.05,
                    "swd": 40.1, "swd_real": 20.0, "recall": 0.333, "recall_real": 0.9, "copies": 0.0,
                    "informative": 1, "train_s": 180, "up_db": None, "up_tex": None}   # no upscaler metrics here


def test_headline_carries_the_upscalers_gain_over_lanczos(project):
    (project / "metrics" / "upscale.json").write_text(json.dumps(
        {"learned": {"psnr": 35.5, "gain_db": 2.6476, "texture": 0.6688}, "lanczos": {"psnr": 32.9, "gain_db": 0.0}}))
    S.main()
    head = json.loads((project / "metrics" / "headline.json").read_text())
    assert (head["up_db"], head["up_tex"]) == (2.65, 0.67)


def test_training_curves_share_one_axis_and_drop_constant_series(project):
    S.main()
    lines = (project / "plots" / "training.csv").read_text().splitlines()
    assert lines[0].split(",") == ["kimg", "resolution", *S.CURVES]
    assert set(lines[1].split(",")[6:]) == {"nan"}   # never logged: a column of nan, not absent
    kimg = [float(r.split(",")[0]) for r in lines[1:]]
    assert kimg == [1.0, 2.0, 2.5, 3.0, 3.5]          # 32 px continues where 16 px ended
    assert [r.split(",")[1] for r in lines[1:]] == ["16", "16", "32", "32", "32"]


def test_metrics_by_resolution_has_one_row_per_size(project):
    S.main()
    lines = (project / "plots" / "metrics_by_resolution.csv").read_text().splitlines()
    header = lines[0].split(",")
    assert header[0] == "resolution" and "swd_avg" in header and "modes_kl" in header and "fid_reason" not in header
    assert [r.split(",")[0] for r in lines[1:]] == ["16", "32"]


def test_the_summary_follows_train_size_and_skips_idle_rungs(project):
    (project / "metrics" / "res" / "64.json").write_text(json.dumps({"resolution": 64, "idle": True}))
    (project / "params.yaml").write_text(yaml.safe_dump({"train": {"size": 16}}))
    S.main()
    assert json.loads((project / "metrics" / "headline.json").read_text())["px"] == 16
    lines = (project / "plots" / "metrics_by_resolution.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in lines[1:]] == ["16"]


def test_missing_inputs_name_the_file(project):
    (project / "metrics" / "res" / "16.json").unlink()
    with pytest.raises(SystemExit, match="metrics/res/16.json not found"):
        S.main()


def test_every_field_the_training_charts_draw_is_a_column():
    """A chart one of whose fields is missing from plots/training.csv is drawn blank."""
    plots = yaml.safe_load(open(S.__file__.replace("pipeline/summary.py", "dvc.yaml")))["plots"]
    drawn = {field for plot in plots if isinstance(plot, dict) for spec in plot.values() if isinstance(spec, dict)
             for field in (spec.get("y") or {}).get("plots/training.csv", [])}
    assert drawn and drawn <= set(S.CURVES)
