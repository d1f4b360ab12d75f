"""Whole-molecule descriptors of a repeat unit: RDKit 2D descriptors, Morgan
count fingerprints (the random-forest baseline's features) and GFN2-xTB
frontier orbital energies (:mod:`mmpoly_geo.chem.xtb`)."""
from __future__ import annotations

from itertools import combinations
from typing import List, Sequence, Union

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors, rdFingerprintGenerator

from mmpoly_geo.chem.xtb import XTB_DESCRIPTOR_NAMES, xtb_descriptors

#: The parts a descriptor set joins, in the order of its vector.
DESCRIPTOR_PARTS = ("rdkit", "morgan", "xtb")
#: Descriptor sets :class:`~mmpoly_geo.data.PolymerFeaturizer` can store:
#: ``none`` or parts joined by ``+`` in :data:`DESCRIPTOR_PARTS` order
#: (``rdkit``, ``rdkit+morgan``, ``rdkit+xtb``, ...).
DESCRIPTOR_SETS = ("none",) + tuple(
    "+".join(c) for r in range(1, len(DESCRIPTOR_PARTS) + 1)
    for c in combinations(DESCRIPTOR_PARTS, r))
#: Morgan count fingerprint settings shared by the model input and the RF
#: baseline, so that both see the same features.
MORGAN_RADIUS, MORGAN_BITS = 2, 2048


def rdkit_descriptor_names() -> List[str]:
    """Names of the RDKit 2D descriptors (their number depends on the RDKit
    version: 217 in RDKit 2024-2025)."""
    return [name for name, _ in Descriptors._descList]


def rdkit_descriptors(mol: Chem.Mol) -> np.ndarray:
    """All RDKit 2D descriptors of :obj:`mol`, shape :obj:`[D]` (float64).

    Values RDKit cannot compute become ``NaN`` (never an exception); use a
    molecule without dummy atoms (e.g. after star substitution), since partial
    charges are undefined for them."""
    out = np.full(len(Descriptors._descList), np.nan)
    # Failures become NaN; RDKit's log of them (invariant violations with
    # stack traces, e.g. BCUT2D on dative bonds) is noise here.
    blocker = rdBase.BlockLogs()  # noqa: F841  (silences RDKit while alive)
    for i, (_, fn) in enumerate(Descriptors._descList):
        try:
            out[i] = float(fn(mol))
        except Exception:  # RDKit raises many types for odd molecules
            pass
    out[~np.isfinite(out)] = np.nan
    return out


def morgan_counts(mols: Union[Chem.Mol, str, Sequence[Union[Chem.Mol, str]]],
                  radius: int = MORGAN_RADIUS,
                  size: int = MORGAN_BITS) -> np.ndarray:
    """Morgan count fingerprints (stars are dummy atoms) of one molecule or
    P-SMILES (:obj:`[size]`) or of a list (:obj:`[N, size]`), float32."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius,
                                                         fpSize=size)

    def one(m):
        if isinstance(m, str):
            m = Chem.MolFromSmiles(m)
        return generator.GetCountFingerprintAsNumPy(m).astype(np.float32)

    if isinstance(mols, (str, Chem.Mol)):
        return one(mols)
    return np.stack([one(m) for m in mols])


def descriptor_union(kinds: Sequence[str]) -> str:
    """The smallest descriptor set holding every set in :obj:`kinds`."""
    parts = {p for kind in kinds for p in _parts(kind)}
    return "+".join(p for p in DESCRIPTOR_PARTS if p in parts) or "none"


def descriptor_slice(kind: str, within: str) -> slice:
    """Where the columns of descriptor set :obj:`kind` lie in a vector of the
    set :obj:`within` (:func:`descriptor_vector` puts RDKit descriptors
    first), so one featurisation serves models of both sets."""
    have, want = _parts(within), _parts(kind)
    if not set(want) <= set(have):
        raise ValueError(f"descriptor set {kind!r} is not part of {within!r}")
    sizes = {"rdkit": len(rdkit_descriptor_names()), "morgan": MORGAN_BITS,
             "xtb": len(XTB_DESCRIPTOR_NAMES)}
    start = {p: sum(sizes[q] for q in have[:i]) for i, p in enumerate(have)}
    if not want:
        return slice(0, 0)
    return slice(start[want[0]], start[want[-1]] + sizes[want[-1]])


def _parts(kind: str) -> List[str]:
    if kind not in DESCRIPTOR_SETS:
        raise ValueError(f"descriptors must be one of {DESCRIPTOR_SETS}, got "
                         f"{kind!r}")
    return [p for p in kind.split("+") if p != "none"]


def descriptor_vector(kind: str, psmiles_mol: Chem.Mol,
                      capped_mol: Chem.Mol) -> np.ndarray:
    """The descriptor set :obj:`kind` (one of :data:`DESCRIPTOR_SETS`) as one
    float32 vector: RDKit descriptors of :obj:`capped_mol` (the repeat unit
    without dummy atoms), Morgan counts of :obj:`psmiles_mol` and/or the
    GFN2-xTB orbital energies of its oligomer (:func:`xtb_descriptors`)."""
    compute = {"rdkit": lambda: rdkit_descriptors(capped_mol),
               "morgan": lambda: morgan_counts(psmiles_mol),
               "xtb": lambda: xtb_descriptors(Chem.MolToSmiles(psmiles_mol))}
    # In the order of the set's name, as descriptor_slice expects.
    parts = [compute[p]() for p in _parts(kind)]
    if not parts:
        return np.zeros(0, dtype=np.float32)
    with np.errstate(over="ignore"):  # e.g. Ipc beyond float32: becomes inf
        out = np.concatenate(parts).astype(np.float32)
    out[~np.isfinite(out)] = np.nan
    return out
