import math

import pandas as pd
import pytest

from mmpoly_geo.chem import (
    EmptyPSmilesError, NotAStringError, PolymerTooLargeError, StarCountError,
    StarNeighbourError, UnparsableSmilesError, canonicalize_psmiles,
    parse_psmiles, polymer_key, polymer_key_or_none, star_atoms)
from mmpoly_geo.data.shipped import BENCHMARKS, shipped_files


@pytest.mark.parametrize("bad, error, words", [
    ("", EmptyPSmilesError, "empty"),
    ("   ", EmptyPSmilesError, "empty"),
    (None, NotAStringError, "NoneType"),
    (math.nan, NotAStringError, "float"),
    ("CCO", StarCountError, "no '*'"),
    ("*CC", StarCountError, "1 '*'"),
    ("*C(*)C*", StarCountError, "3 '*'"),
    ("*1CCC1*", StarNeighbourError, "bonded to 2 atoms"),
    ("*C(C*", UnparsableSmilesError, "parentheses"),
    ("*c1ccc*", UnparsableSmilesError, "unclosed ring"),
    ("*C(=O)(=O)(=O)C*", UnparsableSmilesError, "valence"),
    ("*" + "C" * 6000 + "*", PolymerTooLargeError, "characters"),
])
def test_invalid_psmiles_names_reason(bad, error, words):
    with pytest.raises(error, match=None) as info:
        parse_psmiles(bad)
    assert words in str(info.value)


def test_atom_limit():
    with pytest.raises(PolymerTooLargeError, match="heavy atoms"):
        parse_psmiles("*" + "C" * 50 + "*", max_atoms=20)


def test_labelled_and_bracket_stars_are_stars():
    mol = parse_psmiles("[*]CC([1*])C")
    assert star_atoms(mol) == (0, 3)
    assert canonicalize_psmiles("[*]CC([*:2])C") == "*CC(*)C"


def test_deuterium_is_kept():
    assert "[2H]" in canonicalize_psmiles("*C([2H])=C(*)[2H]")


@pytest.mark.parametrize("a, b", [
    ("*CC(*)C", "CC(*)C*"),
    ("*CC(*)c1ccccc1", "c1ccc(cc1)C(*)C*"),
])
def test_canonical_same_unit(a, b):
    assert canonicalize_psmiles(a) == canonicalize_psmiles(b)


@pytest.mark.parametrize("writings", [
    ["*OCC*", "*COC*", "*CCO*", "*OCC*"],
    ["*CC(*)c1ccccc1", "*C(c1ccccc1)C*"],
    ["*C*", "*CCC*"],
    ["*Oc1ccc(CC(*)=O)cc1", "*C(=O)Oc1ccc(C*)cc1", "*c1ccc(CC(=O)O*)cc1"],
])
def test_polymer_key_shift_invariant(writings):
    assert len({polymer_key(s) for s in writings}) == 1


def test_polymer_key_or_none():
    assert polymer_key_or_none("*OCC*") == polymer_key("*CCO*")
    for bad in ("*C(*", "", float("nan"), None, "*CC"):
        assert polymer_key_or_none(bad) is None


def test_polymer_key_separates_polymers():
    keys = {polymer_key(s) for s in
            ["*CC(*)C", "*CC(*)CC", "*OCC*", "*OCCC*", "*CC(*)c1ccccc1"]}
    assert len(keys) == 5


@pytest.mark.parametrize("name", sorted(BENCHMARKS))
def test_canonical_idempotent_on_benchmarks(name):
    frame = pd.read_csv(shipped_files(name)[0])
    canon = [canonicalize_psmiles(s) for s in frame.psmiles]
    assert [canonicalize_psmiles(c) for c in canon] == canon
    # The published sets have no duplicates (README of the sets).
    assert len(set(canon)) == len(canon)
