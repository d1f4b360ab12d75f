"""Classical baseline: random forest on Morgan count fingerprints."""
from __future__ import annotations

import numpy as np

from mmpoly_geo.chem.descriptors import morgan_counts

__all__ = ["morgan_counts", "random_forest_predict"]


def random_forest_predict(train_x: np.ndarray, train_y: np.ndarray,
                          test_x: np.ndarray, seed: int = 0,
                          n_estimators: int = 500) -> np.ndarray:
    """Fits one random forest per target (rows with a NaN target skipped) and
    predicts :obj:`test_x`; returns :obj:`[N_test, T]`."""
    from sklearn.ensemble import RandomForestRegressor

    train_y = train_y.reshape(len(train_y), -1)
    out = np.full((len(test_x), train_y.shape[1]), np.nan)
    for t in range(train_y.shape[1]):
        ok = ~np.isnan(train_y[:, t])
        forest = RandomForestRegressor(n_estimators=n_estimators,
                                       random_state=seed, n_jobs=-1)
        forest.fit(train_x[ok], train_y[ok, t])
        out[:, t] = forest.predict(test_x)
    return out
