import pytest
from torch_geometric.loader import DataLoader

from mmpoly_geo.data import PolymerFeaturizer


@pytest.fixture(scope="session")
def featurizer():
    return PolymerFeaturizer(num_conformers=3)


MIXED = [
    "*CC(*)C",                    # polypropylene
    "*CC(*)c1ccccc1",             # polystyrene
    "*Oc1ccc(CC(*)=O)cc1",        # aromatic ester
    "*C*",                        # stars on one atom
    "*=CC1CCC(C=*)C1",            # ROMP: double-bonded stars
    "*C([2H])=C(*)[2H]",          # deuterium
    "*[Si](C)(C)O*",              # siloxane
    "*CC(*)C(=O)[O-]->[Na+]",     # dative bond, charge (keep last)
]


# Small polymers for the layer and model tests (radius graphs at 4 A).
POLYMERS = ["*CC(*)c1ccccc1", "*Oc1ccc(CC(*)=O)cc1", "*CC(*)C", "*OCC*"]


@pytest.fixture(scope="session")
def polymers():
    f = PolymerFeaturizer(num_conformers=1, cutoff=4.0)
    return [f(s, y=[float(i)]) for i, s in enumerate(POLYMERS)]


@pytest.fixture(scope="session")
def batch(polymers):
    return next(iter(DataLoader(polymers, batch_size=len(polymers))))
