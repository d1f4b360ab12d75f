"""Regression metrics on NaN-masked targets."""
from __future__ import annotations

from typing import Dict

import numpy as np


def regression_metrics(target: np.ndarray, pred: np.ndarray) -> Dict[str, float]:
    """RMSE, MAE and R^2 over the entries where :obj:`target` is not NaN
    (R^2 as :func:`sklearn.metrics.r2_score`, pooled over targets)."""
    target = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    pred = np.asarray(pred, dtype=np.float64).reshape(target.shape)
    ok = ~np.isnan(target)
    t, p = target[ok], pred[ok]
    if t.size == 0:
        return {"rmse": float("nan"), "mae": float("nan"), "r2": float("nan")}
    err = p - t
    ss_res = float((err ** 2).sum())
    ss_tot = float(((t - t.mean()) ** 2).sum())
    return {"rmse": float(np.sqrt((err ** 2).mean())),
            "mae": float(np.abs(err).mean()),
            "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")}


def mean_squared_error(target: np.ndarray, pred: np.ndarray) -> float:
    """MSE over the entries where :obj:`target` is not NaN (what validation
    and blend weights are judged on)."""
    return float(np.nanmean((np.asarray(pred) - np.asarray(target)) ** 2))
