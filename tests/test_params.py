"""params.yaml validation: every error names the key, before any work is done."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from pipeline import params as P

ROOT = Path(__file__).resolve().parents[1]
DEFAULTS = yaml.safe_load((ROOT / "params.yaml").read_text())


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
        P.validate(raw)
    return e.value.key


def test_defaults_are_valid_and_chain():
    params = P.validate(copy.deepcopy(DEFAULTS))
    sizes = P.sizes(params)
    assert sizes[0] == params["ladder"]["base"]
    assert all(b == 2 * a for a, b in zip(sizes, sizes[1:]))


def test_unknown_source_kind_names_the_key():
    assert error_key(with_change("scrape.sources.0.kind", "ftp")) == "scrape.sources[0].kind"


def test_missing_folder_names_the_key(tmp_path):
    raw = with_change("scrape.sources", [{"kind": "folder", "path": str(tmp_path / "nope")}])
    assert error_key(raw) == "scrape.sources[0].path"


def test_resolution_not_a_power_of_two():
    assert error_key(with_change("ladder.base", 24)) == "ladder.base"
    assert error_key(with_change("ladder.grow", {"48": 24})) == "ladder.grow.48"


def test_ladder_that_does_not_chain():
    # 128 grows from 64, which is not trained
    assert error_key(with_change("ladder.grow", {"32": 16, "128": 64})) == "ladder.grow.128"
    # a grown size must be twice its source
    assert error_key(with_change("ladder.grow", {"64": 16})) == "ladder.grow.64"


def test_string_keys_from_dvc_exp_run_are_accepted():
    raw = with_change("ladder.grow", {"32": 16, "64": "32", 128: 64})
    params = P.validate(raw)
    assert P.sizes(params)[-3:] == [32, 64, 128]


def test_type_errors_name_the_key():
    assert error_key(with_change("scrape.min_side", "big")) == "scrape.min_side"


def test_train_config_errors_name_the_key():
    from pipeline.train import config

    params = P.validate(with_change("train.loss", "hinge"))
    with pytest.raises(P.ParamError) as e:
        config(params, params["ladder"]["base"])
    assert e.value.key == "train.loss"

    raw = copy.deepcopy(DEFAULTS)
    base = raw["ladder"]["base"]
    del raw["res"][base]
    params = P.validate(raw)
    with pytest.raises(P.ParamError) as e:
        config(params, base)
    assert e.value.key == f"res.{base}"
