"""Oligomers: n repeat units joined head to tail, still a P-SMILES molecule."""
from __future__ import annotations

from typing import Tuple

import numpy as np
from rdkit import Chem, rdBase

from mmpoly_geo.chem.errors import OligomerError
from mmpoly_geo.chem.psmiles import STAR_PROP
from mmpoly_geo.chem.star_substitution import star_neighbours

UNIT_PROP = "_mmpoly_unit"


def build_oligomer(mol: Chem.Mol, repeat_units: int) -> Tuple[Chem.Mol, np.ndarray]:
    r"""Joins :obj:`repeat_units` copies of a repeat unit head to tail.

    Unit :math:`k`'s second star is removed and its neighbour is bonded to the
    neighbour of unit :math:`k+1`'s first star (also removed). The result keeps
    two stars, the first of unit 0 and the second of the last unit, so it is a
    P-SMILES molecule again and can be star-substituted.

    Args:
        mol (rdkit.Chem.Mol): A molecule from
            :func:`~mmpoly_geo.chem.psmiles.parse_psmiles`.
        repeat_units (int): Number of units :math:`n \geq 1`.

    Returns:
        (rdkit.Chem.Mol, numpy.ndarray): the oligomer and, for each of its atoms,
        the index of the repeat unit it comes from (shape :obj:`[num_atoms]`).

    Raises:
        OligomerError: if the two star bonds differ in order (``*=CC*``), so the
        units cannot be joined consistently.
    """
    if repeat_units < 1:
        raise ValueError(f"repeat_units must be >= 1, got {repeat_units}")
    if repeat_units == 1:
        return Chem.Mol(mol), np.zeros(mol.GetNumAtoms(), dtype=np.int64)
    s1, n1, s2, n2 = star_neighbours(mol)
    bond1 = mol.GetBondBetweenAtoms(s1, n1).GetBondType()
    bond2 = mol.GetBondBetweenAtoms(s2, n2).GetBondType()
    if bond1 != bond2:
        raise OligomerError(
            f"cannot join repeat units: the star bonds differ ({bond1.name} "
            f"vs {bond2.name})")
    n = mol.GetNumAtoms()
    combined = mol
    for _ in range(repeat_units - 1):
        combined = Chem.CombineMols(combined, mol)
    rw = Chem.RWMol(combined)
    for atom in rw.GetAtoms():
        atom.SetIntProp(UNIT_PROP, atom.GetIdx() // n)
    for k in range(repeat_units - 1):
        rw.AddBond(k * n + n2, (k + 1) * n + n1, bond2)
    remove = []
    for k in range(repeat_units):
        if k < repeat_units - 1:
            remove.append(k * n + s2)
        if k > 0:
            remove.append(k * n + s1)
    # A chiral tag is defined by neighbour order; swapping a star for the next
    # unit's atom can invert it, so drop tags there rather than guess.
    for idx in remove:
        for nb in rw.GetAtomWithIdx(idx).GetNeighbors():
            nb.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for idx in sorted(remove, reverse=True):
        rw.RemoveAtom(idx)
    # Likewise a double bond whose stereo was given against a removed star:
    # RDKit keeps its E/Z flag without reference atoms, which crashes
    # (segfaults) the 3D embedding of the oligomer.
    for bond in rw.GetBonds():
        if (bond.GetStereo() != Chem.BondStereo.STEREONONE
                and len(bond.GetStereoAtoms()) < 2):
            bond.SetStereo(Chem.BondStereo.STEREONONE)
    out = rw.GetMol()
    for atom in out.GetAtoms():
        if atom.HasProp(STAR_PROP):
            atom.ClearProp(STAR_PROP)
    stars = [a for a in out.GetAtoms() if a.GetAtomicNum() == 0]
    stars[0].SetIntProp(STAR_PROP, 1)
    stars[1].SetIntProp(STAR_PROP, 2)
    try:
        blocker = rdBase.BlockLogs()  # noqa: F841  (the error is raised below)
        Chem.SanitizeMol(out)
    except Exception as exc:
        raise OligomerError(
            f"the {repeat_units}-mer is chemically invalid: {str(exc).strip()}"
        ) from None
    unit = np.array([a.GetIntProp(UNIT_PROP) for a in out.GetAtoms()],
                    dtype=np.int64)
    return out, unit
