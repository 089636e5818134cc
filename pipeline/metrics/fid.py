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


def unavailable(weights: str | None) -> str | None:
    """Why FID cannot be computed (short: it becomes ``fid.reason`` in the metrics), or None when it can."""
    if not weights:
        return "evaluate.inception_weights not set"
    if not Path(weights).is_file():
        return f"evaluate.inception_weights {weights} is not a file"
    if importlib.util.find_spec("torch_fidelity") is None:
        return "torch-fidelity not installed"
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
