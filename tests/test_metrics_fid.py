"""FID and KID through torch-fidelity's Inception, from a local weights file only."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from metrics_helpers import paintings
from pipeline.metrics.fid import fid_kid, unavailable, weights_problem

needs_fidelity = pytest.mark.skipif(importlib.util.find_spec("torch_fidelity") is None,
                                    reason="torch-fidelity is not installed (pip install -e '.[test]')")


def test_fid_is_not_computed_without_weights(tmp_path):
    assert "not set" in unavailable(None)
    assert "not set" in unavailable("")
    assert "is not a file" in unavailable(str(tmp_path / "missing.pth"))


@pytest.fixture(scope="module")
def inception_weights(tmp_path_factory):
    """A file shaped like the FID Inception weights: torch-fidelity's network, randomly initialised here."""
    from torch_fidelity import feature_extractor_inceptionv3 as fe

    with pytest.MonkeyPatch.context() as mp:   # build the network without its download and without loading
        mp.setattr(fe, "load_state_dict_from_url", lambda *a, **k: {})
        mp.setattr(fe.FeatureExtractorInceptionV3, "load_state_dict", lambda self, *a, **k: None)
        torch.manual_seed(0)
        net = fe.FeatureExtractorInceptionV3("inception-v3-compat", ["2048"])
    for m in net.modules():   # He init keeps activations alive through ~90 layers (the default fades them)
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
    path = tmp_path_factory.mktemp("weights") / "pt_inception.pth"
    torch.save(net.state_dict(), path)
    return path


@needs_fidelity
def test_fid_runs_from_a_local_inception_file(inception_weights):
    assert unavailable(str(inception_weights)) is None
    real = paintings(6, 32, seed=1)
    same = fid_kid(real, real, str(inception_weights), batch=6)
    other = fid_kid(real, paintings(6, 32, seed=2, modes=[0]), str(inception_weights), batch=6)
    assert np.isfinite(other["fid"]) and other["fid"] > 0 and abs(same["fid"]) < 1e-3 * other["fid"]
    assert other["kid"] > same["kid"]


@needs_fidelity
def test_garbage_weights_files_are_refused_by_name(tmp_path, inception_weights):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"x")
    assert "is not a PyTorch weights file" in weights_problem(str(junk))
    torch.save({"conv.weight": torch.zeros(3)}, junk)
    assert "Conv2d_1a_3x3.conv.weight is missing" in weights_problem(str(junk))
    state = torch.load(inception_weights, weights_only=True)
    state["fc.weight"] = torch.zeros(1000, 2048)   # a classifier's Inception, not FID's
    torch.save(state, junk)
    assert "fc.weight is (1000, 2048), expected (1008, 2048)" in unavailable(str(junk))


def test_evaluate_stops_on_a_weights_file_that_is_not_inception(tmp_path):
    from pipeline.evaluate import evaluate
    from pipeline.params import ParamError

    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not weights")
    with pytest.raises(ParamError, match="evaluate.inception_weights: .*not a PyTorch weights file"):
        evaluate(16, {"evaluate": {"inception_weights": str(junk)}})
