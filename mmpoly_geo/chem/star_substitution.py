"""Star substitution (MMPolymer): give each ``*`` the element of the atom
bonded to the *other* ``*``, so that the 3D embedding sees the chain continue.
"""
from __future__ import annotations

from rdkit import Chem, rdBase

from mmpoly_geo.chem.errors import StarSubstitutionError
from mmpoly_geo.chem.psmiles import STAR_PROP, star_atoms


def star_neighbours(mol: Chem.Mol):
    """Returns ``(s1, n1, s2, n2)``: the two star indices and the index of the
    atom each one is bonded to."""
    s1, s2 = star_atoms(mol)
    n1 = mol.GetAtomWithIdx(s1).GetNeighbors()[0].GetIdx()
    n2 = mol.GetAtomWithIdx(s2).GetNeighbors()[0].GetIdx()
    return s1, n1, s2, n2


def star_substitution(mol: Chem.Mol) -> Chem.Mol:
    r"""Replaces both stars of a P-SMILES molecule by real atoms.

    As published for MMPolymer: star :math:`s_1` (bonded to :math:`n_1`) takes
    the atomic number of :math:`n_2` and :math:`s_2` that of :math:`n_1`. Only
    the element is copied (no charge, aromaticity or isotope), the bond order
    of the star bond is kept, and hydrogens are re-derived from valence, so
    ``*c1ccc(*)cc1`` becomes ``Cc1ccc(C)cc1`` (written as such).

    Unlike MMPolymer the molecule is **not** re-canonicalised: atom indices are
    unchanged, so the former stars stay exactly at the indices returned by
    :func:`~mmpoly_geo.chem.psmiles.star_atoms` and keep their
    ``_mmpoly_star`` record (1 or 2).

    Args:
        mol (rdkit.Chem.Mol): A molecule from
            :func:`~mmpoly_geo.chem.psmiles.parse_psmiles`.

    Raises:
        StarSubstitutionError: if the substituted molecule is chemically invalid
            (e.g. a double-bonded star that would become a fluorine).
    """
    s1, n1, s2, n2 = star_neighbours(mol)
    rw = Chem.RWMol(mol)
    for star, source in ((s1, n2), (s2, n1)):
        atom = rw.GetAtomWithIdx(star)
        atom.SetAtomicNum(mol.GetAtomWithIdx(source).GetAtomicNum())
        atom.SetFormalCharge(0)
        atom.SetIsotope(0)
        atom.SetIsAromatic(False)
        atom.SetNumExplicitHs(0)
        atom.SetNoImplicit(False)
        atom.SetIntProp(STAR_PROP, 1 if star == s1 else 2)
    out = rw.GetMol()
    try:
        blocker = rdBase.BlockLogs()  # noqa: F841  (the error is raised below)
        Chem.SanitizeMol(out)
    except Exception as exc:
        elements = (mol.GetAtomWithIdx(n2).GetSymbol(),
                    mol.GetAtomWithIdx(n1).GetSymbol())
        raise StarSubstitutionError(
            f"star substitution (stars -> {elements[0]}, {elements[1]}) gives "
            f"an invalid molecule: {str(exc).strip()}") from None
    return out
