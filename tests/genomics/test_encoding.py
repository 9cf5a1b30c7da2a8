"""One-hot encoding, IUPAC codes, reverse complements and the strand augmentation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from precisionmed.errors import DataFormatError
from precisionmed.genomics.encoding import (
    StrandAugmented,
    encode_sequences,
    one_hot,
    reverse_complement,
    reverse_complement_one_hot,
)


def test_one_hot_bases_and_ambiguity_codes() -> None:
    x = one_hot("ACGTNR")
    np.testing.assert_array_equal(x[:4], np.eye(4, dtype=np.float32))
    np.testing.assert_allclose(x[4], [0.25] * 4)  # N: uniform over the four bases
    np.testing.assert_allclose(x[5], [0.5, 0, 0.5, 0])  # R: A or G
    np.testing.assert_allclose(one_hot("acgt"), one_hot("ACGT"))


@pytest.mark.parametrize("seq", ["ACGTTGCA", "AACNNRYKMSWBDHVT", "GATTACA"])
def test_reverse_complement_of_one_hot_equals_one_hot_of_reverse_complement(seq: str) -> None:
    encoded = encode_sequences([seq])
    np.testing.assert_array_equal(
        reverse_complement_one_hot(encoded), encode_sequences([reverse_complement(seq)])
    )
    as_tensor = reverse_complement_one_hot(torch.from_numpy(encoded)).numpy()
    np.testing.assert_array_equal(as_tensor, encode_sequences([reverse_complement(seq)]))


def test_reverse_complement_string() -> None:
    assert reverse_complement("AACGTN") == "NACGTT"
    assert reverse_complement("RYKM") == "KMRY"


def test_variable_lengths_are_zero_padded_and_long_ones_cut_to_the_centre() -> None:
    x = encode_sequences(["ACG", "ACGTA"])
    assert x.shape == (2, 4, 5)
    assert x[0, :, 3:].sum() == 0  # padding: all-zero columns, unlike N (0.25 each)
    cut = encode_sequences(["AAACCCGGG"], length=3)
    np.testing.assert_array_equal(cut[0].T, one_hot("CCC"))


def test_a_bad_character_is_named_with_its_position() -> None:
    with pytest.raises(DataFormatError, match=r"row 7: position 3: .*got 'X'"):
        one_hot("ACXT", where="row 7")


def test_strand_augmentation_draws_both_strands() -> None:
    x = torch.from_numpy(encode_sequences(["AACCGGTTAC"]))
    data = StrandAugmented(x, torch.zeros(1))
    torch.manual_seed(0)
    seen = {tuple(data[0][0].flatten().tolist()) for _ in range(40)}
    rc = tuple(reverse_complement_one_hot(x[0]).flatten().tolist())
    assert seen == {tuple(x[0].flatten().tolist()), rc}
