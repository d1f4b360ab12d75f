import pandas as pd
import pytest
import torch

from mmpoly_geo.chem import canonicalize_psmiles
from mmpoly_geo.data import PSmilesTokenizer, build_vocab, tokenize
from mmpoly_geo.data.shipped import BENCHMARKS, shipped_files
from mmpoly_geo.data.tokenizer import (
    SPECIAL_TOKENS, TokenizationError, build_vocab_from_csv)

from ..conftest import MIXED


@pytest.mark.parametrize("s", MIXED[:-1] + [  # "->" is not in the vocabulary
    "*c1ccc2c(c1)[nH]c1cc(*)ccc12", "*CC(*)(C)C(=O)OC%10CCCCC%10",
    "*/C=C/C(*)Br", "*[C@@H](Cl)C*", "*C#CC*"])
def test_tokens_round_trip(s):
    tokens = tokenize(s)
    assert "".join(tokens) == s
    tok = PSmilesTokenizer()
    ids = tok.encode(s)
    assert ids[0] == tok.cls_id and ids[-1] == tok.eos_id
    assert tok.decode(ids) == s


def test_atom_level_tokens():
    assert tokenize("*C(Cl)[C@@H](Br)c1ccccc1*")[:8] == [
        "*", "C", "(", "Cl", ")", "[C@@H]", "(", "Br"]
    assert tokenize("C%12CC%12") == ["C", "%12", "C", "C", "%12"]
    assert tokenize("*CC(*)C(=O)[O-]->[Na+]")[-2:] == ["->", "[Na+]"]


def test_untokenizable_names_position():
    with pytest.raises(TokenizationError, match="'!' at position 2"):
        tokenize("*C!C*")


def test_unknown_token_and_truncation():
    tok = PSmilesTokenizer(list(SPECIAL_TOKENS) + ["*", "C"], max_length=5)
    ids = tok.encode("*CCCC[Xe]*")
    assert ids.tolist() == [1, 5, 6, 6, 2]
    assert tok.encode("*[Xe]*").tolist() == [1, 5, tok.unk_id, 5, 2][:5]


def test_vocab_validation():
    with pytest.raises(ValueError, match="special tokens"):
        PSmilesTokenizer(["C", "*"])
    with pytest.raises(ValueError, match="duplicate"):
        PSmilesTokenizer(list(SPECIAL_TOKENS) + ["C", "C"])


def test_build_vocab_order_and_min_count():
    vocab = build_vocab(["*CC*", "*CO*"], min_count=2)
    assert vocab == list(SPECIAL_TOKENS) + ["*", "C"]


def test_shipped_vocab_covers_benchmarks():
    tok = PSmilesTokenizer()
    for name in BENCHMARKS:
        for s in pd.read_csv(shipped_files(name)[0]).psmiles:
            ids = tok.encode(canonicalize_psmiles(s))
            assert (ids != tok.unk_id).all(), (name, s)


def test_vocab_from_csv(tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("smiles\n*CC(*)C\nC(*)C*\nbad\n")
    vocab = build_vocab_from_csv([path], column="smiles")
    assert vocab[len(SPECIAL_TOKENS):] == ["C", "*", "(", ")"]
    with pytest.raises(KeyError, match="no column 'psmiles'"):
        build_vocab_from_csv([path])


def test_encode_dtype():
    assert PSmilesTokenizer().encode("*CC*").dtype == torch.long
