"""FID and KID, computed only from a local Inception weights file; never downloaded, never guessed.

``evaluate.inception_weights`` must point at the FID Inception weights
(``pt_inception-2015-12-05-6726825d.pth``, the file torch-fidelity uses), and
torch-fidelity must be installed; torchmetrics then computes FID and KID
offline. Otherwise the figures are reported as not computed, with the reason.
With a few hundred samples FID is strongly biased upwards: compare it only
between runs with the same sample count.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch


# A few tensors of torch-fidelity's FeatureExtractorInceptionV3 and their shapes: enough to tell
# its weights from any other file before Inception loads it (a wrong file fails deep inside otherwise).
INCEPTION_SHAPES = {"Conv2d_1a_3x3.conv.weight": (32, 3, 3, 3), "Mixed_6e.branch7x7_1.conv.weight": (192, 768, 1, 1),
                    "Mixed_7c.branch_pool.conv.weight": (192, 2048, 1, 1), "fc.weight": (1008, 2048)}


def unavailable(weights: str | None) -> str | None:
    """Why FID cannot be computed (short: it becomes ``fid.reason`` in the metrics), or None when it can."""
    if not weights:
        return "evaluate.inception_weights not set"
    if not Path(weights).is_file():
        return f"evaluate.inception_weights {weights} is not a file"
    if importlib.util.find_spec("torch_fidelity") is None:
        return "torch-fidelity not installed"
    return weights_problem(weights)


def weights_problem(weights: str) -> str | None:
    """Why the file ``weights`` is not the FID Inception weights, or None when it is shaped like them."""
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
    except Exception as e:   # pickle, zip and tensor errors alike: the file is not a weights file
        return f"{weights} is not a PyTorch weights file ({type(e).__name__})"
    if not isinstance(state, dict):
        return f"{weights} holds a {type(state).__name__}, not a state dict"
    for key, shape in INCEPTION_SHAPES.items():
        found = tuple(getattr(state.get(key), "shape", ()))
        if found != shape:
            return (f"{weights} is not the FID Inception weights (pt_inception-2015-12-05): "
                    f"{key} is {found or 'missing'}, expected {shape}")
    return None


@torch.no_grad()
def fid_kid(real: np.ndarray, fake: np.ndarray, weights: str, batch: int = 64) -> dict[str, float]:
    """FID and KID (mean) between uint8 NHWC sets, with Inception weights from the file ``weights``."""
    from torchmetrics.image.fid import FrechetInceptionDistance, NoTrainInceptionV3
    from torchmetrics.image.kid import KernelInceptionDistance

    net = NoTrainInceptionV3(name="inception-v3-compat", features_list=["2048"],
                             feature_extractor_weights_path=str(weights))
    fid = FrechetInceptionDistance(feature=net)
    kid = KernelInceptionDistance(feature=net, subset_size=min(len(real), len(fake), 1000))
    for images, is_real in ((real, True), (fake, False)):
        for start in range(0, len(images), batch):
            x = torch.as_tensor(np.ascontiguousarray(images[start:start + batch])).permute(0, 3, 1, 2)
            fid.update(x, real=is_real)
            kid.update(x, real=is_real)
    return {"fid": float(fid.compute()), "kid": float(kid.compute()[0])}
