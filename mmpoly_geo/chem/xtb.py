"""Semi-empirical electronic descriptors of a polymer: the GFN2-xTB frontier
orbital energies of a short oligomer (through `tblite`, an optional
dependency: ``pip install "mmpoly_geo[xtb]"``).

Band gaps, electron affinities and ionisation energies are set by the
frontier orbitals, which no 2D descriptor sees; a semi-empirical single point
gives them in about half a second per polymer on one core.
"""
from __future__ import annotations

import numpy as np
from rdkit import Chem, rdBase
from rdkit.Chem import AllChem

from mmpoly_geo.chem.errors import OligomerError
from mmpoly_geo.chem.oligomer import build_oligomer
from mmpoly_geo.chem.psmiles import parse_psmiles
from mmpoly_geo.chem.star_substitution import star_substitution

#: Bumped whenever :func:`xtb_descriptors` may return other values, so that
#: processed data sets holding them are processed again (2: embedding time
#: limit, fewer units when a dimer does not embed; 3: one unit when the
#: units cannot be joined).
XTB_VERSION = 3
#: What :func:`xtb_descriptors` returns, in this order (eV).
XTB_DESCRIPTOR_NAMES = ("xtb_homo", "xtb_lumo", "xtb_gap")
#: Repeat units of the oligomer (a dimer: the orbitals see one junction).
XTB_REPEAT_UNITS = 2
#: Oligomers with more atoms (hydrogens included) are computed from fewer
#: units, down to one: a single point grows ~cubically with size.
XTB_MAX_ATOMS = 200
#: Seconds each 3D embedding attempt may take (RDKit's timeout); an
#: oligomer that does not embed is retried with one unit fewer.
XTB_EMBED_TIMEOUT = 5

_BOHR_PER_ANGSTROM = 1.8897259886
_EV_PER_HARTREE = 27.211386246


def xtb_available() -> bool:
    """Whether `tblite` (the GFN2-xTB implementation used here) imports."""
    try:
        import tblite.interface  # noqa: F401
    except ImportError:
        return False
    return True


def require_xtb():
    """Raises an :class:`ImportError` saying how to install `tblite` when it
    is missing (call it before a long run, not per polymer)."""
    if not xtb_available():
        raise ImportError(
            "the xtb descriptors need tblite (GFN2-xTB): pip install "
            "'mmpoly_geo[xtb]' (or pip install tblite)")


def xtb_oligomer(psmiles: str, repeat_units: int = XTB_REPEAT_UNITS,
                 max_atoms: int = XTB_MAX_ATOMS) -> Chem.Mol:
    """The oligomer the descriptors are computed on: :obj:`repeat_units`
    units (fewer when it would exceed :obj:`max_atoms` atoms), ends closed by
    star substitution (the chain continues with the element it continues
    with), hydrogens added.

    Raises:
        ValueError, StarSubstitutionError: for an unusable P-SMILES."""
    return next(_oligomers(psmiles, repeat_units, max_atoms))


def _oligomers(psmiles, repeat_units, max_atoms):
    """The candidates for :func:`xtb_oligomer`, most units first: each
    oligomer of :obj:`repeat_units` down to 2 units within :obj:`max_atoms`
    atoms, then the single unit whatever its size (the only candidate when
    units cannot be joined: star bonds of different orders, ``*CC=*``)."""
    unit = parse_psmiles(psmiles)
    for n in range(repeat_units, 0, -1):
        try:
            chain = build_oligomer(unit, n)[0]
        except OligomerError:
            if n == 1:
                raise
            continue
        mol = Chem.AddHs(star_substitution(chain))
        if mol.GetNumAtoms() <= max_atoms or n == 1:
            yield mol


def xtb_descriptors(psmiles: str, repeat_units: int = XTB_REPEAT_UNITS,
                    seed: int = 0,
                    max_atoms: int = XTB_MAX_ATOMS) -> np.ndarray:
    """GFN2-xTB HOMO and LUMO energies and their gap (eV, shape :obj:`[3]`,
    float64; see :data:`XTB_DESCRIPTOR_NAMES`) of :func:`xtb_oligomer` at one
    ETKDG conformer (seeded) relaxed with MMFF94 (UFF where MMFF has no
    parameters).

    Like the RDKit descriptors, a polymer that cannot be computed (no
    embedding, an SCF that fails) gives ``NaN`` values, never an exception;
    a missing `tblite` raises :class:`ImportError`.
    """
    require_xtb()
    from tblite.interface import Calculator

    out = np.full(len(XTB_DESCRIPTOR_NAMES), np.nan)
    blocker = rdBase.BlockLogs()  # noqa: F841  (failures become NaN)
    try:
        mol = _embedded_oligomer(psmiles, repeat_units, max_atoms, seed)
        if mol is None:
            return out
        if AllChem.MMFFHasAllMoleculeParams(mol):
            AllChem.MMFFOptimizeMolecule(mol, maxIters=200)
        else:
            AllChem.UFFOptimizeMolecule(mol, maxIters=200)
        numbers = np.array([a.GetAtomicNum() for a in mol.GetAtoms()])
        positions = mol.GetConformer().GetPositions() * _BOHR_PER_ANGSTROM
        # An odd electron count (a radical repeat unit) is one unpaired spin.
        unpaired = int((numbers.sum() - Chem.GetFormalCharge(mol)) % 2)
        calc = Calculator("GFN2-xTB", numbers, positions,
                          charge=float(Chem.GetFormalCharge(mol)),
                          uhf=unpaired)
        calc.set("verbosity", 0)
        result = calc.singlepoint()
        energies = result.get("orbital-energies") * _EV_PER_HARTREE
        occupied = result.get("orbital-occupations") > 0.5
    except (ImportError, KeyboardInterrupt):
        raise
    except Exception:  # tblite and RDKit raise many types for odd molecules
        return out
    if occupied.all() or not occupied.any():
        return out
    homo, lumo = energies[occupied].max(), energies[~occupied].min()
    out[:] = homo, lumo, lumo - homo
    return out


def _embedded_oligomer(psmiles, repeat_units, max_atoms, seed):
    """The first of :func:`_oligomers` that takes one 3D conformer (ETKDG,
    then from random coordinates, each within :data:`XTB_EMBED_TIMEOUT`);
    ``None`` when not even one unit does."""
    for mol in _oligomers(psmiles, repeat_units, max_atoms):
        for random_coords in (False, True):
            params = AllChem.ETKDGv3()
            params.randomSeed = seed
            params.useRandomCoords = random_coords
            params.timeout = XTB_EMBED_TIMEOUT
            try:
                if AllChem.EmbedMolecule(mol, params) == 0:
                    return mol
            except (RuntimeError, ValueError):
                pass
    return None
