import numpy as np
import pytest
from rdkit import Chem

from mmpoly_geo.chem import (
    CONFORMER_METHODS, generate_conformers, parse_psmiles, star_substitution)


def _mol(s):
    return star_substitution(parse_psmiles(s))


def test_shapes_and_centring():
    mol = _mol("*CC(*)c1ccccc1")
    res = generate_conformers(mol, num_conformers=4, seed=1)
    assert res.pos.shape == (4, mol.GetNumAtoms(), 3)
    assert res.method == "etkdg" and res.num_embedded == 4
    np.testing.assert_allclose(res.pos.mean(axis=1), 0, atol=1e-5)
    # Distinct conformers, sensible C-C bond length.
    assert np.abs(res.pos[0] - res.pos[1]).max() > 1e-3
    i, j = 0, 1
    d = np.linalg.norm(res.pos[:, i] - res.pos[:, j], axis=-1)
    assert np.all((d > 1.3) & (d < 1.7))


def test_deterministic():
    mol = _mol("*Oc1ccc(CC(*)=O)cc1")
    a = generate_conformers(mol, 3, seed=7)
    b = generate_conformers(Chem.Mol(mol), 3, seed=7)
    np.testing.assert_array_equal(a.pos, b.pos)
    c = generate_conformers(mol, 3, seed=8)
    assert not np.allclose(a.pos, c.pos)


def test_hydrogens_and_mmff():
    mol = _mol("*CC(*)C")
    res = generate_conformers(mol, 2, hydrogens=True, mmff=True)
    assert res.pos.shape == (2, Chem.AddHs(mol).GetNumAtoms(), 3)
    assert res.mmff_converged == 2


def test_fallback_to_2d(monkeypatch):
    from mmpoly_geo.chem import conformers

    monkeypatch.setattr(conformers.rdDistGeom, "EmbedMultipleConfs",
                        lambda *a, **k: [])
    res = generate_conformers(_mol("*CC(*)C"), 3)
    assert res.method == "2d" and res.num_embedded == 0
    np.testing.assert_allclose(res.pos[..., 2], 0, atol=1e-6)
    assert CONFORMER_METHODS.index(res.method) == 2


def test_retry_with_random_coordinates(monkeypatch):
    from mmpoly_geo.chem import conformers

    real = conformers.rdDistGeom.EmbedMultipleConfs

    def first_try_fails(mol, n, params):
        return real(mol, n, params) if params.useRandomCoords else []

    monkeypatch.setattr(conformers.rdDistGeom, "EmbedMultipleConfs",
                        first_try_fails)
    res = generate_conformers(_mol("*CC(*)C"), 3)
    assert res.method == "etkdg_random_coords" and res.num_embedded == 3


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conformers_differ_for_every_seed(seed):
    # RDKit returns identical conformers for randomSeed=0; we must not.
    res = generate_conformers(_mol("*CCCCCCCCC*"), 3, seed=seed)
    assert np.abs(res.pos[0] - res.pos[1]).max() > 0.1
    assert np.abs(res.pos[1] - res.pos[2]).max() > 0.1
