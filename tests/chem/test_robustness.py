"""Inputs that once crashed processing, the conformer time budget and the
fuzz generator."""
import numpy as np
import pytest
from rdkit import Chem

from mmpoly_geo.chem import (
    AdjacentStarsError, InvalidCharacterError, PSmilesError, QueryFeatureError,
    canonicalize_psmiles, generate_conformers, parse_psmiles, polymer_key,
    star_substitution)
from mmpoly_geo.chem.fuzz import MUTATIONS, fuzz_psmiles, mutate
from mmpoly_geo.data import PolymerFeaturizer
from mmpoly_geo.data.processing import featurize_rows

#: A row of the shipped pretraining corpus that did not finish 5 conformers
#: in 120 s before the time budget existed.
SLOW_CORPUS_ROW = (
    "*c1ccc2cc(C(=O)NNC(=O)c3ccc4cc(c3=O)N4C(=O)c3ccc([Si](C)(C)c4ccc5c(c4)"
    "C(=O)N(*)C5=O)cc3)ccc2n1")


@pytest.mark.parametrize("bad, error, words", [
    ("**", AdjacentStarsError, "bonded to each other"),
    ("*[*]", AdjacentStarsError, "bonded to each other"),
    ("*C(CCCS(*)(=N)=O)CO1~CCC(N)C1", QueryFeatureError, "query bond"),
    # Found by benchmarks/fuzz.py (an AtomValenceException escaped).
    ("*=Cc1ccc(Cc2cc~c(N=*)c(SC)c2)cc1", QueryFeatureError, "query bond"),
    ("*CC(*)c1ccccc1\u00e9", InvalidCharacterError, "non-ASCII"),
    ("*CC(*)\u4e2dC", InvalidCharacterError, "U+4E2D"),
    ("*CC(*)\x01C", InvalidCharacterError, "control character"),
    ("*CC(*)\x00", InvalidCharacterError, "position 6"),
    # RDKit would read only '*CC*' and take the rest as a name.
    ("*CC* foo", InvalidCharacterError, "whitespace"),
    ("*CC(*)\tC", InvalidCharacterError, "whitespace"),
])
def test_crash_strings_get_specific_errors(bad, error, words):
    with pytest.raises(error) as info:
        PolymerFeaturizer(num_conformers=1)(bad)
    assert words in str(info.value)


def test_surrounding_whitespace_is_still_accepted():
    assert canonicalize_psmiles("  *CC(*)C\n") == canonicalize_psmiles("*CC(*)C")


def _geometry(psmiles):
    mol = Chem.RemoveHs(parse_psmiles(canonicalize_psmiles(psmiles)))
    return star_substitution(mol)


def test_time_budget_exceeded_falls_back():
    res = generate_conformers(_geometry(SLOW_CORPUS_ROW), 5, time_budget=1)
    assert res.budget_exceeded
    assert res.pos.shape == (5, 49, 3) and np.isfinite(res.pos).all()
    data = PolymerFeaturizer(num_conformers=2, time_budget=1,
                             descriptors="none")(SLOW_CORPUS_ROW)
    assert bool(data.conf_budget_exceeded)
    assert data.pos_confs.shape[1] == 2


def test_time_budget_does_not_change_ordinary_conformers():
    for s in ["*CC(*)c1ccccc1", "*Oc1ccc(CC(*)=O)cc1", "*CC(*)C(=O)OC"]:
        mol = _geometry(s)
        limited = generate_conformers(mol, 3, seed=1, time_budget=10)
        free = generate_conformers(mol, 3, seed=1, time_budget=None)
        assert not limited.budget_exceeded
        np.testing.assert_array_equal(limited.pos, free.pos)


def test_time_budget_must_be_at_least_a_second():
    with pytest.raises(ValueError, match="time_budget"):
        PolymerFeaturizer(time_budget=0.1)


def test_fuzz_is_deterministic_and_mutates():
    seeds = ["*CC(*)c1ccccc1", "*Oc1ccc(CC(*)=O)cc1"]
    a = fuzz_psmiles(seeds, 200, seed=3)
    assert a == fuzz_psmiles(seeds, 200, seed=3)
    assert a != fuzz_psmiles(seeds, 200, seed=4)
    assert sum(s not in seeds for s in a) > 150
    import random
    rng = random.Random(0)
    for name, fn in MUTATIONS.items():
        assert isinstance(fn("*CC(*)C", rng), str), name
    assert isinstance(mutate("*CC(*)C", rng), str)


def test_fuzz_slice_no_internal_errors():
    """A fast slice of benchmarks/fuzz.py: every mutated string is kept or
    rejected with a specific reason; none escapes as an internal error."""
    seeds = ["*CC(*)c1ccccc1", "*Oc1ccc(CC(*)=O)cc1", "*CC(*)C(=O)[O-].[Na+]",
             "*[Si](C)(C)O*", "*=CC1CCC(C=*)C1", "*C([2H])=C(*)[2H]",
             "*c1ccc(S(=O)(=O)c2ccc(*)cc2)cc1", "*CC(*)(C)C(=O)OCC[N+](C)(C)C"]
    strings = fuzz_psmiles(seeds, 400, seed=11)
    results = featurize_rows(
        PolymerFeaturizer(num_conformers=1, descriptors="rdkit+morgan"),
        [(s, []) for s in strings], num_workers=0, log=False)
    assert len(results) == len(strings)
    internal = [(s, r.reason) for s, r in zip(strings, results) if r.internal]
    assert not internal
    rejected = [r for r in results if not r.ok]
    assert rejected and len(rejected) < len(results)
    assert all(r.reason and r.error for r in rejected)
    for s, r in zip(strings, results):
        if r.ok:  # every kept row is a valid repeat unit again
            assert isinstance(polymer_key(r.data.psmiles), str)
        else:
            with pytest.raises(PSmilesError):
                PolymerFeaturizer(num_conformers=1, descriptors="none")(s)
