import pytest
from torch_geometric.loader import DataLoader

from mmpoly_geo.data import PolymerFeaturizer

POLYMERS = ["*CC(*)c1ccccc1", "*Oc1ccc(CC(*)=O)cc1", "*CC(*)C", "*OCC*"]


@pytest.fixture(scope="session")
def polymers():
    f = PolymerFeaturizer(num_conformers=1, cutoff=4.0)
    return [f(s, y=[float(i)]) for i, s in enumerate(POLYMERS)]


@pytest.fixture(scope="session")
def batch(polymers):
    return next(iter(DataLoader(polymers, batch_size=len(polymers))))
