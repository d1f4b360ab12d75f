import numpy as np
import pytest
from rdkit import Chem

from mmpoly_geo.chem import (
    OligomerError, build_oligomer, canonicalize_psmiles, parse_psmiles,
    star_atoms)


@pytest.mark.parametrize("psmiles, n, expected", [
    ("*CC(*)C", 3, "*CC(C)CC(C)CC(*)C"),
    ("*OCC*", 2, "*OCCOCC*"),
    ("*=CC=*", 2, "*=CC=CC=*"),
])
def test_oligomer_structure(psmiles, n, expected):
    mol, unit = build_oligomer(parse_psmiles(psmiles), n)
    assert canonicalize_psmiles(mol) == canonicalize_psmiles(expected)
    assert np.bincount(unit).tolist() == [
        parse_psmiles(psmiles).GetNumAtoms() - 1] * n or unit.max() == n - 1


def test_oligomer_counts_and_stars():
    unit_mol = parse_psmiles("*CC(*)c1ccccc1")
    mol, unit = build_oligomer(unit_mol, 4)
    # 8 non-star atoms per unit, plus the two end stars.
    assert mol.GetNumAtoms() == 4 * 8 + 2
    assert unit.shape == (mol.GetNumAtoms(),) and unit.max() == 3
    s1, s2 = star_atoms(mol)
    assert unit[s1] == 0 and unit[s2] == 3
    assert sum(a.GetAtomicNum() == 0 for a in mol.GetAtoms()) == 2


def test_one_unit_is_identity():
    mol = parse_psmiles("*CC(*)C")
    out, unit = build_oligomer(mol, 1)
    assert Chem.MolToSmiles(out) == Chem.MolToSmiles(mol)
    assert unit.tolist() == [0] * mol.GetNumAtoms()


def test_mismatched_star_bonds():
    with pytest.raises(OligomerError, match="DOUBLE vs SINGLE"):
        build_oligomer(parse_psmiles("*=CCC*"), 2)


def test_bad_repeat_units():
    with pytest.raises(ValueError):
        build_oligomer(parse_psmiles("*CC*"), 0)


def test_double_bond_stereo_at_a_junction_is_dropped_not_left_dangling():
    # The second unit's C=C stereo was given against its first star, which
    # joining removes; RDKit would keep the E/Z flag without reference atoms
    # (its 3D embedding then segfaults).
    mol, _ = build_oligomer(parse_psmiles("*/C=C\\C(C#N)C*"), 3)
    flagged = [b for b in mol.GetBonds()
               if b.GetStereo() != Chem.BondStereo.STEREONONE]
    assert all(len(b.GetStereoAtoms()) == 2 for b in flagged)
    assert len(flagged) == 1  # the first unit keeps its (first-star) stereo
