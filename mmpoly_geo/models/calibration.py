r"""Calibration of ensemble spreads into uncertainties, fitted on
out-of-fold errors.

A small ensemble's spread :math:`s` is a noisy measure of its error (two
members can agree by chance), and out-of-fold errors are heavier-tailed than
a normal distribution. So the calibration has two parts:

- a variance model :math:`\sigma = \sqrt{a^2 s^2 + b^2}` (a scale of the
  spread plus a floor), fitted by the Gaussian likelihood of the errors;
- two quantile factors: the reported standard uncertainty is
  :math:`k_1 \sigma` with :math:`k_1` chosen so that :math:`\pm k_1\sigma`
  covers 68.27 % of the errors, and the 95 % interval is
  :math:`\pm k_2 \sigma`, covering 95.45 % (for normal errors
  :math:`k_2 = 2 k_1`; for heavier tails :math:`k_2 > 2 k_1`, which is why
  the interval is reported on its own rather than as 2 standard
  uncertainties).
"""
from __future__ import annotations

import itertools
from typing import Dict, Optional, Sequence, Union

import numpy as np
import pandas as pd

#: A run's out-of-fold predictions: one table, or one per member of a run
#: trained member by member (see :func:`pool_runs`).
RunPredictions = Union[pd.DataFrame, Sequence[pd.DataFrame]]

#: Share of a normal distribution within 1 and 2 standard deviations.
NORMAL_COVERAGE = {1: 0.6827, 2: 0.9545}

#: The calibration of an uncalibrated ensemble: the raw spread, and
#: 2 spreads for the 95 % interval.
IDENTITY = {"a": 1.0, "b": 0.0, "k1": 1.0, "k2": 2.0}


def coverage(errors, sigma, k: float = 1.0) -> float:
    r"""Share of :obj:`errors` with :math:`|e| \le k\sigma` (pairs with a
    non-finite error or spread ignored)."""
    errors, sigma = np.asarray(errors, float), np.asarray(sigma, float)
    ok = np.isfinite(errors) & np.isfinite(sigma)
    if not ok.any():
        return float("nan")
    return float(np.mean(np.abs(errors[ok]) <= k * sigma[ok]))


def fit_calibration(errors, spread) -> Dict[str, float]:
    r"""Fits the calibration of :obj:`spread` to :obj:`errors` (both of
    shape :obj:`[n]`; pairs with a non-finite value are ignored).

    Returns:
        ``{"a", "b", "k1", "k2"}``: apply with :func:`uncertainty`.

    Raises:
        ValueError: no pair with a finite error and a positive spread.
    """
    from scipy.optimize import minimize

    errors, spread = np.asarray(errors, float), np.asarray(spread, float)
    ok = np.isfinite(errors) & np.isfinite(spread) & (spread > 0)
    if not ok.any():
        raise ValueError("calibration needs out-of-fold errors with a "
                         "positive ensemble spread (finetune.ensemble >= 2)")
    e, s = errors[ok], spread[ok]
    scale = float(np.sqrt(np.mean(e ** 2)))
    e, s = e / scale, s / scale  # unit-free optimisation

    def nll(p):  # log-parametrised so that a, b > 0
        var = np.exp(2 * p[0]) * s ** 2 + np.exp(2 * p[1])
        return float(np.mean(np.log(var) + e ** 2 / var))

    start = np.log([np.sqrt(np.mean(e ** 2) / np.mean(s ** 2)), 0.5])
    p = minimize(nll, start, method="Nelder-Mead",
                 options={"xatol": 1e-6, "fatol": 1e-9}).x
    a, b = float(np.exp(p[0])), float(np.exp(p[1]) * scale)
    ratio = np.abs(errors[ok]) / np.sqrt(a ** 2 * spread[ok] ** 2 + b ** 2)
    return {"a": a, "b": b,
            "k1": float(np.quantile(ratio, NORMAL_COVERAGE[1])),
            "k2": float(np.quantile(ratio, NORMAL_COVERAGE[2]))}


def uncertainty(spread, calibration: Dict[str, float], level: int = 1):
    r"""The calibrated standard uncertainty (:obj:`level` 1) or 95 %
    interval half-width (:obj:`level` 2) of ensembles with the given
    :obj:`spread` (any shape)."""
    c = calibration
    sigma = np.sqrt(c["a"] ** 2 * np.asarray(spread, float) ** 2
                    + c["b"] ** 2)
    return (c["k1"] if level == 1 else c["k2"]) * sigma


def cross_calibrated(errors, spread, groups):
    """The calibrated standard uncertainty and 95 % half-width of each row,
    each group of rows (e.g. a test fold) calibrated on the other groups, so
    no error calibrates itself (one group: calibrated on itself)."""
    errors, spread = np.asarray(errors, float), np.asarray(spread, float)
    groups = np.asarray(groups)
    std, half = np.empty_like(spread), np.empty_like(spread)
    several = len(np.unique(groups)) > 1
    for g in np.unique(groups):
        rows = groups == g
        fit_on = ~rows if several else rows
        c = fit_calibration(errors[fit_on], spread[fit_on])
        std[rows] = uncertainty(spread[rows], c, 1)
        half[rows] = uncertainty(spread[rows], c, 2)
    return std, half


def calibration_report(errors, spread, groups=None) -> Dict:
    """Coverage of the raw spread (at 1 and 2 spreads) and of the calibrated
    uncertainty (at 1 and 2) and 95 % interval, cross-calibrated over
    :obj:`groups` (see :func:`cross_calibrated`; without groups the fit is
    evaluated on its own errors), and the calibration fitted on all rows."""
    errors, spread = np.asarray(errors, float), np.asarray(spread, float)
    std, half = cross_calibrated(
        errors, spread, np.zeros(len(errors)) if groups is None else groups)
    return {**coverage_summary(errors, spread, std, half),
            "calibration": fit_calibration(errors, spread)}


