import pytest

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
