"""Parsing, validation and canonical forms of P-SMILES repeat units.

A P-SMILES is a SMILES string of one polymer repeat unit whose two connection
points are written as ``*`` (or ``[*]``), e.g. ``*CC(*)c1ccccc1`` for
polystyrene.
"""
from __future__ import annotations

from typing import Tuple

import logging
from io import StringIO

from rdkit import Chem, rdBase

from mmpoly_geo.chem.errors import (
    EmptyPSmilesError,
    NotAStringError,
    PolymerTooLargeError,
    StarCountError,
    StarNeighbourError,
    UnparsableSmilesError,
)

#: Default limit on the length of a P-SMILES string (characters).
MAX_LENGTH = 5000
#: Default limit on the number of atoms of one repeat unit (stars included,
#: hydrogens not). The largest polymer of the shipped data sets has 292.
MAX_ATOMS = 1000

STAR_PROP = "_mmpoly_star"


def parse_psmiles(psmiles, max_length: int = MAX_LENGTH,
                  max_atoms: int = MAX_ATOMS) -> Chem.Mol:
    r"""Parses and validates a P-SMILES string.

    The returned molecule keeps RDKit's atom order of the input string. Its two
    star atoms (atomic number 0) carry the integer property ``_mmpoly_star``
    (1 for the first star in atom order, 2 for the second), which survives
    later hydrogen removal and re-numbering.

    Args:
        psmiles (str): The P-SMILES string.
        max_length (int, optional): Longest accepted string.
            (default: :obj:`5000`)
        max_atoms (int, optional): Most heavy atoms (stars included) accepted.
            (default: :obj:`1000`)

    Raises:
        NotAStringError: :obj:`psmiles` is not a string.
        EmptyPSmilesError: the string is empty.
        PolymerTooLargeError: longer than :obj:`max_length` or more than
            :obj:`max_atoms` atoms.
        UnparsableSmilesError: RDKit cannot parse it.
        StarCountError: not exactly two ``*``.
        StarNeighbourError: a ``*`` without exactly one neighbour.
    """
    if not isinstance(psmiles, str):
        raise NotAStringError(
            f"P-SMILES must be a string, got {type(psmiles).__name__} "
            f"({psmiles!r})")
    s = psmiles.strip()
    if not s:
        raise EmptyPSmilesError("P-SMILES is empty")
    if len(s) > max_length:
        raise PolymerTooLargeError(
            f"P-SMILES has {len(s)} characters, more than the limit of "
            f"{max_length}")
    if "*" not in s:
        raise StarCountError(
            "P-SMILES has no '*' connection point (a repeat unit needs two)")
    mol = _mol_from_smiles(s)
    if mol is None:
        raise UnparsableSmilesError(
            f"RDKit cannot parse {s!r}: {_rdkit_parse_error(s)}")
    stars = [a for a in mol.GetAtoms() if a.GetAtomicNum() == 0]
    if len(stars) != 2:
        raise StarCountError(
            f"P-SMILES has {len(stars)} '*' connection point"
            f"{'s' if len(stars) != 1 else ''}; a repeat unit needs exactly 2")
    for k, star in enumerate(stars, start=1):
        degree = star.GetDegree()
        if degree != 1:
            raise StarNeighbourError(
                f"'*' number {k} (atom {star.GetIdx()}) is bonded to {degree} "
                f"atoms; each '*' must have exactly one neighbour")
        # Labels such as [1*] or [*:1] carry no meaning for a repeat unit.
        star.SetIsotope(0)
        star.SetAtomMapNum(0)
        star.SetIntProp(STAR_PROP, k)
    num_heavy = sum(1 for a in mol.GetAtoms() if a.GetAtomicNum() != 1)
    if num_heavy > max_atoms:
        raise PolymerTooLargeError(
            f"repeat unit has {num_heavy} heavy atoms, more than the limit of "
            f"{max_atoms}")
    return mol


def star_atoms(mol: Chem.Mol) -> Tuple[int, int]:
    """Returns the atom indices of the first and second star of a molecule
    built by :func:`parse_psmiles` (or derived from one)."""
    found = {}
    for atom in mol.GetAtoms():
        if atom.HasProp(STAR_PROP):
            found[atom.GetIntProp(STAR_PROP)] = atom.GetIdx()
    if set(found) != {1, 2}:
        raise ValueError("molecule does not carry two star records")
    return found[1], found[2]


