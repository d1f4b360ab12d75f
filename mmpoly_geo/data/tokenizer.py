"""Atom-level tokenizer for P-SMILES with a shipped vocabulary (no download)."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Union

import torch

#: Special tokens, in id order: padding, sequence start (pooled output),
#: sequence end, masked token, unknown token.
PAD, CLS, EOS, MASK, UNK = "[PAD]", "[CLS]", "[EOS]", "[MASK]", "[UNK]"
SPECIAL_TOKENS = (PAD, CLS, EOS, MASK, UNK)

#: One token per bracket atom (``[C@@H]``, ``[Si]``, ``[2H]``), two-letter
#: organic-subset halogens, single organic-subset atoms (aliphatic or
#: aromatic), the star, bonds, branches, dots and ring closures (``%NN`` or a
#: digit); dative bonds ``->``/``<-`` are single tokens.
TOKEN_PATTERN = re.compile(
    r"(\[[^\[\]]+\]|->|<-|Br|Cl|[BCNOPSFI]|[bcnops]|\*|[=#$:/\\\-~.]|[()]|%\d{2}|\d)")

DEFAULT_VOCAB = Path(__file__).with_name("vocab.txt")


class TokenizationError(ValueError):
    """A string contains characters that form no SMILES token."""


def tokenize(psmiles: str) -> List[str]:
    """Splits a P-SMILES string into atom-level tokens.

    ``"".join(tokenize(s)) == s`` holds for every string that is returned
    without error.

    Raises:
        TokenizationError: naming the first character that is not part of any
            token (e.g. a lower-case ``si`` outside brackets).
    """
    tokens = TOKEN_PATTERN.findall(psmiles)
    if sum(len(t) for t in tokens) != len(psmiles):
        pos = 0
        for match in TOKEN_PATTERN.finditer(psmiles):
            if match.start() != pos:
                break
            pos = match.end()
        raise TokenizationError(
            f"cannot tokenize {psmiles!r}: character {psmiles[pos]!r} at "
            f"position {pos} is not part of a SMILES token")
    return tokens


class PSmilesTokenizer:
    r"""Maps P-SMILES strings to token ids and back.

    Ids 0-4 are :data:`SPECIAL_TOKENS`; tokens absent from the vocabulary map
    to ``[UNK]``. An encoded sequence is ``[CLS] tokens... [EOS]``.

    Args:
        vocab (str or list, optional): Path of a vocabulary file (one token per
            line, specials first) or a list of tokens. (default: the
            vocabulary shipped in the package, built by
            ``mmpoly-geo vocab``)
        max_length (int, optional): Longest encoded sequence (specials
            included); longer inputs are truncated, keeping ``[EOS]``.
            (default: :obj:`512`)

    .. code-block:: python

        tok = PSmilesTokenizer()
        ids = tok.encode("*CC(*)c1ccccc1")
        assert tok.decode(ids) == "*CC(*)c1ccccc1"
    """
    def __init__(self, vocab: Union[str, Path, Sequence[str], None] = None,
                 max_length: int = 512):
        if vocab is None or isinstance(vocab, (str, Path)):
            path = Path(vocab) if vocab is not None else DEFAULT_VOCAB
            tokens = path.read_text(encoding="utf-8").splitlines()
        else:
            tokens = list(vocab)
        if tuple(tokens[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
            raise ValueError(
                f"vocabulary must start with the special tokens "
                f"{SPECIAL_TOKENS}, got {tokens[:len(SPECIAL_TOKENS)]}")
        if len(set(tokens)) != len(tokens):
            raise ValueError("vocabulary contains duplicate tokens")
        if max_length < 3:
            raise ValueError(f"max_length must be >= 3, got {max_length}")
        self.tokens = tokens
        self.index = {t: i for i, t in enumerate(tokens)}
        self.max_length = max_length

    pad_id, cls_id, eos_id, mask_id, unk_id = range(5)

    def __len__(self) -> int:
        return len(self.tokens)

    def __repr__(self) -> str:
        return (f"{self.__class__.__name__}(vocab_size={len(self)}, "
                f"max_length={self.max_length})")

    def encode(self, psmiles: str) -> torch.Tensor:
        """Returns the token ids of :obj:`psmiles`, shape :obj:`[L]` (int64)."""
        ids = [self.index.get(t, self.unk_id) for t in tokenize(psmiles)]
        ids = ids[:self.max_length - 2]
        return torch.tensor([self.cls_id] + ids + [self.eos_id],
                            dtype=torch.long)

    def decode(self, ids: Iterable[int]) -> str:
        """Joins token ids back into a string, skipping special tokens."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return "".join(self.tokens[i] for i in ids if i >= len(SPECIAL_TOKENS))

    @property
    def vocab_hash(self) -> str:
        """Short hash of the vocabulary (identifies processed datasets)."""
        import hashlib
        return hashlib.sha1("\n".join(self.tokens).encode()).hexdigest()[:8]


def build_vocab(strings: Iterable[str], min_count: int = 1,
                max_size: Optional[int] = None) -> List[str]:
    """Builds a vocabulary: the special tokens, then every token seen at least
    :obj:`min_count` times, most frequent first (ties alphabetical).

    Strings that cannot be tokenized raise :class:`TokenizationError`.
    """
    counts = Counter()
    for s in strings:
        counts.update(tokenize(s))
    kept = sorted((t for t, c in counts.items() if c >= min_count),
                  key=lambda t: (-counts[t], t))
    if max_size is not None:
        kept = kept[:max_size - len(SPECIAL_TOKENS)]
    return list(SPECIAL_TOKENS) + kept


def build_vocab_from_csv(paths: Sequence[Union[str, Path]],
                         column: str = "psmiles", min_count: int = 1,
                         canonicalize: bool = True) -> List[str]:
    """Builds a vocabulary from the P-SMILES column of CSV files.

    With :obj:`canonicalize` (the default) every string is first written in
    canonical form, as :class:`~mmpoly_geo.data.PolymerFeaturizer` feeds it to
    the tokenizer; strings that do not parse are skipped and counted.

    Returns:
        list: the vocabulary tokens (specials first).
    """
    import pandas as pd

    from mmpoly_geo.chem.errors import PSmilesError
    from mmpoly_geo.chem.psmiles import canonicalize_psmiles

    strings = []
    for path in paths:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        if column not in frame.columns:
            raise KeyError(f"{path}: no column {column!r} (columns: "
                           f"{list(frame.columns)})")
        for s in frame[column]:
            if canonicalize:
                try:
                    s = canonicalize_psmiles(s)
                except PSmilesError:
                    continue
            strings.append(s)
    return build_vocab(strings, min_count=min_count)
