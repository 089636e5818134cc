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
from pipeline.metrics import diversity, fid, kid, memorization, modes, msssim, prdc, swd
from pipeline.metrics.settings import Settings


SPLITS = 10      # random real halves behind every interval
# Real images per half below which realism and coverage say nothing: on photo tiles every known-bad
# generator was caught at 42 per half, and sigma-1 blur and shuffled patches were not at 20
# (benchmarks/metric_calibration.py --n 40).
MIN_HALF = 40


@dataclass
class Report:
    metrics: dict
    nearest_panel: np.ndarray       # closest sample/training pairs (uint8 image)


def _interval(values: list[float]) -> tuple[float, float, float]:
    v = np.asarray(values, float)
    return float(v.mean()), float(np.percentile(v, 10)), float(np.percentile(v, 90))


def split_metrics(samples: np.ndarray, train: np.ndarray, n: int, seed: int) -> tuple[dict, dict]:
    """k-NN precision/recall/density/coverage and KID of ``samples`` (n of them) against half A of
    the training images, and of half B against half A (``real_*``), over SPLITS random halves of n.

    Each figure is the mean over the halves, with ``<name>_lo`` and ``<name>_hi`` its 10th and 90th
    percentiles. ``informative`` is False below MIN_HALF real images per half, where the
    calibration could not tell the known-bad generators from real images.
    """
    rng = np.random.default_rng([seed, 7])
    f_train, f_fake = prdc.features(train), prdc.features(samples)
    k_train = kid.features(train)
    standard = kid.standardiser(k_train)
    k_train, k_fake = standard(k_train), standard(kid.features(samples))
    values: dict[str, list[float]] = {}
    for _ in range(SPLITS):
        perm = rng.permutation(len(train))
        a, b = np.sort(perm[:n]), np.sort(perm[n:2 * n])
        for key, v in prdc.prdc(f_train[a], f_fake).items():
            values.setdefault(key, []).append(v)
        for key, v in prdc.prdc(f_train[a], f_train[b]).items():
            values.setdefault(f"real_{key}", []).append(v)
        values.setdefault("kid", []).append(kid.kid(k_train[a], k_fake))
        values.setdefault("real_kid", []).append(kid.kid(k_train[a], k_train[b]))
    summary = {}
    for key, v in values.items():
        summary[key], summary[f"{key}_lo"], summary[f"{key}_hi"] = _interval(v)
    informative = n >= MIN_HALF
    note = "" if informative else (f"not informative at n = {n} real images per half (calibrated down to "
                                   f"{MIN_HALF}): the reals' own interval hides the known-bad generators")
    flags = {"n_half": n, "informative": informative, "reason": note}
    return ({k: v for k, v in summary.items() if "kid" not in k} | flags,
            {"samples": summary["kid"], "samples_lo": summary["kid_lo"], "samples_hi": summary["kid_hi"],
             "real": summary["real_kid"], "real_lo": summary["real_kid_lo"], "real_hi": summary["real_kid_hi"]}
            | flags)


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
    reference = swd.Reference(a, seed=cfg.seed)
    fake_levels, fake_avg = swd.swd_to(reference, samples[:n])
    real_levels, real_avg = swd.swd_to(reference, b)
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

    # realism (KID of texture at every scale) and k-NN precision / recall, each over SPLITS random
    # real halves: the figure is the mean, its interval the 10th-90th percentile over the halves
    n = counts["prdc_images"] = min(cfg.prdc_images, half, len(samples))
    counts["splits"] = SPLITS
    out["prdc"], out["kid"] = split_metrics(samples[:n], train, n, cfg.seed)
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