def canonicalize_psmiles(psmiles) -> str:
    r"""Returns the canonical form of a P-SMILES string.

    RDKit's canonical isomeric SMILES, with stars written ``*`` and their
    labels dropped. Re-canonicalising the result returns it unchanged. Two
    strings of the *same repeat unit* map to one form (``*CC(*)C`` and
    ``CC(*)C*`` both give ``*CC(*)C``); for the same *polymer* written with a
    shifted repeat unit (``*OCC*`` vs ``*COC*``) use :func:`polymer_key`.

    Raises:
        PSmilesError: see :func:`parse_psmiles`.
    """
    mol = psmiles if isinstance(psmiles, Chem.Mol) else parse_psmiles(psmiles)
    smiles = Chem.MolToSmiles(mol)
    # RDKit canonical SMILES is not idempotent for a few ring systems; iterate
    # to the fixed point so that the result is stable under re-canonicalisation.
    for _ in range(5):
        again = Chem.MolToSmiles(_mol_from_smiles(smiles))
        if again == smiles:
            return smiles
        smiles = again
    return smiles


def polymer_key(psmiles) -> str:
    r"""Returns a key that is equal for all ways of writing one polymer.

    The key is the canonical SMILES (stereo ignored) of the cyclic trimer: three
    copies of the repeat unit, each joined head to tail and the last back to
    the first. It is therefore invariant to how the repeat unit is written,
    to where along the backbone it is cut (``*OCC*``, ``*COC*`` and
    ``*CCO*`` share one key) and to its direction. Use it to de-duplicate data
    and to keep duplicates on one side of a train/test split.

    Known limit: a repeat unit written as two units (``*CCCC*`` for
    polyethylene) gets a different key than the single unit (``*CC*``).

    Raises:
        PSmilesError: see :func:`parse_psmiles`.
    """
    mol = psmiles if isinstance(psmiles, Chem.Mol) else parse_psmiles(psmiles)
    s1, s2 = star_atoms(mol)
    b1 = mol.GetAtomWithIdx(s1).GetBonds()[0]
    b2 = mol.GetAtomWithIdx(s2).GetBonds()[0]
    if b1.GetBondType() != b2.GetBondType():
        # Not a consistent chain (e.g. `*=CC*`): fall back to the unit itself.
        return "unit:" + Chem.MolToSmiles(mol, isomericSmiles=False)
    n1 = b1.GetOtherAtomIdx(s1)
    n2 = b2.GetOtherAtomIdx(s2)

    rw = Chem.RWMol(mol)
    for atom in rw.GetAtoms():
        atom.SetChiralTag(Chem.ChiralType.CHI_UNSPECIFIED)
    for bond in rw.GetBonds():
        bond.SetStereo(Chem.BondStereo.STEREONONE)
        bond.SetBondDir(Chem.BondDir.NONE)
    keep = [i for i in range(mol.GetNumAtoms()) if i not in (s1, s2)]
    new_index = {old: new for new, old in enumerate(keep)}
    for idx in sorted((s1, s2), reverse=True):
        rw.RemoveAtom(idx)
    unit = rw.GetMol()
    n = unit.GetNumAtoms()
    ring = Chem.RWMol(Chem.CombineMols(Chem.CombineMols(unit, unit), unit))
    for k in range(3):
        tail = k * n + new_index[n2]
        head = ((k + 1) % 3) * n + new_index[n1]
        ring.AddBond(tail, head, b2.GetBondType())
    try:
        out = ring.GetMol()
        Chem.SanitizeMol(out)
        return Chem.MolToSmiles(out, isomericSmiles=False)
    except Exception:  # valence problems of exotic units: unit key instead
        return "unit:" + Chem.MolToSmiles(mol, isomericSmiles=False)


def _mol_from_smiles(smiles: str):
    blocker = rdBase.BlockLogs()  # noqa: F841  (silences RDKit while alive)
    return Chem.MolFromSmiles(smiles)


def _rdkit_parse_error(smiles: str) -> str:
    """RDKit's own explanation of why :obj:`smiles` does not parse."""
    # RDKit only logs syntax errors: route its log to Python for this call.
    stream = StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("rdkit")
    saved = logger.handlers[:], logger.propagate
    rdBase.LogToPythonLogger()
    logger.handlers = [handler]
    logger.propagate = False
    try:
        mol = Chem.MolFromSmiles(smiles, sanitize=False)
        if mol is not None:  # syntax fine: the chemistry is wrong
            try:
                Chem.SanitizeMol(mol)
            except Exception as exc:  # RDKit raises several exception types
                return str(exc).strip()
            return "invalid SMILES"
    finally:
        rdBase.LogToCppStreams()
        logger.handlers, logger.propagate = saved
    for line in stream.getvalue().splitlines():
        msg = line.split("SMILES Parse Error:", 1)[-1].strip()
        if msg and not msg.startswith("Failed parsing"):
            return msg.split(" for input:")[0].split(" while parsing:")[0]
    return "invalid SMILES syntax"
