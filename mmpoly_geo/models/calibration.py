"""Calibration of ensemble spreads into uncertainties: one scale factor,
fitted on out-of-fold errors, so that about 68 % of errors fall within
:math:`\\pm 1\\sigma`."""
from __future__ import annotations

from typing import Dict, Optional

import numpy as np

#: Share of a normal distribution within 1 and 2 standard deviations.
NORMAL_COVERAGE = {1: 0.6827, 2: 0.9545}


def coverage(errors, sigma, k: float = 1.0) -> float:
    r"""Share of :obj:`errors` with :math:`|e| \le k\sigma` (pairs with a
    non-finite error or spread ignored)."""
    errors, sigma = np.asarray(errors, float), np.asarray(sigma, float)
    ok = np.isfinite(errors) & np.isfinite(sigma)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(errors[ok]) <= k * sigma[ok]))


def fit_scale(errors, sigma) -> float:
    r"""The factor :math:`s` that makes :math:`s\sigma` cover 68.27 % of the
    :obj:`errors` (the 68.27 % quantile of :math:`|e| / \sigma`).

    Raises:
        ValueError: no pair with a finite error and a positive spread.
    """
    errors, sigma = np.asarray(errors, float), np.asarray(sigma, float)
    ok = np.isfinite(errors) & np.isfinite(sigma) & (sigma > 0)
    if not ok.any():
        raise ValueError("calibration needs out-of-fold errors with a "
                         "positive ensemble spread (finetune.ensemble >= 2)")
    return float(np.quantile(np.abs(errors[ok]) / sigma[ok],
                             NORMAL_COVERAGE[1]))


def calibration_report(errors, sigma) -> Dict[str, float]:
    """Coverage at 1 and 2 sigma before and after :func:`fit_scale`, and the
    scale. (Fitted and evaluated on the same errors: use it to report, and
    check on held-out errors before trusting the 2-sigma figure.)"""
    scale = fit_scale(errors, sigma)
    sigma = np.asarray(sigma, float)
    return {"scale": scale,
            "coverage_1sigma_raw": coverage(errors, sigma, 1),
            "coverage_2sigma_raw": coverage(errors, sigma, 2),
            "coverage_1sigma": coverage(errors, scale * sigma, 1),
            "coverage_2sigma": coverage(errors, scale * sigma, 2),
            "n": int(np.sum(np.isfinite(errors) & np.isfinite(sigma)))}


def similarity_threshold(errors, similarity, ratio: float = 1.5,
                         min_rows: int = 10) -> Optional[float]:
    r"""The applicability-domain threshold: the largest nearest-neighbour
    similarity :math:`t` (0.01 steps) such that the rows below it (at least
    :obj:`min_rows`) have an RMSE at least :obj:`ratio` times the RMSE of all
    rows; :obj:`None` when there is none (errors do not grow away from the
    training data)."""
    errors = np.asarray(errors, float)
    similarity = np.asarray(similarity, float)
    ok = np.isfinite(errors) & np.isfinite(similarity)
    errors, similarity = errors[ok], similarity[ok]
    if not len(errors):
        return None
    overall = np.sqrt(np.mean(errors ** 2))
    threshold = None
    for t in np.arange(0.01, 1.0, 0.01):
        low = errors[similarity < t]
        if len(low) >= min_rows and np.sqrt(np.mean(low ** 2)) >= \
                ratio * overall:
            threshold = round(float(t), 2)
    return threshold
