"""Nearest-neighbour Tanimoto similarity between polymers (Morgan bits of the
P-SMILES), for applicability-domain checks: how close a polymer is to the
ones a model was trained on."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np
from rdkit import Chem, DataStructs, rdBase
from rdkit.Chem import rdFingerprintGenerator

from mmpoly_geo.chem.descriptors import MORGAN_BITS, MORGAN_RADIUS


def morgan_bits(psmiles: Sequence[str], radius: int = MORGAN_RADIUS,
                size: int = MORGAN_BITS) -> List:
    """RDKit bit vectors (stars are dummy atoms); :obj:`None` for a string
    RDKit cannot parse."""
    generator = rdFingerprintGenerator.GetMorganGenerator(radius=radius,
                                                         fpSize=size)
    blocker = rdBase.BlockLogs()  # noqa: F841  (unparsable rows give None)
    out = []
    for s in psmiles:
        mol = Chem.MolFromSmiles(s) if isinstance(s, str) else None
        out.append(None if mol is None else generator.GetFingerprint(mol))
    return out


def nearest_neighbour_similarity(queries: Sequence[str],
                                 references: Sequence) -> np.ndarray:
    r"""The largest Tanimoto similarity of each query to any reference,
    shape :obj:`[len(queries)]` in :math:`[0, 1]`; ``NaN`` for a query RDKit
    cannot parse or when there are no references. :obj:`references` are
    P-SMILES or their :func:`morgan_bits` (to compute those once)."""
    if len(references) and isinstance(references[0], str):
        references = morgan_bits(references)
    refs = [fp for fp in references if fp is not None]
    out = np.full(len(queries), np.nan)
    if not refs:
        return out
    for i, fp in enumerate(morgan_bits(queries)):
        if fp is not None:
            out[i] = max(DataStructs.BulkTanimotoSimilarity(fp, refs))
    return out
