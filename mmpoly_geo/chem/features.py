"""Categorical atom and bond features (PyG ``from_smiles`` style, plus a star
flag and the repeat-unit index)."""
from __future__ import annotations

import numpy as np
from rdkit import Chem

from mmpoly_geo.chem.psmiles import STAR_PROP

_CHIRALITY = [
    Chem.ChiralType.CHI_UNSPECIFIED, Chem.ChiralType.CHI_TETRAHEDRAL_CW,
    Chem.ChiralType.CHI_TETRAHEDRAL_CCW, Chem.ChiralType.CHI_OTHER,
]
_HYBRIDIZATION = [
    Chem.HybridizationType.UNSPECIFIED, Chem.HybridizationType.S,
    Chem.HybridizationType.SP, Chem.HybridizationType.SP2,
    Chem.HybridizationType.SP3, Chem.HybridizationType.SP3D,
    Chem.HybridizationType.SP3D2, Chem.HybridizationType.OTHER,
]
_BOND_TYPE = [
    Chem.BondType.SINGLE, Chem.BondType.DOUBLE, Chem.BondType.TRIPLE,
    Chem.BondType.AROMATIC,
]
_BOND_STEREO = [
    Chem.BondStereo.STEREONONE, Chem.BondStereo.STEREOZ,
    Chem.BondStereo.STEREOE, Chem.BondStereo.STEREOCIS,
    Chem.BondStereo.STEREOTRANS, Chem.BondStereo.STEREOANY,
]

#: Names of the columns of :obj:`x` (atom features, all integers).
ATOM_FEATURES = (
    "atomic_num", "chirality", "degree", "formal_charge", "num_hs",
    "num_radical_electrons", "hybridization", "is_aromatic", "is_in_ring",
    "is_star",
)
#: Number of categories of each atom feature (for embedding tables).
ATOM_FEATURE_DIMS = (119, 4, 11, 11, 9, 5, 8, 2, 2, 2)
#: Names of the columns of :obj:`edge_attr` (bond features, all integers).
BOND_FEATURES = ("bond_type", "stereo", "is_conjugated", "is_in_ring")
#: Number of categories of each bond feature.
BOND_FEATURE_DIMS = (5, 6, 2, 2)


def _index(options, value):
    try:
        return options.index(value)
    except ValueError:
        return len(options) - 1


def atom_features(mol: Chem.Mol) -> np.ndarray:
    """Returns atom features, shape :obj:`[num_atoms, 10]` (int64); columns
    are :data:`ATOM_FEATURES`. Formal charge is stored shifted by +5."""
    rows = []
    for atom in mol.GetAtoms():
        rows.append((
            atom.GetAtomicNum(),
            _index(_CHIRALITY, atom.GetChiralTag()),
            min(atom.GetTotalDegree(), 10),
            min(max(atom.GetFormalCharge() + 5, 0), 10),
            min(atom.GetTotalNumHs(), 8),
            min(atom.GetNumRadicalElectrons(), 4),
            _index(_HYBRIDIZATION, atom.GetHybridization()),
            int(atom.GetIsAromatic()),
            int(atom.IsInRing()),
            int(atom.HasProp(STAR_PROP)),
        ))
    return np.asarray(rows, dtype=np.int64).reshape(-1, len(ATOM_FEATURES))


def masked_atom_features() -> np.ndarray:
    """The feature row that replaces a masked atom in pretraining, shape
    :obj:`[10]`: all columns 0. It carries no information about the atom (the
    same row for every masked atom) and is never a real atom's row, since
    formal-charge category 0 (a charge of -5) does not occur; so the model
    knows an atom is masked, and cannot read its element from its degree,
    hydrogens or hybridisation: with only the element column masked, a lookup
    table of the other columns recovers the element of 96 % of the 117,642
    atoms of the 8 benchmark sets (always guessing carbon: 75 %)."""
    return np.zeros(len(ATOM_FEATURES), dtype=np.int64)


def bond_features(bond) -> tuple:
    """The :data:`BOND_FEATURES` of one RDKit bond (all zeros for
    :obj:`None`)."""
    if bond is None:
        return (0,) * len(BOND_FEATURES)
    return (
        _index(_BOND_TYPE + [None], bond.GetBondType()),
        _index(_BOND_STEREO, bond.GetStereo()),
        int(bond.GetIsConjugated()),
        int(bond.IsInRing()),
    )


def bond_graph(mol: Chem.Mol):
    """Returns ``(edge_index [2, 2B], edge_attr [2B, 4])`` (int64), both
    directions of each bond, sorted by source then target atom."""
    src, dst, attr = [], [], []
    for bond in mol.GetBonds():
        i, j = bond.GetBeginAtomIdx(), bond.GetEndAtomIdx()
        f = bond_features(bond)
        src += [i, j]
        dst += [j, i]
        attr += [f, f]
    edge_index = np.asarray([src, dst], dtype=np.int64).reshape(2, -1)
    edge_attr = np.asarray(attr, dtype=np.int64).reshape(-1, len(BOND_FEATURES))
    order = np.lexsort((edge_index[1], edge_index[0]))
    return edge_index[:, order], edge_attr[order]
