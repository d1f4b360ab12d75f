"""Chemistry with RDKit: P-SMILES validation, canonical forms, star
substitution, oligomers, conformers and features."""
from mmpoly_geo.chem.conformers import (
    CONFORMER_METHODS, TIME_BUDGET, ConformerResult, generate_conformers)
from mmpoly_geo.chem.errors import (
    AdjacentStarsError, ConformerError, EmptyPSmilesError,
    InvalidCharacterError, NotAStringError, OligomerError,
    PolymerTooLargeError, PSmilesError, QueryFeatureError, RoundTripError, StarCountError,
    StarNeighbourError, StarSubstitutionError, UnparsableSmilesError)
from mmpoly_geo.chem.oligomer import build_oligomer
from mmpoly_geo.chem.psmiles import (
    canonicalize_psmiles, parse_psmiles, polymer_key, polymer_key_or_none,
    star_atoms)
from mmpoly_geo.chem.star_substitution import star_neighbours, star_substitution

__all__ = [
    "AdjacentStarsError", "CONFORMER_METHODS", "ConformerError",
    "ConformerResult", "EmptyPSmilesError", "InvalidCharacterError",
    "NotAStringError", "OligomerError", "PolymerTooLargeError",
    "PSmilesError", "QueryFeatureError", "RoundTripError", "StarCountError", "StarNeighbourError",
    "StarSubstitutionError", "TIME_BUDGET", "UnparsableSmilesError",
    "build_oligomer", "canonicalize_psmiles", "generate_conformers",
    "parse_psmiles", "polymer_key", "polymer_key_or_none", "star_atoms", "star_neighbours",
    "star_substitution",
]
