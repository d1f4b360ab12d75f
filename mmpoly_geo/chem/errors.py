"""Exceptions raised while reading and processing P-SMILES.

Every exception names the reason in its message, so a dataset can write it to
``rejected.csv`` verbatim.
"""


class PSmilesError(ValueError):
    """Base class: a P-SMILES string that cannot be used, with the reason."""


class EmptyPSmilesError(PSmilesError):
    """The input is empty or whitespace only."""


class NotAStringError(PSmilesError, TypeError):
    """The input is not a :class:`str` (e.g. ``NaN`` from an empty CSV cell)."""


class UnparsableSmilesError(PSmilesError):
    """RDKit cannot parse the string."""


class StarCountError(PSmilesError):
    """The string has no, one or more than two ``*`` connection points."""


class StarNeighbourError(PSmilesError):
    """A ``*`` is bonded to zero or several atoms (it must have exactly one)."""


class PolymerTooLargeError(PSmilesError):
    """The string or molecule exceeds the configured size limit."""


class StarSubstitutionError(PSmilesError):
    """Star substitution produced a chemically invalid molecule."""


class OligomerError(PSmilesError):
    """The repeat unit cannot be joined head to tail into an oligomer."""


class ConformerError(PSmilesError):
    """No coordinates could be generated, not even the 2D fallback."""
