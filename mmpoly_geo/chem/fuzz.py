"""Deterministic mutations of P-SMILES strings, for robustness tests.

Real inputs break in the ways people type and tools corrupt them: a deleted
character, a stray ring digit or bracket, a charge, an isotope, a third (or a
missing) ``*``, two ``*`` side by side, a control or non-ASCII character from
a copy-paste, a string cut or repeated far beyond any polymer. :func:`fuzz_psmiles`
applies such mutations to real P-SMILES, reproducibly for a given seed.
"""
from __future__ import annotations

import random
from typing import Callable, Dict, List, Sequence

_ATOMS = ["C", "N", "O", "S", "F", "Cl", "Br", "I", "P", "B", "c", "n", "o",
          "s", "[Si]", "[Se]", "[Ge]", "[Sn]", "[Na]", "[Fe]", "[Pt]", "[H]",
          "[nH]", "[C@H]", "[C@@H]", "[NH3+]", "[Xe]", "[Uuo]", "[Q]"]
_BRACKETS = ["(", ")", "[", "]", "()", "(C", "C)", "[C", "C]", "{", "}"]
_BONDS = ["=", "#", "$", ":", "~", "/", "\\", ".", "-", "->", "<-"]
_CHARGES = ["[N+]", "[O-]", "[C-]", "[N+2]", "[O--]", "[Fe+3]", "+", "-",
            "[C+15]", "[NH4+]"]
_ISOTOPES = ["[13C]", "[2H]", "[3H]", "[14N]", "[0C]", "[999C]", "[18O]"]
_STARS = ["*", "[*]", "**", "[1*]", "[*:1]", "*)", "(*)", "[2*]"]
_CONTROL = ["\x00", "\x01", "\x07", "\x08", "\t", "\n", "\r", "\x0b", "\x1b",
            "\x7f", " "]
_NON_ASCII = ["\u00e9", "\u00fc", "\u00a0", "\u2013", "\u00b7", "\u4e2d",
              "\U0001f600", "\u200b", "\ufeff", "\u212b", "\u2217"]


def _insert(s: str, token: str, rng: random.Random) -> str:
    i = rng.randint(0, len(s))
    return s[:i] + token + s[i:]


def _delete(s: str, rng: random.Random) -> str:
    if not s:
        return s
    i = rng.randrange(len(s))
    j = min(len(s), i + rng.choice([1, 1, 1, 2, 3, 6]))
    return s[:i] + s[j:]


def _swap(s: str, rng: random.Random) -> str:
    if len(s) < 2:
        return s
    i, j = sorted(rng.sample(range(len(s)), 2))
    return s[:i] + s[j] + s[i + 1:j] + s[i] + s[j + 1:]


def _duplicate(s: str, rng: random.Random) -> str:
    if not s:
        return s
    i = rng.randrange(len(s))
    j = min(len(s), i + rng.randint(1, 12))
    return s[:j] + s[i:j] + s[j:]


def _ring_digit(s: str, rng: random.Random) -> str:
    return _insert(s, rng.choice(list("123456789") + ["%10", "%99", "%"]), rng)


def _long(s: str, rng: random.Random) -> str:
    # Far beyond a repeat unit: tens of repeats, or past the length limit.
    return s * rng.choice([20, 60, 200, 1000])


def _truncate(s: str, rng: random.Random) -> str:
    return s[:rng.randint(0, len(s))]


MUTATIONS: Dict[str, Callable[[str, random.Random], str]] = {
    "delete": _delete,
    "insert_atom": lambda s, r: _insert(s, r.choice(_ATOMS), r),
    "insert_bracket": lambda s, r: _insert(s, r.choice(_BRACKETS), r),
    "insert_bond": lambda s, r: _insert(s, r.choice(_BONDS), r),
    "ring_digit": _ring_digit,
    "charge": lambda s, r: _insert(s, r.choice(_CHARGES), r),
    "isotope": lambda s, r: _insert(s, r.choice(_ISOTOPES), r),
    "star": lambda s, r: _insert(s, r.choice(_STARS), r),
    "remove_star": lambda s, r: s.replace("*", "", 1),
    "control_char": lambda s, r: _insert(s, r.choice(_CONTROL), r),
    "non_ascii": lambda s, r: _insert(s, r.choice(_NON_ASCII), r),
    "swap": _swap,
    "duplicate": _duplicate,
    "truncate": _truncate,
    "very_long": _long,
}
"""The mutations, by name: each maps ``(string, rng)`` to a new string."""

# "very_long" strings cost the most to process: keep them rare.
_WEIGHTS = {name: (0.2 if name == "very_long" else 1.0) for name in MUTATIONS}


def mutate(psmiles: str, rng: random.Random, max_mutations: int = 3) -> str:
    """Applies 1 to :obj:`max_mutations` random mutations to :obj:`psmiles`."""
    names = list(MUTATIONS)
    weights = [_WEIGHTS[n] for n in names]
    for _ in range(rng.randint(1, max_mutations)):
        psmiles = MUTATIONS[rng.choices(names, weights)[0]](psmiles, rng)
    return psmiles


def fuzz_psmiles(seeds: Sequence[str], n: int, seed: int = 0,
                 max_mutations: int = 3,
                 unchanged_fraction: float = 0.1) -> List[str]:
    r"""Returns :obj:`n` strings made from :obj:`seeds`, the same for the
    same arguments.

    Args:
        seeds (list of str): Real P-SMILES to mutate.
        n (int): How many strings to return.
        seed (int, optional): Random seed. (default: :obj:`0`)
        max_mutations (int, optional): Most mutations per string.
            (default: :obj:`3`)
        unchanged_fraction (float, optional): Share of strings left
            unchanged (valid inputs mixed in). (default: :obj:`0.1`)
    """
    if not seeds:
        raise ValueError("fuzz_psmiles needs at least one seed string")
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        base = rng.choice(seeds)
        out.append(base if rng.random() < unchanged_fraction
                   else mutate(base, rng, max_mutations))
    return out
