"""params.yaml: every key settable with `dvc exp run -S`, every section checked by its stage, errors name the key."""
from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from pipeline import params as P
from pipeline.gan.ladder import Ladder
from pipeline.gan.config import TrainConfig
from pipeline.neardup.detect import Rule
from pipeline.metrics.settings import Settings
from pipeline.prepare import Prepare
from pipeline.sources import ScrapeConfig
from pipeline.sr.config import UpscaleConfig

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = yaml.safe_load((ROOT / "params.yaml").read_text())


def validate_all(params: dict) -> None:
    """What the stages check when they start, every section (train for every resolution on the ladder)."""
    ScrapeConfig.from_params(P.section(params, "scrape"))
    Rule.from_params(P.section(params, "dedup"))
    Prepare.from_params(P.section(params, "prepare"))
    ladder = Ladder.from_params(P.section(params, "ladder"))
    for size in ladder.sizes:
        TrainConfig.from_params(P.section(params, "train"), P.section(params, "res"), ladder, size)
    Settings.from_params(P.section(params, "evaluate"))
    UpscaleConfig.from_params(P.section(params, "upscale"))


def leaves(tree, prefix: str = "") -> list[tuple[str, object]]:
    """(dotted key, value) of every leaf; lists of mappings are indexed, lists of scalars are values."""
    if isinstance(tree, dict):
        return [x for k, v in tree.items() for x in leaves(v, P.join(prefix, k))]
    if isinstance(tree, list) and any(isinstance(v, dict) for v in tree):
        return [x for i, v in enumerate(tree) for x in leaves(v, f"{prefix}.{i}")]
    return [(prefix, tree)]


def hydra_value(value) -> str:
    """A value as a user types it after `-S key=` (Hydra's override grammar)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(value)


def with_change(path: str, value) -> dict:
    raw = copy.deepcopy(DEFAULTS)
    *parents, last = path.split(".")
    node = raw
    for key in parents:
        node = node[int(key) if isinstance(node, list) else key]
    node[int(last) if isinstance(node, list) else last] = value
    return raw


def error_key(raw: dict) -> str:
    with pytest.raises(P.ParamError) as e:
        validate_all(raw)
    return e.value.key


def test_defaults_are_valid_and_chain():
    validate_all(copy.deepcopy(DEFAULTS))
    sizes = Ladder.from_params(DEFAULTS["ladder"]).sizes
    assert sizes[0] == DEFAULTS["ladder"]["base"]
    assert all(b == 2 * a for a, b in zip(sizes, sizes[1:]))


def test_every_leaf_key_is_settable_with_dvc_exp_run_set(tmp_path):
    """DVC's own -S code (Hydra overrides) accepts `key=<its current value>` for every leaf, no `+`."""
    from dvc.utils.hydra import apply_overrides

    keys = leaves(DEFAULTS)
    assert len(keys) > 60 and "res.64.stable_kimg" in dict(keys) and "train.channels.64" in dict(keys)
    for key, value in keys:
        target = tmp_path / "params.yaml"
        shutil.copy(ROOT / "params.yaml", target)
        apply_overrides(target, [f"{key}={hydra_value(value)}"])
        changed = yaml.safe_load(target.read_text())
        assert changed == DEFAULTS, f"-S {key}={hydra_value(value)} changed the file"
        validate_all(changed)


def test_set_changes_exactly_one_value(tmp_path):
    from dvc.utils.hydra import apply_overrides

    target = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", target)
    apply_overrides(target, ["res.64.lr=0.002", "train.channels.64=16", "train.augment=[color,cutout]"])
    changed = yaml.safe_load(target.read_text())
    expected = copy.deepcopy(DEFAULTS)
    expected["res"]["64"]["lr"] = 0.002
    expected["train"]["channels"]["64"] = 16
    expected["train"]["augment"] = ["color", "cutout"]
    assert changed == expected
    ladder = Ladder.from_params(changed["ladder"])
    cfg = TrainConfig.from_params(changed["train"], changed["res"], ladder, 64)
    assert (cfg.lr, cfg.channels[64], cfg.augment) == (0.002, 16, ("color", "cutout"))


def test_values_dvc_writes_read_back_as_written(tmp_path):
    """DVC writes YAML 1.2 (`1e-05`, `on`); params.yaml is read the same way, not as YAML 1.1 strings/booleans."""
    from dvc.utils.hydra import apply_overrides

    target = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", target)
    apply_overrides(target, ["train.gamma=0.00001", "res.64.lr=1e-5", "scrape.http.contact=on"])
    params = P.load(target)
    assert (params["train"]["gamma"], params["res"]["64"]["lr"]) == (1e-05, 1e-05)
    assert params["scrape"]["http"]["contact"] == "on"
    validate_all(params)


