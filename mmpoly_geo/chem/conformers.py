"""3D conformers of (star-substituted) repeat units with a fallback chain."""
from __future__ import annotations

from dataclasses import dataclass

import math
import time

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem, rdDistGeom

from mmpoly_geo.chem.errors import ConformerError

#: Methods that can produce coordinates, from best to worst. The integer code
#: stored in :class:`~mmpoly_geo.data.PolymerData` is the index in this tuple.
CONFORMER_METHODS = ("etkdg", "etkdg_random_coords", "2d")

#: Default time budget (seconds) for embedding the conformers of one polymer.
#: The benchmark sets' largest units take well under 1 s for 5 conformers;
#: a few corpus rows take minutes without a budget.
TIME_BUDGET = 10.0


@dataclass
class ConformerResult:
    """Coordinates of :obj:`K` conformers and how they were made.

    Attributes:
        pos (numpy.ndarray): Coordinates, shape :obj:`[K, num_atoms, 3]`, each
            conformer centred at the origin (float32, Angstrom).
        method (str): The worst method that produced any conformer, one of
            :data:`CONFORMER_METHODS`.
        num_embedded (int): Conformers made by ETKDG (the rest are copies).
        mmff_converged (int): Conformers whose MMFF relaxation converged
            (0 when :obj:`mmff=False`).
        budget_exceeded (bool): The time budget ran out during ETKDG, so
            fewer conformers were embedded or a fallback was used.
    """
    pos: np.ndarray
    method: str
    num_embedded: int
    mmff_converged: int
    budget_exceeded: bool = False


