"""Token vocabularies of the generators: SMILES tokens (``Cl``, ``Br``, ``[nH]`` whole) or SELFIES.

A SMILES string is split with the regular expression of Schwaller et al. (Molecular
Transformer, 2019), the one REINVENT and most SMILES language models use: bracket atoms
(``[nH]``, ``[C@@H]``, ``[O-]``) and the two-letter organic atoms ``Cl`` and ``Br`` are single
tokens, ring-closure numbers above 9 (``%10``) too. A string the expression does not cover
completely is refused with the characters it could not place, rather than silently losing them.
With ``representation="selfies"`` the molecule is first written as SELFIES (Krenn et al. 2020,
the ``selfies`` package) and split into its ``[...]`` symbols; every sequence of SELFIES symbols
decodes to a valid molecule.

A :class:`Vocabulary` is built from the training molecules; four special tokens come first:
``<pad>`` (0), ``<bos>`` (1), ``<eos>`` (2) and ``<unk>`` (3).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Literal

import torch

from precisionmed.errors import ConfigError, DataFormatError

Representation = Literal["smiles", "selfies"]
PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)

#: Schwaller et al.'s SMILES token pattern (Molecular Transformer, ACS Cent. Sci. 2019).
SMILES_TOKEN = re.compile(
    r"(\[[^\]]+]|Br?|Cl?|N|O|S|P|F|I|b|c|n|o|s|p|\(|\)|\.|=|#|-|\+|\\|/|:|~|@|\?|>|\*|\$|%[0-9]{2}|[0-9])"
)


def tokenize_smiles(smiles: str) -> list[str]:
    """Split a SMILES string into tokens (``Cl``, ``Br`` and ``[...]`` atoms kept whole).

    Parameters
    ----------
    smiles : str

    Returns
    -------
    list of str
        Tokens whose concatenation is ``smiles``.

    Raises
    ------
    DataFormatError
        A character that no SMILES token covers (named with its position).
    """
    tokens = SMILES_TOKEN.findall(smiles)
    if "".join(tokens) != smiles:
        position = 0
        for token in tokens:  # findall skips what it cannot match: find the first gap
            found = smiles.find(token, position)
            if found != position:
                break
            position += len(token)
        raise DataFormatError(
            f"SMILES {smiles!r}: character {smiles[position]!r} at position {position} is not "
            "part of any SMILES token."
        )
    return tokens


def tokenize(smiles: str, representation: Representation = "smiles") -> list[str]:
    """The tokens of one molecule in ``representation`` (SELFIES symbols need ``selfies``).

    Raises
    ------
    DataFormatError
        The SMILES cannot be tokenised or (SELFIES) encoded.
    """
    if representation == "smiles":
        return tokenize_smiles(smiles)
    import selfies

    try:
        encoded = selfies.encoder(smiles)
    except selfies.EncoderError as exc:
        raise DataFormatError(f"SMILES {smiles!r}: cannot be written as SELFIES ({exc}).") from exc
    return list(selfies.split_selfies(encoded))


class Vocabulary:
    """Tokens <-> integer ids for one representation, with the four special tokens first.

    Parameters
    ----------
    tokens : sequence of str
        The molecule tokens (specials are added in front and must not be among them).
    representation : {"smiles", "selfies"}
    """

    def __init__(self, tokens: Sequence[str], representation: Representation = "smiles") -> None:
        if representation not in ("smiles", "selfies"):
            raise ConfigError(
                f"The representation must be 'smiles' or 'selfies'. Got {representation!r}."
            )
        clash = sorted(set(tokens) & set(SPECIALS))
        if clash:
            raise ConfigError(f"Vocabulary tokens may not include the special tokens {clash}.")
        self.representation: Representation = representation
        self.tokens: list[str] = [*SPECIALS, *dict.fromkeys(tokens)]
        self.index = {t: i for i, t in enumerate(self.tokens)}

    pad = 0
    bos = 1
    eos = 2
    unk = 3

    @classmethod
    def from_smiles(
        cls, smiles: Iterable[str], representation: Representation = "smiles"
    ) -> Vocabulary:
        """The vocabulary of every token of ``smiles`` (sorted by frequency, then name)."""
        counts: Counter[str] = Counter()
        for text in smiles:
            counts.update(tokenize(text, representation))
        ordered = sorted(counts, key=lambda t: (-counts[t], t))
        return cls(ordered, representation)

    def __len__(self) -> int:
        return len(self.tokens)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Vocabulary)
            and other.tokens == self.tokens
            and other.representation == self.representation
        )

    __hash__ = None  # type: ignore[assignment]

    def encode(self, smiles: str, *, strict: bool = True) -> list[int]:
        """``[<bos>, tokens..., <eos>]`` as ids.

        Parameters
        ----------
        smiles : str
        strict : bool
            Refuse a token outside the vocabulary (default); False maps it to ``<unk>``.

        Raises
        ------
        DataFormatError
            The SMILES cannot be tokenised, or (strict) has a token the vocabulary lacks.
        """
        ids = [self.bos]
        for token in tokenize(smiles, self.representation):
            if token not in self.index and strict:
                raise DataFormatError(
                    f"SMILES {smiles!r}: token {token!r} is not in the model's vocabulary of "
                    f"{len(self)} tokens (it was not seen in the training molecules)."
                )
            ids.append(self.index.get(token, self.unk))
        ids.append(self.eos)
        return ids

    def decode(self, ids: Iterable[int]) -> str:
        """A SMILES from ids: stops at ``<eos>``, skips ``<bos>`` / ``<pad>``; SELFIES decoded."""
        out: list[str] = []
        for i in ids:
            i = int(i)
            if i == self.eos:
                break
            if i in (self.bos, self.pad):
                continue
            out.append(self.tokens[i] if i != self.unk else "?")
        text = "".join(out)
        if self.representation == "selfies":
            import selfies

            try:
                return str(selfies.decoder(text))
            except selfies.DecoderError:
                return ""
        return text

    def pad_batch(
        self, encoded: Sequence[Sequence[int]], length: int | None = None
    ) -> torch.Tensor:
        """Right-pad id lists with ``<pad>``: a (B, L) long tensor, L the longest or ``length``."""
        width = length if length is not None else max(len(e) for e in encoded)
        batch = torch.full((len(encoded), width), self.pad, dtype=torch.long)
        for row, ids in enumerate(encoded):
            batch[row, : len(ids)] = torch.as_tensor(ids[:width], dtype=torch.long)
        return batch

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (stored in a model's ``config.json``)."""
        return {"representation": self.representation, "tokens": self.tokens[len(SPECIALS) :]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        """Inverse of :meth:`to_dict`."""
        return cls(list(data["tokens"]), data.get("representation", "smiles"))


__all__ = ["SPECIALS", "Representation", "Vocabulary", "tokenize", "tokenize_smiles"]