@pytest.mark.parametrize("key", ["batch", "ema_kimg"])
def test_per_resolution_keys_under_train_say_where_they_belong(key):
    with pytest.raises(P.ParamError, match=rf"train.{key}: a per-resolution setting: set it under res \(res.16.{key}\)"):
        validate_all(with_change(f"train.{key}", 2))


def test_each_resolution_trains_with_its_own_ema_half_life(tmp_path):
    """`-S res.32.ema_kimg=2` changes the 32 px stage's EMA alone; the 64 px stage keeps its own (1 kimg)."""
    from dvc.utils.hydra import apply_overrides

    target = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", target)
    apply_overrides(target, ["res.32.ema_kimg=2"])
    params = P.load(target)
    ladder = Ladder.from_params(params["ladder"])
    half_lives = {size: TrainConfig.from_params(params["train"], params["res"], ladder, size).ema_kimg
                  for size in (16, 32, 64)}
    assert half_lives == {16: 3.0, 32: 2.0, 64: 1.0}


@pytest.mark.parametrize("path, typo, expected", [
    ("scrape", "min_sid", "min_side"),
    ("scrape.http", "dealy", "delay"),
    ("scrape.sources.0", "sed", "seed"),
    ("dedup", "hash_bit", "hash_bits"),
    ("prepare", "crops", "crop"),
    ("ladder", "bases", "base"),
    ("train", "gama", "gamma"),
    ("res.64", "stable_kim", "stable_kimg"),
    ("evaluate", "n_sample", "n_samples"),
    ("upscale", "patchs", "patch"),
])
def test_unknown_keys_name_the_key_and_suggest_the_nearest(path, typo, expected):
    raw = copy.deepcopy(DEFAULTS)
    node = raw
    for key in path.split("."):
        node = node[int(key) if isinstance(node, list) else key]
    node[typo] = 1
    with pytest.raises(P.ParamError) as e:
        validate_all(raw)
    assert e.value.key.endswith(typo)
    assert f"did you mean `{expected}`?" in str(e.value)


@pytest.mark.parametrize("change, key, message", [
    ({"patch": 98}, "upscale.patch", "multiple of upscale.scale"),
    ({"patch": 16, "depth": 30}, "upscale.patch", "too few for the net's reach"),
    ({"scale": 8}, "upscale.scale", "must be one of 2, 3, 4"),
    ({"holdout": 1.0}, "upscale.holdout", "must be < 1"),
])
def test_upscale_errors_name_the_key(change, key, message):
    raw = copy.deepcopy(DEFAULTS)
    raw["upscale"].update(change)
    with pytest.raises(P.ParamError, match=message) as e:
        validate_all(raw)
    assert e.value.key == key


def test_unknown_section_is_an_error(tmp_path):
    (tmp_path / "params.yaml").write_text("traing: {seed: 1}\n")
    with pytest.raises(P.ParamError, match="did you mean `train`"):
        P.load(tmp_path / "params.yaml")


def test_reading_never_writes_into_the_params():
    raw = copy.deepcopy(DEFAULTS)
    raw["train"] = {"seed": 3}        # everything else from the dataclass defaults
    raw["evaluate"] = {}
    before = copy.deepcopy(raw)
    validate_all(raw)
    ladder = Ladder.from_params(raw["ladder"])
    a = TrainConfig.from_params(raw["train"], raw["res"], ladder, 32)
    b = TrainConfig.from_params(raw["train"], raw["res"], ladder, 32)
    assert raw == before and a == b
    assert a.seed == 3 and a.gamma == TrainConfig.__dataclass_fields__["gamma"].default


def test_training_and_evaluation_do_not_look_at_the_scrape_sources(tmp_path):
    """A folder that exists only on the machine that scraped never stops train or evaluate."""
    raw = with_change("scrape.sources", [{"kind": "folder", "path": str(tmp_path / "gone")}])
    with pytest.raises(P.ParamError):
        ScrapeConfig.from_params(raw["scrape"])
    ladder = Ladder.from_params(raw["ladder"])
    TrainConfig.from_params(raw["train"], raw["res"], ladder, ladder.base)
    Settings.from_params(raw["evaluate"])


