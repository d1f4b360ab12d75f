import numpy as np
import pytest

from mmpoly_geo.models.calibration import (
    calibration_report, coverage, fit_scale, similarity_threshold)


def test_scale_restores_nominal_coverage():
    rng = np.random.default_rng(0)
    sigma = rng.uniform(0.5, 2.0, 4000)
    errors = rng.normal(0.0, 3.0 * sigma)  # spreads 3x too small
    assert coverage(errors, sigma, 1) < 0.35
    report = calibration_report(errors, sigma)
    assert report["scale"] == pytest.approx(3.0, rel=0.05)
    assert report["coverage_1sigma"] == pytest.approx(0.6827, abs=0.01)
    # Normal errors: 2 sigma then covers about 95 % too.
    assert report["coverage_2sigma"] == pytest.approx(0.9545, abs=0.02)
    assert report["n"] == 4000


def test_needs_a_spread():
    with pytest.raises(ValueError, match="ensemble"):
        fit_scale([0.1, 0.2], [np.nan, 0.0])
    assert np.isnan(coverage([np.nan], [1.0]))


def test_similarity_threshold():
    rng = np.random.default_rng(1)
    sim = rng.uniform(0.2, 1.0, 500)
    errors = rng.normal(0, 1 + 3 * (sim < 0.35))
    t = similarity_threshold(errors, sim)
    assert 0.3 <= t <= 0.55
    assert similarity_threshold(rng.normal(size=500), sim) is None
