"""The GPU preset: DVC's own `-S` parser accepts every line, and every stage accepts the result."""
from __future__ import annotations

import shutil
import shlex
from pathlib import Path

import pytest
import yaml

from pipeline import params as P
from pipeline.gan.config import TrainConfig
from pipeline.gan.ladder import Ladder
from test_params import ROOT, leaves, validate_all

PRESET = ROOT / "pipeline" / "presets" / "gpu-256.args"


def preset_overrides() -> list[str]:
    """The `-S` values of the preset, split as `$(grep -v '^#' ...)` splits them in the README's command."""
    words = shlex.split(" ".join(line for line in PRESET.read_text().splitlines() if not line.startswith("#")))
    assert words[0::2] == ["-S"] * (len(words) // 2), "every line is `-S key=value`"
    return words[1::2]


@pytest.fixture(scope="module")
def gpu_params(tmp_path_factory) -> dict:
    from dvc.utils.hydra import apply_overrides
    copy = tmp_path_factory.mktemp("preset") / "params.yaml"
    shutil.copy(ROOT / "params.yaml", copy)
    apply_overrides(copy, preset_overrides())
    return P.load(copy)


def test_every_override_lands_on_a_key_of_params_yaml(gpu_params):
    validate_all(gpu_params)
    flat = dict(leaves(gpu_params))
    for override in preset_overrides():
        key, value = override.lstrip("+").split("=", 1)
        assert flat.get(key) == yaml.safe_load(value), override


def test_the_preset_grows_to_256_px_on_the_gpu_and_feeds_every_stage(gpu_params):
    ladder = Ladder.of(gpu_params)
    assert ladder.trained == [16, 32, 64, 128, 256]
    source = P.section(gpu_params, "scrape")["sources"][0]
    assert source["kind"] != "synthetic" or source["size"] >= 256, "the 256 px stage needs 256 px images"
    for size in ladder.sizes:
        cfg = TrainConfig.from_params(P.section(gpu_params, "train"), P.section(gpu_params, "res"), ladder, size)
        assert cfg.device == "cuda" and cfg.batch % cfg.mbstd_group == 0
        assert cfg.channels[size] >= 64


def test_the_readme_runs_the_preset_with_one_command():
    readme = (ROOT / "README.md").read_text()
    assert "dvc exp run -n gpu-256 $(grep -v '^#' pipeline/presets/gpu-256.args)" in readme
    assert "python -m benchmarks.train_throughput $(grep -v '^#' pipeline/presets/gpu-256.args)" in readme


def test_the_throughput_benchmark_reads_the_preset_and_knows_each_stage_length(monkeypatch):
    from benchmarks import train_throughput as T
    monkeypatch.chdir(ROOT)
    params = T.overridden(preset_overrides())
    assert [T.stage_kimg(params, s) for s in (16, 32, 64, 128, 256)] == [300, 300, 300, 300, 300]
    assert T.overridden([]) == P.load(ROOT / "params.yaml")
