"""Whole-molecule descriptors of a repeat unit: RDKit 2D descriptors and
Morgan count fingerprints (the random-forest baseline's features)."""
from __future__ import annotations

from typing import List, Sequence, Union

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import Descriptors, rdFingerprintGenerator

#: Descriptor sets :class:`~mmpoly_geo.data.PolymerFeaturizer` can store.
DESCRIPTOR_SETS = ("none", "rdkit", "morgan", "rdkit+morgan")
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


def descriptor_vector(kind: str, psmiles_mol: Chem.Mol,
                      capped_mol: Chem.Mol) -> np.ndarray:
    """The descriptor set :obj:`kind` (one of :data:`DESCRIPTOR_SETS`) as one
    float32 vector: RDKit descriptors of :obj:`capped_mol` (the repeat unit
    without dummy atoms) and/or Morgan counts of :obj:`psmiles_mol`."""
    if kind not in DESCRIPTOR_SETS:
        raise ValueError(f"descriptors must be one of {DESCRIPTOR_SETS}, got "
                         f"{kind!r}")
    parts = []
    if "rdkit" in kind:
        parts.append(rdkit_descriptors(capped_mol))
    if "morgan" in kind:
        parts.append(morgan_counts(psmiles_mol))
    if not parts:
        return np.zeros(0, dtype=np.float32)
    with np.errstate(over="ignore"):  # e.g. Ipc beyond float32: becomes inf
        out = np.concatenate(parts).astype(np.float32)
    out[~np.isfinite(out)] = np.nan
    return out