def generate_conformers(mol: Chem.Mol, num_conformers: int = 5, seed: int = 0,
                        hydrogens: bool = False, mmff: bool = False,
                        max_attempts: int = 0,
                        time_budget: float = TIME_BUDGET) -> ConformerResult:
    r"""Embeds :obj:`num_conformers` conformers with ETKDGv3.

    Fallback chain: ETKDGv3 with random-seeded distance geometry, then ETKDGv3
    from random coordinates (more robust for large, flexible or strained
    units) for any conformers still missing, then a flat RDKit 2D layout.
    Missing conformers are filled by cycling the ones that were made.

    A time budget bounds the ETKDG stages: the first gets half of it, the
    random-coordinate retry what is left (RDKit's own timeout, whole seconds,
    at least 1 s per stage; a stage that would start with less than 1 s left is
    skipped). When it runs out the chain goes on with what was embedded, or the
    2D layout, and :attr:`ConformerResult.budget_exceeded` says so.

    The result is deterministic for the same molecule, parameters and seed
    (RDKit is run single-threaded here; parallelism is over molecules), except
    for molecules that hit the time budget, whose conformers depend on the
    machine's speed.

    Args:
        mol (rdkit.Chem.Mol): A sanitised molecule without stars (see
            :func:`~mmpoly_geo.chem.star_substitution.star_substitution`),
            heavy atoms only.
        num_conformers (int, optional): Number :obj:`K` of conformers.
            (default: :obj:`5`)
        seed (int, optional): Random seed. (default: :obj:`0`)
        hydrogens (bool, optional): Return hydrogen coordinates too (hydrogens
            follow the heavy atoms, in :func:`rdkit.Chem.AddHs` order).
            (default: :obj:`False`)
        mmff (bool, optional): Relax each conformer with MMFF94 (max. 200
            iterations; hydrogens are added for this). (default: :obj:`False`)
        max_attempts (int, optional): ETKDG ``maxIterations`` (0: RDKit's
            default). (default: :obj:`0`)
        time_budget (float, optional): Seconds for ETKDG in all (at least 1;
            :obj:`None` for no limit). (default: :obj:`10.0`)
    """
    if num_conformers < 1:
        raise ValueError(f"num_conformers must be >= 1, got {num_conformers}")
    if time_budget is not None and not time_budget >= 1:
        raise ValueError(f"time_budget must be >= 1 s or None, got "
                         f"{time_budget}")
    deadline = None if time_budget is None else time.monotonic() + time_budget
    # Heavy-atom embedding is deliberate; RDKit's "no explicit Hs" warning is
    # noise here.
    blocker = rdBase.BlockLogs()  # noqa: F841  (silences RDKit while alive)
    work = Chem.AddHs(mol) if (hydrogens or mmff) else Chem.Mol(mol)
    work.RemoveAllConformers()
    method = CONFORMER_METHODS[0]

    params = rdDistGeom.ETKDGv3()
    params.randomSeed = _rdkit_seed(seed)
    params.numThreads = 1
    params.pruneRmsThresh = -1.0
    params.maxIterations = max_attempts
    if time_budget is not None:
        params.timeout = max(1, int(time_budget / 2))
        params.trackFailures = True
    cids = _embed(work, num_conformers, params)
    exceeded = _timed_out(params)
    retry_timeout = _seconds_left(deadline)
    if len(cids) < num_conformers and retry_timeout != 0:
        retry = rdDistGeom.ETKDGv3()
        retry.randomSeed = _rdkit_seed(seed + 7919)  # another stream
        retry.numThreads = 1
        retry.pruneRmsThresh = -1.0
        retry.useRandomCoords = True
        retry.clearConfs = False
        retry.maxIterations = max(max_attempts, 5000)
        if retry_timeout is not None:
            retry.timeout = retry_timeout
            retry.trackFailures = True
        missing = num_conformers - len(cids)
        before = len(cids)
        cids = _embed(work, missing, retry)
        exceeded = exceeded or _timed_out(retry)
        if len(cids) > before:
            method = CONFORMER_METHODS[1]
    num_embedded = len(cids)

    converged = 0
    if num_embedded and mmff and AllChem.MMFFHasAllMoleculeParams(work):
        results = AllChem.MMFFOptimizeMoleculeConfs(work, numThreads=1,
                                                    maxIters=200)
        converged = sum(1 for flag, _ in results if flag == 0)

    n = work.GetNumAtoms() if hydrogens else mol.GetNumAtoms()
    if num_embedded == 0:
        method = CONFORMER_METHODS[2]
        flat = Chem.Mol(work)
        if AllChem.Compute2DCoords(flat) < 0:
            raise ConformerError("no 3D embedding and no 2D layout possible")
        coords = [flat.GetConformer().GetPositions()[:n]]
    else:
        coords = [work.GetConformer(c).GetPositions()[:n] for c in cids]
    pos = np.stack([coords[k % len(coords)] for k in range(num_conformers)])
    pos = pos - pos.mean(axis=1, keepdims=True)
    exceeded = exceeded or (len(cids) < num_conformers and retry_timeout == 0)
    return ConformerResult(pos=pos.astype(np.float32), method=method,
                           num_embedded=num_embedded, mmff_converged=converged,
                           budget_exceeded=exceeded)


def _seconds_left(deadline):
    """Whole seconds left before :obj:`deadline` for RDKit's timeout: None
    without a deadline, 0 when less than a second is left."""
    if deadline is None:
        return None
    return max(0, math.floor(deadline - time.monotonic()))


def _timed_out(params) -> bool:
    """Whether an embedding run with ``trackFailures`` hit its timeout."""
    if not params.trackFailures:
        return False
    counts = params.GetFailureCounts()
    return len(counts) > 11 and counts[11] > 0  # EXCEEDED_TIMEOUT


def _rdkit_seed(seed: int) -> int:
    """Maps a user seed to RDKit's: EmbedMultipleConfs gives K *identical*
    conformers for randomSeed=0 (it derives per-conformer seeds from it), so 0
    must never reach RDKit; a large odd multiplier keeps different user seeds
    from sharing conformers."""
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    return (seed * 1000003 + 104729) % (2**31 - 1)


def _embed(mol: Chem.Mol, count: int, params) -> list:
    """EmbedMultipleConfs; returns the ids of the conformers :obj:`mol` holds.
    RDKit errors (e.g. a bounds-matrix violation for unusual atoms) count as
    failed embeddings so the fallback chain goes on."""
    try:
        rdDistGeom.EmbedMultipleConfs(mol, count, params)
    except (RuntimeError, ValueError):
        pass
    # After a timeout RDKit may return ids of conformers it did not keep.
    return [c.GetId() for c in mol.GetConformers()]
