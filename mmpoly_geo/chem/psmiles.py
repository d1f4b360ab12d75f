"""Parsing, validation and canonical forms of P-SMILES repeat units.

A P-SMILES is a SMILES string of one polymer repeat unit whose two connection
points are written as ``*`` (or ``[*]``), e.g. ``*CC(*)c1ccccc1`` for
polystyrene.
"""
from __future__ import annotations

from typing import Optional, Tuple

import logging
from io import StringIO

from rdkit import Chem, rdBase

from mmpoly_geo.chem.errors import (
    AdjacentStarsError,
    EmptyPSmilesError,
    InvalidCharacterError,
    NotAStringError,
    PolymerTooLargeError,
    PSmilesError,
    QueryFeatureError,
    RoundTripError,
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
        InvalidCharacterError: a non-ASCII or control character, or
            whitespace inside the string.
        UnparsableSmilesError: RDKit cannot parse it.
        QueryFeatureError: it holds query features (``~`` bonds).
        StarCountError: not exactly two ``*``.
        StarNeighbourError: a ``*`` without exactly one neighbour.
        AdjacentStarsError: the two ``*`` bonded to each other.
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
    _check_characters(s)
    if "*" not in s:
        raise StarCountError(
            "P-SMILES has no '*' connection point (a repeat unit needs two)")
    mol = _mol_from_smiles(s)
    if mol is None:
        raise UnparsableSmilesError(
            f"RDKit cannot parse {s!r}: {_rdkit_parse_error(s)}")
    for bond in mol.GetBonds():
        if bond.HasQuery():
            begin, end = bond.GetBeginAtom(), bond.GetEndAtom()
            raise QueryFeatureError(
                f"the bond between atom {begin.GetIdx()} ({begin.GetSymbol()}) "
                f"and atom {end.GetIdx()} ({end.GetSymbol()}) is a query bond "
                f"(e.g. '~', any bond); write the actual bond")
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
        if star.GetNeighbors()[0].GetAtomicNum() == 0:
            raise AdjacentStarsError(
                "the two '*' are bonded to each other; a repeat unit needs "
                "at least one atom between its connection points")
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
        again = _mol_from_smiles(smiles)
        if again is None:
            raise RoundTripError(
                f"RDKit cannot read back its own SMILES {smiles!r} of this "
                f"repeat unit")
        again = Chem.MolToSmiles(again)
        if again == smiles:
            return smiles
        smiles = again
    return smiles


def polymer_key(psmiles) -> str:
    r"""Returns a key that is equal for all ways of writing one polymer.

    The repeat unit is closed into a ring: its two star neighbours are bonded
    to each other (with the star bond's order), and the key is the canonical
    SMILES of that ring molecule, stereo ignored. Units whose star neighbours
    are already bonded (``*CC*``) or identical (``*C*``) are first repeated
    2 or 3 times, so no duplicate bond or self-loop is made. The key is
    invariant to how the repeat unit is written, to where along the backbone it
    is cut (``*OCC*``, ``*COC*`` and ``*CCO*`` share one key) and to its
    direction, and it costs about one canonicalisation. Use it to de-duplicate
    data and to keep duplicates on one side of a train/test split.

    Known limits: polyethylene written as ``*CC*`` and as ``*C*`` gets two
    keys; two exotic polymers whose closed rings coincide would share one
    (conservative for leakage checks).

    Raises:
        PSmilesError: see :func:`parse_psmiles`.
    """
    mol = psmiles if isinstance(psmiles, Chem.Mol) else parse_psmiles(psmiles)
    s1, s2 = star_atoms(mol)
    b1 = mol.GetAtomWithIdx(s1).GetBonds()[0]
    b2 = mol.GetAtomWithIdx(s2).GetBonds()[0]
    unit_key = "unit:" + Chem.MolToSmiles(mol, isomericSmiles=False)
    if b1.GetBondType() != b2.GetBondType():
        return unit_key  # not a consistent chain (e.g. `*=CC*`)
    n1 = b1.GetOtherAtomIdx(s1)
    n2 = b2.GetOtherAtomIdx(s2)
    distance = 0 if n1 == n2 else len(Chem.GetShortestPath(mol, n1, n2)) - 1
    copies = 1 if distance >= 2 else 3 - distance

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
    ring = unit
    for _ in range(copies - 1):
        ring = Chem.CombineMols(ring, unit)
    ring = Chem.RWMol(ring)
    for k in range(copies):
        tail = k * n + new_index[n2]
        head = ((k + 1) % copies) * n + new_index[n1]
        ring.AddBond(tail, head, b2.GetBondType())
    try:
        out = ring.GetMol()
        blocker = rdBase.BlockLogs()  # noqa: F841  (falls back below)
        Chem.SanitizeMol(out)
        return Chem.MolToSmiles(out, isomericSmiles=False)
    except Exception:  # valence problems of exotic units
        return unit_key


def polymer_key_or_none(psmiles) -> Optional[str]:
    """:func:`polymer_key`, or :obj:`None` for input that is not a usable
    P-SMILES (it cannot be the same polymer as any usable one): for
    matching rows against a set of keys, where a bad row is not an error."""
    try:
        return polymer_key(psmiles)
    except (PSmilesError, TypeError):
        return None


def _check_characters(s: str):
    """Rejects characters no SMILES contains, before RDKit sees them: RDKit
    stops reading at a space (the rest is taken as the molecule's name) and
    its Python bindings fail on some non-ASCII text."""
    for pos, char in enumerate(s):
        if char.isascii() and char.isprintable() and not char.isspace():
            continue
        kind = ("whitespace" if char.isspace() else
                "a non-ASCII character" if not char.isascii() else
                "a control character")
        raise InvalidCharacterError(
            f"P-SMILES contains {kind} ({char!r}, U+{ord(char):04X}) at "
            f"position {pos}")


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
