import pandas as pd
import pytest
from rdkit import Chem

from mmpoly_geo.chem import (
    StarSubstitutionError, canonicalize_psmiles, parse_psmiles, star_atoms, star_neighbours,
    star_substitution)
from mmpoly_geo.data.shipped import BENCHMARKS, shipped_files


@pytest.mark.parametrize("psmiles, expected", [
    # Examples given on the MMPolymer slides.
    ("*NCCCCCC(*)=O", "CNCCCCCC(N)=O"),
    ("*Oc1ccc(CC(*)=O)cc1", "COc1ccc(CC(O)=O)cc1"),
    ("*c1ccc(*)cc1", "Cc1ccc(C)cc1"),
    ("*C*", "CCC"),
    ("*=CC1CCC(C=*)C1", "C=CC1CCC(C=C)C1"),
])
def test_published_substitution(psmiles, expected):
    out = star_substitution(parse_psmiles(psmiles))
    assert Chem.MolToSmiles(out) == Chem.CanonSmiles(expected)


def test_invalid_substitution_raises():
    # Star 1 would become a neutral Cl with a double bond.
    with pytest.raises(StarSubstitutionError, match="invalid molecule"):
        star_substitution(parse_psmiles("*=CC[Cl+]*"))


def _check_star_records(psmiles):
    mol = parse_psmiles(psmiles)
    s1, n1, s2, n2 = star_neighbours(mol)
    out = star_substitution(mol)
    t1, t2 = star_atoms(out)
    assert (t1, t2) == (s1, s2)
    a1, a2 = out.GetAtomWithIdx(t1), out.GetAtomWithIdx(t2)
    assert a1.GetAtomicNum() == mol.GetAtomWithIdx(n2).GetAtomicNum()
    assert a2.GetAtomicNum() == mol.GetAtomWithIdx(n1).GetAtomicNum()
    # The recorded atoms are bonded where the stars were.
    assert out.GetBondBetweenAtoms(t1, n1) is not None
    assert out.GetBondBetweenAtoms(t2, n2) is not None


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_star_records_correct_on_all_benchmarks(name):
    frame = pd.read_csv(shipped_files(name)[0])
    for s in frame.psmiles:
        _check_star_records(s)
        _check_star_records(canonicalize_psmiles(s))  # what PolymerData uses
