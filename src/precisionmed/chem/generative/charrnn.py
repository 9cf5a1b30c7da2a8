"""CharRNN: a token-level recurrent language model of SMILES (the MOSES CharRNN analogue).

The MOSES baseline (Segler et al. 2018; Polykovskiy et al. 2020) is a 3-layer LSTM of 768 units
with dropout 0.2 over SMILES characters, trained by teacher forcing on next-token cross entropy
and sampled token by token from ``<bos>`` until ``<eos>``. Here the tokens are those of
:class:`~precisionmed.chem.generative.vocab.Vocabulary` (``Cl``, ``Br``, ``[nH]`` whole, or SELFIES
symbols) and the cell is an LSTM or a GRU. :meth:`CharRNN.sample` and
:meth:`CharRNN.log_likelihood` return differentiable sums of token log-probabilities, which
REINVENT-style fine-tuning uses as the policy's log-likelihood.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from precisionmed.chem.generative.vocab import Vocabulary
from precisionmed.errors import ConfigError

Cell = Literal["lstm", "gru"]


def token_log_likelihood(logits: torch.Tensor, target: torch.Tensor, pad: int) -> torch.Tensor:
    """Per-sequence sum of the target tokens' log-probabilities, padding ignored.

    Parameters
    ----------
    logits : Tensor of shape (B, L, V)
    target : Tensor of shape (B, L), long
    pad : int
        The padding id (positions holding it count 0).

    Returns
    -------
    Tensor of shape (B,)
    """
    log_probs = F.log_softmax(logits, dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return torch.where(target != pad, log_probs, torch.zeros_like(log_probs)).sum(dim=1)


class NextTokenLoss:
    """Mean next-token cross entropy over the non-padding positions (the engine's ``loss_fn``).

    A class (not a closure) so that it pickles for DataLoader workers.
    """

    def __init__(self, pad: int) -> None:
        self.pad = pad

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.flatten(0, 1), target.flatten(), ignore_index=self.pad)


class CharRNN(nn.Module):
    """A recurrent language model over the tokens of ``vocabulary``.

    Parameters
    ----------
    vocabulary : Vocabulary
    cell : {"lstm", "gru"}
    hidden_size : int
        Units per layer (MOSES: 768).
    num_layers : int
        Stacked recurrent layers (MOSES: 3).
    dropout : float
        Between recurrent layers (MOSES: 0.2).
    embedding_dim : int or None
        Token embedding size; None: ``len(vocabulary)`` (MOSES feeds one-hot characters).

    Notes
    -----
    ``forward(tokens)`` takes ids of shape (B, L) (``<bos>`` first) and returns next-token logits
    of shape (B, L, V); ``<pad>``, ``<bos>`` and ``<unk>`` get logit -inf (never emitted).
    Positions after the longest non-padding input of the batch are not run through the network
    (their logits are 0; the loss ignores them).
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        *,
        cell: Cell = "lstm",
        hidden_size: int = 768,
        num_layers: int = 3,
        dropout: float = 0.2,
        embedding_dim: int | None = None,
    ) -> None:
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ConfigError(f"The cell of CharRNN must be 'lstm' or 'gru'. Got {cell!r}.")
        if hidden_size < 1 or num_layers < 1 or not 0 <= dropout < 1:
            raise ConfigError(
                "CharRNN needs hidden_size >= 1, num_layers >= 1 and dropout in [0, 1). Got "
                f"hidden_size={hidden_size}, num_layers={num_layers}, dropout={dropout}."
            )
        self.vocabulary = vocabulary
        self.hparams: dict[str, Any] = {
            "cell": cell,
            "hidden_size": hidden_size,
            "num_layers": num_layers,
            "dropout": dropout,
            "embedding_dim": embedding_dim,
        }
        size = len(vocabulary)
        dim = embedding_dim or size
        self.embedding = nn.Embedding(size, dim, padding_idx=vocabulary.pad)
        rnn = nn.LSTM if cell == "lstm" else nn.GRU
        self.rnn = rnn(
            dim, hidden_size, num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0
        )
        self.head = nn.Linear(hidden_size, size)
        never = torch.zeros(size, dtype=torch.bool)  # tokens the model must never emit
        never[[vocabulary.pad, vocabulary.bos, vocabulary.unk]] = True
        self.register_buffer("never", never, persistent=False)

    def step(self, tokens: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Logits (B, L, V) and the recurrent state after ``tokens`` (B, L)."""
        hidden, state = self.rnn(self.embedding(tokens), state)
        return self.head(hidden).masked_fill(self.never, float("-inf")), state

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        width = (
            int((tokens != self.vocabulary.pad).sum(dim=1).max().item()) if tokens.numel() else 0
        )
        logits, _ = self.step(tokens[:, : max(width, 1)])
        return F.pad(logits, (0, 0, 0, tokens.shape[1] - logits.shape[1]))

    def loss_function(self) -> NextTokenLoss:
        """The training loss the engine uses: next-token cross entropy."""
        return NextTokenLoss(self.vocabulary.pad)

    @staticmethod
    def training_inputs(tokens: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: the network reads every token but the last."""
        return tokens[:, :-1]

    @property
    def device(self) -> torch.device:
        return self.head.weight.device

    def sample(
        self, n: int, temperature: float = 1.0, max_length: int = 100
    ) -> tuple[list[str], torch.Tensor]:
        """Draw ``n`` molecules token by token.

        Parameters
        ----------
        n : int
            Number of sequences.
        temperature : float
            Logits are divided by it before sampling (< 1: safer, > 1: more diverse).
        max_length : int
            Tokens per sequence at most (a sequence without ``<eos>`` by then is cut there).

        Returns
        -------
        (smiles, log_likelihood)
            The decoded strings (not checked for validity; an unfinished or empty sequence
            decodes to what it has) and, shape (n,), the sum over the sampled tokens (up to and
            including ``<eos>``) of their log-probability under the model at temperature 1:
            differentiable when gradients are enabled, and equal to :meth:`log_likelihood` of
            the same token sequence.
        """
        if temperature <= 0:
            raise ConfigError(f"The sampling temperature must be > 0. Got {temperature}.")
        vocab = self.vocabulary
        token = torch.full((n, 1), vocab.bos, dtype=torch.long, device=self.device)
        finished = torch.zeros(n, dtype=torch.bool, device=self.device)
        total = torch.zeros(n, device=self.device)
        state = None
        sampled = []
        for _ in range(max_length):
            logits, state = self.step(token, state)
            logits = logits[:, -1]
            probs = F.softmax(logits.detach() / temperature, dim=-1)
            nxt = torch.multinomial(probs, 1).squeeze(1)
            nxt = torch.where(finished, torch.full_like(nxt, vocab.pad), nxt)
            log_p = F.log_softmax(logits, dim=-1).gather(1, nxt.unsqueeze(1)).squeeze(1)
            total = total + torch.where(finished, torch.zeros_like(log_p), log_p)
            sampled.append(nxt)
            finished = finished | (nxt == vocab.eos)
            token = nxt.unsqueeze(1)
            if bool(finished.all()):
                break
        ids = torch.stack(sampled, dim=1).tolist()
        return [vocab.decode(row) for row in ids], total

    def log_likelihood(self, smiles: list[str]) -> torch.Tensor:
        """Sum of the token log-probabilities of each SMILES (``<eos>`` included), shape (n,).

        Raises
        ------
        DataFormatError
            A SMILES cannot be tokenised or has a token outside the vocabulary.
        """
        encoded = [self.vocabulary.encode(s) for s in smiles]
        tokens = self.vocabulary.pad_batch(encoded).to(self.device)
        logits, _ = self.step(tokens[:, :-1])
        return token_log_likelihood(logits, tokens[:, 1:], self.vocabulary.pad)


__all__ = ["CharRNN", "NextTokenLoss", "token_log_likelihood"]