def coverage_summary(errors, spread, std, half) -> Dict[str, float]:
    """Coverage of the raw :obj:`spread` (at 1 and 2 spreads), of the
    calibrated uncertainty :obj:`std` (at 1 and 2) and of the 95 % interval
    half-width :obj:`half`, with the mean :obj:`std` and :obj:`half`."""
    return {"coverage_1sigma_raw": coverage(errors, spread, 1),
            "coverage_2sigma_raw": coverage(errors, spread, 2),
            "coverage_1sigma": coverage(errors, std, 1),
            "coverage_2sigma": coverage(errors, std, 2),
            "coverage_interval95": coverage(errors, half, 1),
            "mean_std": float(np.nanmean(std)),
            "mean_interval95": float(np.nanmean(half)),
            "n": int(np.sum(np.isfinite(errors) & np.isfinite(spread)))}


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


def pool_runs(runs: Sequence[RunPredictions], members: int,
              label: str = "mmpolymer") -> pd.DataFrame:
    r"""Out-of-fold ensembles of :obj:`members` models from independent
    cross-validation runs (``predictions.csv`` of ``finetune``, e.g. one per
    seed): every polymer has one out-of-fold prediction per model, from a
    model that never saw it, so models of any runs form an out-of-fold
    ensemble. A run is one prediction table (one model per fold), or the
    tables of one run trained member by member (e.g. the two members of the
    default configuration, each a ``finetune`` run with
    ``finetune.members=null`` and its member's settings, same seed and
    folds), which gives one model of each member. Each block pools the
    models of ``members / models per run`` runs; one block of rows per
    combination of runs, with ``pred`` (the models' mean), ``pred_std``
    (their spread, population std as the ensemble of a shipped model
    reports it), ``nn_similarity`` (the models' mean) and ``fold`` (the first
    run's in every block, so a polymer keeps one group when calibration is
    cross-validated by fold). The spread of :obj:`members` models calibrates
    an ensemble of the same size and composition (a spread of 3 is on
    average ~1.3x that of 2).

    Args:
        runs: per run, a prediction table (columns ``model``, ``row``,
            ``target``, ``psmiles``, ``fold``, ``y``, ``pred``; a missing
            ``nn_similarity`` is computed from the folds), or a list of the
            tables of its members (the same number for every run).
        members: ensemble size in models, a multiple of the models per run,
            at most all of them.
        label: the model whose predictions are pooled.

    Raises:
        ValueError: too few runs, runs of different sizes, or runs over
            different polymers (or members of a run on different folds).
    """
    groups = [[run] if isinstance(run, pd.DataFrame) else list(run)
              for run in runs]
    size = len(groups[0]) if groups else 1
    if size == 0 or any(len(g) != size for g in groups):
        raise ValueError(f"every run needs the same number of member "
                         f"tables, got {[len(g) for g in groups]}")
    if members < 1 or members % size:
        raise ValueError(f"runs of {size} models pool into ensembles of a "
                         f"multiple of {size} models, not {members}")
    if members // size > len(groups):
        raise ValueError(f"pooling {members} models needs at least "
                         f"{members // size} runs of {size} model(s), got "
                         f"{len(groups)}")
    tables = [[_sorted_table(frame, label) for frame in g] for g in groups]
    ids = tables[0][0][["target", "row"]]
    for g in tables:
        for t in g:
            if (len(t) != len(ids)
                    or not (t[["target", "row"]] == ids).all().all()):
                raise ValueError("the runs predict different polymers: pool "
                                 "runs of one data set (all folds finished)")
        if any((t.fold != g[0].fold).any() for t in g[1:]):
            raise ValueError("the members of a run were tested on different "
                             "folds: give the member runs of one seed")
    blocks = []
    for combo in itertools.combinations(range(len(tables)),
                                        members // size):
        models = [t for i in combo for t in tables[i]]
        pred = np.stack([t.pred.to_numpy() for t in models])
        sim = np.stack([t.nn_similarity.to_numpy() for t in models])
        block = tables[0][0][["row", "target", "psmiles", "fold", "y"]].copy()
        block["pred"] = pred.mean(0)
        block["pred_std"] = pred.std(0) if members > 1 else np.nan
        block["nn_similarity"] = sim.mean(0)
        block["runs"] = "+".join(str(i) for i in combo)
        blocks.append(block)
    out = pd.concat(blocks, ignore_index=True)
    out.insert(0, "model", label)
    return out


def _sorted_table(frame: pd.DataFrame, label: str) -> pd.DataFrame:
    t = frame[frame.model == label].copy()
    if "nn_similarity" not in t or t.nn_similarity.isna().all():
        t["nn_similarity"] = fold_similarity(t)
    return t.sort_values(["target", "row"]).reset_index(drop=True)


def fold_similarity(predictions: pd.DataFrame) -> np.ndarray:
    """Each row's nearest-neighbour Tanimoto similarity to the polymers of
    the other folds (its training folds), for prediction tables written
    before ``finetune`` recorded it."""
    from mmpoly_geo.chem.similarity import (
        morgan_bits, nearest_neighbour_similarity)

    psmiles = predictions.psmiles.to_numpy()
    folds = predictions.fold.to_numpy()
    bits = morgan_bits(list(psmiles))
    out = np.full(len(predictions), np.nan)
    for k in np.unique(folds):
        test = folds == k
        out[test] = nearest_neighbour_similarity(
            list(psmiles[test]), [b for b, t in zip(bits, test) if not t])
    return out
