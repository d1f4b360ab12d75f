"""K-fold splits grouped by polymer, fixed by a seed."""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np


def grouped_kfold(keys: Sequence[str], folds: int,
                  seed: int = 0) -> List[np.ndarray]:
    """Splits items into :obj:`folds` test folds so that items sharing a key
    (the same polymer, see :func:`~mmpoly_geo.chem.polymer_key`) never
    straddle folds. Groups are shuffled by :obj:`seed`, then each goes to the
    currently smallest fold. Returns the sorted test indices of each fold."""
    if folds < 2:
        raise ValueError(f"folds must be >= 2, got {folds}")
    groups = {}
    for i, key in enumerate(keys):
        groups.setdefault(key, []).append(i)
    if len(groups) < folds:
        raise ValueError(f"{len(groups)} distinct polymers cannot fill "
                         f"{folds} folds")
    order = list(groups.values())
    rng = np.random.default_rng(seed)
    rng.shuffle(order)
    order.sort(key=len, reverse=True)  # stable: ties keep shuffled order
    members = [[] for _ in range(folds)]
    for group in order:
        smallest = min(range(folds), key=lambda f: len(members[f]))
        members[smallest].extend(group)
    return [np.array(sorted(m), dtype=np.int64) for m in members]


def train_val_split(indices: np.ndarray, keys: Sequence[str],
                    val_fraction: float,
                    seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """Carves a validation set (about :obj:`val_fraction`, whole groups) out
    of :obj:`indices`; returns ``(train, val)``."""
    groups = {}
    for i in indices:
        groups.setdefault(keys[i], []).append(int(i))
    order = list(groups.values())
    np.random.default_rng(seed + 1).shuffle(order)
    target = max(1, int(round(val_fraction * len(indices))))
    val, train = [], []
    for group in order:
        (val if len(val) < target else train).extend(group)
    return np.array(sorted(train), dtype=np.int64), np.array(sorted(val),
                                                             dtype=np.int64)
