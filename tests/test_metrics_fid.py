import importlib.util

from pipeline.metrics.fid import unavailable


def test_fid_is_not_computed_without_weights(tmp_path):
    assert "not set" in unavailable(None)
    assert "not set" in unavailable("")
    assert "is not a file" in unavailable(str(tmp_path / "missing.pth"))


def test_fid_needs_torch_fidelity_even_with_a_weights_file(tmp_path):
    weights = tmp_path / "pt_inception.pth"
    weights.write_bytes(b"x")
    reason = unavailable(str(weights))
    if importlib.util.find_spec("torch_fidelity") is None:
        assert "torch-fidelity" in reason
    else:
        assert reason is None
