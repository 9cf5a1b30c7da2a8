"""Sequence networks: a Basset-style CNN, a BiLSTM and the DanQ CNN + BiLSTM hybrid.

Every network maps one-hot DNA ``(B, 4, L)`` to ``(B, n_outputs)`` logits and pools over the
length at the end, so one network reads sequences of any length (zero-padded in a batch).

* :class:`SequenceCNN` (``cnn``): DeepSEA / Basset (Zhou & Troyanskaya 2015; Kelley et al.
  2016): stacked convolutions with batch norm, ReLU and max pooling, global max pooling, a
  fully connected layer.
* :class:`SequenceBiLSTM` (``bilstm``): a bidirectional LSTM over the bases, max- and
  mean-pooled over positions.
* :class:`DanQ` (``danq``): DanQ (Quang & Xie 2016): one wide convolution (motif scanners),
  max pooling, dropout, a BiLSTM over the pooled positions (motif grammar), pooled and fully
  connected. DanQ flattens the LSTM's output for a fixed 1,000 bp input; pooling over positions
  instead keeps any length.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from precisionmed.errors import ConfigError


def _check(name: str, **values: float) -> None:
    for key, value in values.items():
        ok = 0.0 <= value < 1.0 if key == "dropout" else value >= 1
        if not ok:
            expected = "in [0, 1)" if key == "dropout" else ">= 1"
            raise ConfigError(f"The {key!r} parameter of {name} must be {expected}. Got {value}.")


class SequenceCNN(nn.Module):
    """Basset-style CNN.

    Parameters
    ----------
    n_outputs : int
    channels : int
        Filters of every convolution.
    kernel_sizes : tuple of int
        One convolution block per entry (Basset: 19, 11, 7).
    pool : int
        Max-pooling width after each block but the last (which pools globally).
    hidden : int
        Width of the fully connected layer.
    dropout : float
    """

    def __init__(
        self,
        n_outputs: int,
        *,
        channels: int = 128,
        kernel_sizes: tuple[int, ...] = (19, 11, 7),
        pool: int = 3,
        hidden: int = 128,
        dropout: float = 0.3,
    ) -> None:
        super().__init__()
        _check("SequenceCNN", channels=channels, pool=pool, hidden=hidden, dropout=dropout)
        blocks: list[nn.Module] = []
        width = 4
        for i, k in enumerate(kernel_sizes):
            blocks += [
                nn.Conv1d(width, channels, int(k), padding=int(k) // 2),
                nn.BatchNorm1d(channels),
                nn.ReLU(),
            ]
            if i < len(kernel_sizes) - 1:
                blocks.append(nn.MaxPool1d(pool, ceil_mode=True))
            width = channels
        self.features = nn.Sequential(*blocks)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(channels, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, n_outputs),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, 4, L) -> (B, n_outputs) logits."""
        return self.head(self.features(x).amax(dim=-1))


def _pool_positions(h: torch.Tensor) -> torch.Tensor:
    """(B, L, C) -> (B, 2C): max and mean over positions."""
    return torch.cat([h.amax(dim=1), h.mean(dim=1)], dim=-1)


class SequenceBiLSTM(nn.Module):
    """Bidirectional LSTM over the bases.

    Parameters
    ----------
    n_outputs : int
    hidden : int
        LSTM units per direction.
    layers : int
    dropout : float
        Before the output layer (and between LSTM layers).
    """

    def __init__(
        self, n_outputs: int, *, hidden: int = 64, layers: int = 1, dropout: float = 0.2
    ) -> None:
        super().__init__()
        _check("SequenceBiLSTM", hidden=hidden, layers=layers, dropout=dropout)
        self.lstm = nn.LSTM(
            4, hidden, num_layers=layers, batch_first=True, bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )  # fmt: skip
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(4 * hidden, n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, 4, L) -> (B, n_outputs) logits."""
        h, _ = self.lstm(x.transpose(1, 2))
        return self.head(_pool_positions(h))


class DanQ(nn.Module):
    """DanQ: a convolution of motif scanners, then a BiLSTM over the pooled positions.

    Parameters
    ----------
    n_outputs : int
    channels : int
        Convolution filters (DanQ: 320).
    kernel_size : int
        Filter width (DanQ: 26).
    pool : int
        Max-pooling width and stride (DanQ: 13).
    hidden : int
        LSTM units per direction (DanQ: 320).
    dense : int
        Width of the fully connected layer (DanQ: 925).
    dropout : float
        After the pooling (DanQ: 0.2) and before the dense layers (DanQ: 0.5 there).
    """

    def __init__(
        self,
        n_outputs: int,
        *,
        channels: int = 128,
        kernel_size: int = 26,
        pool: int = 13,
        hidden: int = 64,
        dense: int = 128,
        dropout: float = 0.2,
    ) -> None:
        super().__init__()
        _check("DanQ", channels=channels, kernel_size=kernel_size, pool=pool, hidden=hidden,
               dense=dense, dropout=dropout)  # fmt: skip
        self.conv = nn.Sequential(
            nn.Conv1d(4, channels, kernel_size, padding=kernel_size // 2), nn.ReLU(),
            nn.MaxPool1d(pool, ceil_mode=True), nn.Dropout(dropout),
        )  # fmt: skip
        self.lstm = nn.LSTM(channels, hidden, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(
            nn.Dropout(min(2.5 * dropout, 0.5)), nn.Linear(4 * hidden, dense), nn.ReLU(),
            nn.Linear(dense, n_outputs),
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: (B, 4, L) -> (B, n_outputs) logits."""
        h, _ = self.lstm(self.conv(x).transpose(1, 2))
        return self.head(_pool_positions(h))


NETWORKS: dict[str, type[nn.Module]] = {"cnn": SequenceCNN, "bilstm": SequenceBiLSTM, "danq": DanQ}


def build_sequence_net(name: str, n_outputs: int, params: Mapping[str, Any]) -> nn.Module:
    """The untrained network ``name`` with the architecture entries of ``params``.

    Parameters
    ----------
    name : {"cnn", "bilstm", "danq"}
    n_outputs : int
        1 (binary), the number of classes (multi-class) or of labels (multi-label).
    params : mapping
        Hyper-parameters; those that are not the network's (``lr``...) are ignored.
    """
    import inspect

    if name not in NETWORKS:
        raise ConfigError(f"Unknown sequence model {name!r}; expected one of {sorted(NETWORKS)}.")
    cls = NETWORKS[name]
    accepted = set(inspect.signature(cls.__init__).parameters) - {"self", "n_outputs"}
    kwargs = {k: v for k, v in params.items() if k in accepted}
    if "kernel_sizes" in kwargs:
        kwargs["kernel_sizes"] = tuple(int(k) for k in kwargs["kernel_sizes"])
    return cls(n_outputs, **kwargs)


__all__ = ["NETWORKS", "DanQ", "SequenceBiLSTM", "SequenceCNN", "build_sequence_net"]
