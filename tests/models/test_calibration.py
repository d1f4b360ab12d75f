import numpy as np
import pandas as pd
import pytest

from mmpoly_geo.models.calibration import (
    IDENTITY, calibration_report, coverage, fit_calibration, pool_runs,
    similarity_threshold, uncertainty)


def test_calibration_restores_nominal_coverage():
    rng = np.random.default_rng(0)
    spread = rng.uniform(0.5, 2.0, 4000)
    errors = rng.normal(0.0, 3.0 * spread)  # spreads 3x too small
    assert coverage(errors, spread, 1) < 0.35
    report = calibration_report(errors, spread, groups=np.arange(4000) % 5)
    c = report["calibration"]
    assert c["a"] == pytest.approx(3.0, rel=0.1) and c["b"] < 1.0  # vs a s >= 1.5
    assert report["coverage_1sigma"] == pytest.approx(0.6827, abs=0.02)
    assert report["coverage_interval95"] == pytest.approx(0.9545, abs=0.01)
    # Normal errors: 2 calibrated sigma cover about 95 % too.
    assert report["coverage_2sigma"] == pytest.approx(0.9545, abs=0.02)
    assert c["k2"] == pytest.approx(2 * c["k1"], rel=0.1)
    assert report["n"] == 4000


def test_heavy_tails_and_a_noisy_spread():
    rng = np.random.default_rng(1)
    n = 6000
    true = rng.uniform(0.5, 1.0, n)
    errors = rng.laplace(0.0, true)  # heavier-tailed than normal
    # Two members' spread: a very noisy estimate of the true error scale.
    spread = np.abs(rng.normal(0, true, n) - rng.normal(0, true, n)) / 2
    groups = np.arange(n) % 5
    report = calibration_report(errors, spread, groups)
    assert report["calibration"]["b"] > 0.2  # the floor carries the error
    assert report["coverage_1sigma"] == pytest.approx(0.6827, abs=0.02)
    assert report["coverage_interval95"] == pytest.approx(0.9545, abs=0.01)
    assert report["coverage_2sigma"] < 0.94  # why the interval ships
    # A plain scale of the spread cannot cover 95 % as tightly.
    ratio = np.abs(errors) / spread
    plain = np.quantile(ratio, 0.9545) * spread
    assert report["mean_interval95"] < 0.5 * plain.mean()


def test_needs_a_spread_and_identity():
    with pytest.raises(ValueError, match="ensemble"):
        fit_calibration([0.1, 0.2], [np.nan, 0.0])
    assert np.isnan(coverage([np.nan], [1.0]))
    assert uncertainty(0.3, IDENTITY, 1) == pytest.approx(0.3)
    assert uncertainty(0.3, IDENTITY, 2) == pytest.approx(0.6)


def _run(seed, folds, psmiles):
    rng = np.random.default_rng(seed)
    y = np.arange(len(psmiles), dtype=float)
    return pd.DataFrame(dict(
        model="mmpolymer", fold=folds, row=np.arange(len(psmiles))[::-1],
        psmiles=psmiles[::-1], target="value", y=y[::-1],
        pred=y[::-1] + rng.normal(size=len(psmiles))))


def test_pool_runs():
    psmiles = ["*CC(*)C", "*CC(*)CC", "*CC(*)c1ccccc1", "*CCO*", "*CC(*)F",
               "*CC(*)Cl"]
    runs = [_run(s, [0, 0, 0, 1, 1, 1][::-1] if s else [0, 1] * 3, psmiles)
            for s in range(3)]
    pooled = pool_runs(runs, 2)
    assert len(pooled) == 3 * 6 and set(pooled.runs) == {"0+1", "0+2", "1+2"}
    block = pooled[pooled.runs == "1+2"].set_index("row").sort_index()
    by_row = [r.set_index("row").sort_index() for r in runs]
    assert np.allclose(block.pred, (by_row[1].pred + by_row[2].pred) / 2)
    assert np.allclose(block.pred_std,
                       np.abs(by_row[1].pred - by_row[2].pred) / 2)
    assert (block.fold == by_row[0].fold).all()  # one group per polymer
    # Similarity to the other folds, computed when a run lacks it.
    assert pooled.nn_similarity.between(0, 1).all()
    with pytest.raises(ValueError, match="at least"):
        pool_runs(runs[:1], 2)
    with pytest.raises(ValueError, match="different polymers"):
        pool_runs([runs[0], runs[1].iloc[:-1]], 2)


def test_pool_runs_trained_member_by_member():
    psmiles = ["*CC(*)C", "*CC(*)CC", "*CC(*)c1ccccc1", "*CCO*", "*CC(*)F",
               "*CC(*)Cl"]
    folds = [0, 1] * 3
    # Three runs (seeds), each of two member runs on that seed's folds.
    runs = [[_run(10 * s + m, folds if s else folds[::-1], psmiles)
             for m in range(2)] for s in range(3)]
    by_row = [[t.set_index("row").sort_index() for t in run] for run in runs]
    # One run: its members' mean and spread.
    alone = pool_runs(runs[:1], 2).set_index("row").sort_index()
    assert np.allclose(alone.pred, (by_row[0][0].pred + by_row[0][1].pred) / 2)
    assert np.allclose(alone.pred_std,
                       np.abs(by_row[0][0].pred - by_row[0][1].pred) / 2)
    # Ensembles of 4 models: every pair of runs, all members of each.
    pooled = pool_runs(runs, 4)
    assert set(pooled.runs) == {"0+1", "0+2", "1+2"} and len(pooled) == 18
    block = pooled[pooled.runs == "0+2"].set_index("row").sort_index()
    four = np.stack([t.pred for t in by_row[0] + by_row[2]])
    assert np.allclose(block.pred, four.mean(0))
    assert np.allclose(block.pred_std, four.std(0))
    assert len(pool_runs(runs, 2)) == 3 * 6  # each run alone
    with pytest.raises(ValueError, match="multiple of 2"):
        pool_runs(runs, 3)
    with pytest.raises(ValueError, match="at least 4 runs"):
        pool_runs(runs, 8)
    with pytest.raises(ValueError, match="same number"):
        pool_runs([runs[0], runs[1][:1]], 2)
    # Members of one run share its folds: two seeds' runs are no such pair.
    with pytest.raises(ValueError, match="different folds"):
        pool_runs([[runs[0][0], runs[1][0]]], 2)


def test_similarity_threshold():
    rng = np.random.default_rng(1)
    sim = rng.uniform(0.2, 1.0, 500)
    errors = rng.normal(0, 1 + 3 * (sim < 0.35))
    t = similarity_threshold(errors, sim)
    assert 0.3 <= t <= 0.55
    assert similarity_threshold(rng.normal(size=500), sim) is None