def test_stage_modules_import_no_fetching_code():
    code = ("import sys, pipeline.train, pipeline.evaluate, pipeline.prepare, pipeline.dedup, pipeline.summary; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('requests', 'bs4', 'urllib3') "
            "or m.startswith('pipeline.sources')); print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_paths_expand_home_and_variables(tmp_path, monkeypatch):
    weights = tmp_path / "inception.pt"
    weights.write_bytes(b"x")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("WEIGHTS_DIR", str(tmp_path))
    assert Settings.from_params({"inception_weights": "~/inception.pt"}).inception_weights == str(weights)
    assert Settings.from_params({"inception_weights": "$WEIGHTS_DIR/inception.pt"}).inception_weights == str(weights)
    with pytest.raises(P.ParamError, match="evaluate.inception_weights"):
        Settings.from_params({"inception_weights": "~/nope.pt"})


def test_resolution_not_a_power_of_two():
    assert error_key(with_change("ladder.base", 24)) == "ladder.base"
    assert error_key(with_change("ladder.grow", {"48": 24})) == "ladder.grow.48"


def test_ladder_that_does_not_chain():
    # 128 grows from 64, which is not trained
    assert error_key(with_change("ladder.grow", {"32": 16, "128": 64})) == "ladder.grow.128"
    # a grown size must be twice its source
    assert error_key(with_change("ladder.grow", {"64": 16})) == "ladder.grow.64"


def test_integer_and_string_resolution_keys_are_both_accepted():
    raw = with_change("ladder.grow", {"32": 16, "64": "32", 128: 64})
    raw["res"] = {int(k) if k != "64" else k: v for k, v in raw["res"].items()}
    assert Ladder.from_params(raw["ladder"]).sizes[-3:] == [32, 64, 128]
    validate_all(raw)


@pytest.mark.parametrize("path, value, key", [
    ("scrape.min_side", "big", "scrape.min_side"),
    ("scrape.sources.0.kind", "ftp", "scrape.sources[0].kind"),
    ("dedup.hash_bits", 80, "dedup.hash_bits"),
    ("dedup.crop", 0.6, "dedup.crop"),
    ("prepare.crop", "stretch", "prepare.crop"),
    ("train.loss", "hinge", "train.loss"),
    ("train.growth", "residual", "train.growth"),
    ("train.augment", ["color", "blur"], "train.augment[1]"),
    ("train.xflip", "yes", "train.xflip"),
    ("res.64.lr", -1, "res.64.lr"),
    ("res.64.kimg", 5, "res.64.kimg"),         # the base trains kimg; 64 is grown
    ("res.64.lr", float("nan"), "res.64.lr"),
    ("res.64.ema_kimg", -1, "res.64.ema_kimg"),
    ("ladder.grow", {"32": 16.5}, "ladder.grow.32"),
    ("evaluate.seed", -1, "evaluate.seed"),
    ("train.ada_target", 2, "train.ada_target"),
    ("scrape.sources.0.kind", ["x"], "scrape.sources[0].kind"),
    ("evaluate.swd_images", 0, "evaluate.swd_images"),
])
def test_bad_values_name_the_key(path, value, key):
    assert error_key(with_change(path, value)) == key


def test_missing_resolution_settings_name_the_key():
    raw = copy.deepcopy(DEFAULTS)
    del raw["res"]["32"]
    assert error_key(raw) == "res.32"
    raw = copy.deepcopy(DEFAULTS)
    del raw["res"]["32"]["fade_kimg"]
    assert error_key(raw) == "res.32.fade_kimg"
    raw = copy.deepcopy(DEFAULTS)
    del raw["train"]["channels"]["8"]
    assert error_key(raw) == "train.channels.8"


@pytest.mark.parametrize("stage, args, section, typo", [
    ("scrape", [], "scrape", "min_sid"),
    ("dedup", [], "dedup", "colur"),
    ("prepare", [], "prepare", "crops"),
    ("train", ["16"], "train", "gama"),
    ("evaluate", ["16"], "evaluate", "seeds"),
    ("summary", [], "ladder", "bases"),
])
def test_a_typo_stops_the_stage_before_any_work(tmp_path, stage, args, section, typo):
    """Each stage checks its section first: a clear one-line error, no traceback, nothing written."""
    raw = copy.deepcopy(DEFAULTS)
    raw[section][typo] = 1
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    proc = subprocess.run([sys.executable, "-m", f"pipeline.{stage}", *args], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert proc.returncode != 0
    assert f"params.yaml: {section}.{typo}: unknown key; did you mean" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]
