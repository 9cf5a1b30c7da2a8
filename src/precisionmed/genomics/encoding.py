"""One-hot encoding of DNA, reverse complements, and the training-time strand augmentation.

A base is a row of four numbers over ``A, C, G, T``. An ambiguous IUPAC code is the uniform
distribution over the bases it stands for: ``N`` is ``0.25`` in each column, ``R`` (A or G) is
``0.5`` in A and G. The other common choice, zeros for ``N``, would make "unknown base" look
like the padding that fills short sequences up to the batch's length; with the distribution the
first convolution sees an ``N`` as the average of the four bases it could be (the expected
input), padding stays all-zero and distinguishable, and the reverse complement of an ambiguous
code is again exact (``R`` <-> ``Y``), so augmentation and both-strand averaging stay consistent.
Written by hand rather than with a library: it is one table lookup in NumPy.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from precisionmed.errors import DataFormatError

#: Column order of the one-hot rows. Its reverse is the complement's order (A<->T, C<->G), so
#: the reverse complement of an encoded sequence is a flip of both axes.
BASES = "ACGT"
#: IUPAC nucleotide codes -> the bases they stand for.
IUPAC: dict[str, str] = {
    "A": "A", "C": "C", "G": "G", "T": "T", "U": "T",
    "R": "AG", "Y": "CT", "S": "CG", "W": "AT", "K": "GT", "M": "AC",
    "B": "CGT", "D": "AGT", "H": "ACT", "V": "ACG", "N": "ACGT",
}  # fmt: skip
_COMPLEMENT = str.maketrans("ACGTURYSWKMBDHVNacgturyswkmbdhvn", "TGCAAYRSWMKVHDBNtgcaayrswmkvhdbn")


def _table() -> np.ndarray:
    table = np.full((256, 4), np.nan, dtype=np.float32)
    for code, bases in IUPAC.items():
        row = np.array([b in bases for b in BASES], dtype=np.float32) / len(bases)
        table[ord(code)] = row
        table[ord(code.lower())] = row
    return table


_ROWS = _table()


def reverse_complement(sequence: str) -> str:
    """The reverse complement of a DNA sequence (IUPAC codes complemented; case kept)."""
    return sequence.translate(_COMPLEMENT)[::-1]


def one_hot(sequence: str, *, where: str = "sequence") -> np.ndarray:
    """Encode one sequence.

    Parameters
    ----------
    sequence : str
        IUPAC nucleotide letters, any case.
    where : str
        Names the sequence in an error message (``"row 3"``, a FASTA record's name).

    Returns
    -------
    ndarray of shape (L, 4), float32
        Rows over ``A, C, G, T``; an ambiguous code is the uniform distribution over its bases.

    Raises
    ------
    DataFormatError
        A character that is not an IUPAC nucleotide code (position named, 1-based).
    """
    codes = np.frombuffer(sequence.encode("latin-1", errors="replace"), dtype=np.uint8)
    rows = _ROWS[codes]
    bad = np.isnan(rows[:, 0])
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataFormatError(
            f"{where}: position {i + 1}: expected an IUPAC nucleotide (A, C, G, T, N...); got "
            f"{sequence[i]!r}."
        )
    return rows


def encode_sequences(
    sequences: Sequence[str], *, length: int | None = None, names: Sequence[str] | None = None
) -> np.ndarray:
    """Encode sequences into one zero-padded array.

    Parameters
    ----------
    sequences : sequence of str
    length : int, optional
        Output length: shorter sequences are padded with zero rows on the right, longer ones
        are cut to their central ``length`` bases. Default: the longest sequence.
    names : sequence of str, optional
        Names for error messages (default ``"sequence <i>"``, 1-based).

    Returns
    -------
    ndarray of shape (N, 4, length), float32
        Channels first, as ``torch.nn.Conv1d`` takes them.
    """
    n = len(sequences)
    length = length or max((len(s) for s in sequences), default=1)
    out = np.zeros((n, 4, length), dtype=np.float32)
    for i, seq in enumerate(sequences):
        if len(seq) > length:
            start = (len(seq) - length) // 2
            seq = seq[start : start + length]
        where = names[i] if names is not None else f"sequence {i + 1}"
        out[i, :, : len(seq)] = one_hot(seq, where=where).T
    return out


def reverse_complement_one_hot(x: Any) -> Any:
    """Reverse complement of encoded sequences: ``(..., 4, L)`` flipped on both last axes.

    Works on NumPy arrays and torch tensors alike. Padding moves to the other end.
    """
    if isinstance(x, np.ndarray):
        return x[..., ::-1, ::-1].copy()
    return x.flip(-1).flip(-2)


class StrandAugmented(Dataset):
    """A training set whose every item is, with probability 0.5, reverse-complemented.

    A DNA signal (a binding site) can sit on either strand, so the label does not change under
    the reverse complement; drawing a strand per item per epoch (DeepSEA and DanQ trained on
    both) doubles the data without doubling an epoch. The draws use torch's global generator,
    which the training engine seeds.

    Parameters
    ----------
    x : Tensor of shape (N, 4, L)
    y : Tensor of shape (N,) or (N, K)
    """

    def __init__(self, x: Any, y: Any) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple[Any, Any]:
        x = self.x[i]
        if torch.rand(()) < 0.5:
            x = reverse_complement_one_hot(x)
        return x, self.y[i]


__all__ = [
    "BASES",
    "IUPAC",
    "StrandAugmented",
    "encode_sequences",
    "one_hot",
    "reverse_complement",
    "reverse_complement_one_hot",
]
