"""Every metric of one resolution, each beside its real-data reference, as one nested dict.

Real references use disjoint random halves of the training images, so a
generator is compared with what the same measurement gives on real data.
Counts are capped by the number of training images (half of them where two
disjoint real sets are needed); the counts used are reported under ``counts``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from pipeline.neardup import detect as dedup
from pipeline.metrics import diversity, fid, memorization, modes, msssim, prdc, swd
from pipeline.metrics.settings import Settings


@dataclass
class Report:
    metrics: dict
    nearest_panel: np.ndarray       # closest sample/training pairs (uint8 image)


def _not_computed(keys: list[str], reason: str) -> dict:
    return {**{k: None for k in keys}, "reason": reason}


def measure(samples: np.ndarray, train: np.ndarray, train_labels: np.ndarray | None, rule: dedup.Rule,
            settings: Settings, classify=None, n_modes: int = 0, no_modes_reason: str = "") -> Report:
    """All metrics of ``samples`` against ``train`` (both (N, S, S, 3) uint8, same S).

    ``train_labels``: mode index per training image (synthetic data), or None;
    ``classify`` labels samples the same way. Without labels the ``modes``
    entries are None and ``modes.reason`` says why (``no_modes_reason``).
    """
    if samples.shape[1:] != train.shape[1:]:
        raise ValueError(f"samples {samples.shape[1:]} and training images {train.shape[1:]} differ in size")
    if len(train) < 8:
        raise ValueError(f"need at least 8 training images to evaluate, got {len(train)}")
    cfg, n_train = settings, len(train)
    train = np.asarray(train)
    rng = np.random.default_rng(cfg.seed)
    perm = rng.permutation(n_train)
    half = n_train // 2
    real_a, real_b = perm[:half], perm[half:2 * half]   # disjoint real halves (index arrays)
    counts = {"samples": len(samples), "train": n_train}
    out: dict = {"resolution": int(train.shape[1])}
    bar = tqdm(total=7, desc=f"evaluate {train.shape[1]}px", unit="metric")

    # quality: SWD (ProGAN) -- samples vs real half A, and real half A vs real half B
    n = counts["swd_images"] = min(cfg.swd_images, half, len(samples))
    a, b = train[np.sort(real_a[:n])], train[np.sort(real_b[:n])]
    fake_levels, fake_avg = swd.swd(a, samples[:n], seed=cfg.seed)
    real_levels, real_avg = swd.swd(a, b, seed=cfg.seed)
    out["swd"] = {"avg": fake_avg, "real_avg": real_avg,
                  **{f"level_{r}": v for r, v in fake_levels.items()},
                  **{f"real_level_{r}": v for r, v in real_levels.items()}}
    bar.update()

    # diversity: MS-SSIM of random pairs (higher = less diverse)
    counts["msssim_pairs"] = cfg.msssim_pairs
    out["msssim"] = {"samples": msssim.mean_pairwise(samples, cfg.msssim_pairs, cfg.seed),
                     "real": msssim.mean_pairwise(train[perm], cfg.msssim_pairs, cfg.seed)}
    bar.update()

    # diversity: distinct share under the dedup rule, same count for both
    n = counts["distinct_images"] = min(cfg.distinct_images, n_train, len(samples))
    out["distinct_share"] = {"samples": diversity.distinct_share(samples[:n], rule),
                             "real": diversity.distinct_share(train[np.sort(perm[:n])], rule)}
    bar.update()

    # memorization: nearest training image of each sample
    n = counts["memorization_samples"] = min(cfg.memorization_samples, len(samples))
    mem = memorization.memorization(samples[:n], train, rule)
    out["memorization"] = mem.metrics()
    panel = memorization.nearest_panel(samples[:n], train, mem, cfg.panel_pairs)
    bar.update()

    # quality and diversity in one: k-NN precision / recall in a fixed random feature space
    n = counts["prdc_images"] = min(cfg.prdc_images, half, len(samples))
    fa = prdc.features(train[np.sort(real_a[:n])])
    fb = prdc.features(train[np.sort(real_b[:n])])
    fake = prdc.prdc(fa, prdc.features(samples[:n]))
    real = prdc.prdc(fa, fb)
    out["prdc"] = {**fake, **{f"real_{k}": v for k, v in real.items()}}
    bar.update()

    # modes of the synthetic source, on every sample
    # (real_*: the same on as many training images as possible, classified the same way -- the noise floor)
    mode_keys = ["covered", "covered_min_count", "train_modes", "kl", "unclassified_share", "n_samples",
                 "real_covered", "real_kl", "real_unclassified_share"]
    n = counts["modes_real_images"] = min(len(samples), n_train)
    if train_labels is None:
        out["modes"] = _not_computed(mode_keys, no_modes_reason or "training images carry no mode labels")
    else:
        labels = modes.classify_in_chunks(classify, samples)
        real = modes.mode_metrics(modes.classify_in_chunks(classify, train[np.sort(perm[:n])]), train_labels,
                                  n_modes, cfg.modes_min_count)
        out["modes"] = {**modes.mode_metrics(labels, train_labels, n_modes, cfg.modes_min_count),
                        "real_covered": real["covered"], "real_kl": real["kl"],
                        "real_unclassified_share": real["unclassified_share"], "reason": ""}
    bar.update()

    # FID / KID: only from a local Inception weights file
    reason = fid.unavailable(cfg.inception_weights)
    if reason:
        out["fid"] = _not_computed(["fid", "kid"], reason)
    else:
        n = counts["fid_images"] = min(len(samples), n_train)
        out["fid"] = {**fid.fid_kid(train[np.sort(perm[:n])], samples[:n], cfg.inception_weights),
                      "reason": ""}
    bar.update()
    bar.close()
    out["counts"] = counts
    return Report(out, panel)
