"""SMILES / SELFIES tokens: multi-character atoms kept whole, exact round trips, clear refusals."""

from __future__ import annotations

import pytest

from precisionmed.chem.generative.vocab import Vocabulary, tokenize, tokenize_smiles
from precisionmed.errors import DataFormatError

# a chlorinated and a brominated drug, bracket atoms with charge, H count and chirality, a
# two-digit ring closure, stereo bonds
SMILES = [
    "Clc1ccc(Br)cc1",
    "C[C@@H](N)C(=O)[O-]",
    "c1cc[nH]c1",
    "C1CC2CC3CC4CC5CC6CC7CC8CC9CC%10CC1C2C3C4C5C6C7C8C9%10",
    "F/C=C/Cl",
    "CN1C(=O)CN=C(c2ccccc2)c2cc(Cl)ccc21",
]


def test_multi_character_tokens_are_kept_whole() -> None:
    assert tokenize_smiles("Clc1ccc(Br)cc1") == [
        "Cl", "c", "1", "c", "c", "c", "(", "Br", ")", "c", "c", "1",
    ]  # fmt: skip
    assert tokenize_smiles("C[C@@H](N)C(=O)[O-]")[1] == "[C@@H]"
    assert "[nH]" in tokenize_smiles("c1cc[nH]c1")
    assert "%10" in tokenize_smiles(SMILES[3])
    assert tokenize_smiles("CC") == ["C", "C"]  # not "Cl"-style merging of C and C


@pytest.mark.parametrize("smiles", SMILES)
def test_vocabulary_round_trips_smiles(smiles: str) -> None:
    vocab = Vocabulary.from_smiles(SMILES)
    ids = vocab.encode(smiles)
    assert ids[0] == vocab.bos
    assert ids[-1] == vocab.eos
    assert vocab.decode(ids) == smiles
    assert Vocabulary.from_dict(vocab.to_dict()) == vocab


def test_selfies_round_trip_to_the_same_molecule() -> None:
    from rdkit import Chem

    vocab = Vocabulary.from_smiles(SMILES, "selfies")
    assert all(t.startswith("[") for t in tokenize(SMILES[0], "selfies"))
    for smiles in SMILES:
        decoded = vocab.decode(vocab.encode(smiles))
        assert Chem.CanonSmiles(decoded) == Chem.CanonSmiles(smiles)


def test_untokenisable_text_and_unknown_tokens_are_refused_by_name() -> None:
    with pytest.raises(DataFormatError, match=r"character '!' at position 2"):
        tokenize_smiles("CC!C")
    vocab = Vocabulary.from_smiles(["CCO"])
    with pytest.raises(DataFormatError, match=r"token 'Cl' is not in the model's vocabulary"):
        vocab.encode("CCCl")
    assert vocab.encode("CCCl", strict=False)[-2] == vocab.unk
