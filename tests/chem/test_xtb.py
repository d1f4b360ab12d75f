import numpy as np
import pytest
from rdkit import Chem

from mmpoly_geo.chem import xtb
from mmpoly_geo.chem.descriptors import (
    DESCRIPTOR_SETS, descriptor_slice, descriptor_union, descriptor_vector,
    rdkit_descriptor_names)
from mmpoly_geo.chem.oligomer import build_oligomer
from mmpoly_geo.chem.psmiles import parse_psmiles
from mmpoly_geo.chem.star_substitution import star_substitution
from mmpoly_geo.chem.xtb import XTB_DESCRIPTOR_NAMES, xtb_descriptors, xtb_oligomer
from mmpoly_geo.data.featurize import PolymerFeaturizer

pytest.importorskip("tblite")


def test_orbital_energies_are_ordered_reproducible_and_physical():
    homo, lumo, gap = xtb_descriptors("*CC(*)c1ccccc1")
    assert np.isfinite([homo, lumo, gap]).all()
    assert homo < lumo and gap == pytest.approx(lumo - homo)
    assert 2 < gap < 15  # eV: a closed-shell organic molecule
    # One seeded conformer: the same polymer gives the same numbers.
    np.testing.assert_array_equal(xtb_descriptors("*CC(*)c1ccccc1"),
                                  [homo, lumo, gap])
    # A conjugated backbone has a far smaller gap than a saturated one.
    saturated = xtb_descriptors("*CC*")[2]
    conjugated = xtb_descriptors("*c1ccc(*)s1")[2]
    assert conjugated < saturated - 1.0


def test_unusable_polymers_give_nan_not_an_exception():
    out = xtb_descriptors("*CC(*")  # unparsable
    assert out.shape == (len(XTB_DESCRIPTOR_NAMES),) and np.isnan(out).all()


def test_large_oligomers_use_fewer_units():
    dimer = xtb_oligomer("*CC(*)c1ccccc1")
    monomer = Chem.AddHs(star_substitution(
        build_oligomer(parse_psmiles("*CC(*)c1ccccc1"), 1)[0]))
    assert dimer.GetNumAtoms() > monomer.GetNumAtoms()
    small = xtb_oligomer("*CC(*)c1ccccc1", max_atoms=dimer.GetNumAtoms() - 1)
    assert small.GetNumAtoms() == monomer.GetNumAtoms()
    # No star is left: the ends are closed by star substitution.
    assert all(a.GetAtomicNum() > 0 for a in small.GetAtoms())


def test_units_that_cannot_be_joined_use_one_unit():
    # A single and a double star bond: no dimer, but the unit has values.
    mol = xtb_oligomer("*CC(C)=*")
    unit = Chem.AddHs(star_substitution(
        build_oligomer(parse_psmiles("*CC(C)=*"), 1)[0]))
    assert mol.GetNumAtoms() == unit.GetNumAtoms()
    assert np.isfinite(xtb_descriptors("*CC(C)=*")).all()


def test_xtb_is_a_descriptor_part():
    n = len(rdkit_descriptor_names())
    assert {"xtb", "rdkit+xtb", "rdkit+morgan+xtb"} <= set(DESCRIPTOR_SETS)
    assert descriptor_union(["rdkit", "xtb"]) == "rdkit+xtb"
    assert descriptor_slice("xtb", "rdkit+xtb") == slice(n, n + 3)
    assert descriptor_slice("rdkit", "rdkit+xtb") == slice(0, n)
    vector = descriptor_vector("rdkit+xtb", Chem.MolFromSmiles("*CC(*)C"),
                               Chem.MolFromSmiles("CCCC"))
    assert vector.shape == (n + 3,)
    np.testing.assert_allclose(vector[n:], xtb_descriptors("*CC(*)C"),
                               rtol=1e-6)
    arrays = PolymerFeaturizer(num_conformers=1,
                               descriptors="rdkit+xtb").arrays("*CC(*)C")
    np.testing.assert_allclose(arrays["descriptors"][n:],
                               xtb_descriptors("*CC(*)C"), rtol=1e-6)


def test_missing_tblite_is_named_before_any_row(monkeypatch):
    monkeypatch.setattr(xtb, "xtb_available", lambda: False)
    with pytest.raises(ImportError, match="pip install"):
        PolymerFeaturizer(num_conformers=1, descriptors="rdkit+xtb")
    PolymerFeaturizer(num_conformers=1, descriptors="rdkit")  # unaffected


def test_a_junction_double_bond_embeds():
    # Its dimer once carried an E/Z flag without reference atoms, and the
    # embedding crashed the process (a worker timeout in processing).
    assert np.isfinite(xtb_descriptors("*/C=C\\C(C#N)C*")).all()
