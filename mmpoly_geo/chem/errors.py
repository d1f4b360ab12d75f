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


class InvalidCharacterError(PSmilesError):
    """The string holds a character no SMILES may contain (non-ASCII, a
    control character or whitespace inside the string); checked before RDKit
    sees it, since RDKit silently ignores everything after a space and fails
    unpredictably on non-ASCII text."""


class UnparsableSmilesError(PSmilesError):
    """RDKit cannot parse the string."""


class QueryFeatureError(PSmilesError):
    """The string holds SMARTS-like query features, such as the ``~``
    any-bond, which describe a family of molecules rather than one."""


class RoundTripError(PSmilesError):
    """RDKit cannot read back the SMILES it wrote for the molecule (an RDKit
    canonicalisation problem)."""


class StarCountError(PSmilesError):
    """The string has no, one or more than two ``*`` connection points."""


class StarNeighbourError(PSmilesError):
    """A ``*`` is bonded to zero or several atoms (it must have exactly one)."""


class AdjacentStarsError(StarNeighbourError):
    """The two ``*`` are bonded to each other (``**``): no atom between the
    connection points."""


class PolymerTooLargeError(PSmilesError):
    """The string or molecule exceeds the configured size limit."""


class StarSubstitutionError(PSmilesError):
    """Star substitution produced a chemically invalid molecule."""


class OligomerError(PSmilesError):
    """The repeat unit cannot be joined head to tail into an oligomer."""


class ConformerError(PSmilesError):
    """No coordinates could be generated, not even the 2D fallback."""


def internal_error_reason(exc: BaseException) -> str:
    """The reason recorded for a row that failed with an exception we did not
    anticipate: ``"internal error: <type>: <message>"`` (first line, at most
    300 characters), so it can be reported and the row kept in the output."""
    message = " ".join(str(exc).split())[:300]
    return f"internal error: {type(exc).__name__}: {message}"


def row_failure_reason(exc: BaseException) -> str:
    """The reason to record for one input that could not be processed: the
    message of a :class:`PSmilesError`, else :func:`internal_error_reason`."""
    if isinstance(exc, PSmilesError):
        return str(exc)
    return internal_error_reason(exc)
