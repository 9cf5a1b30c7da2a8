"""The phasing network: a BiGRU encoder and an autoregressive GRU decoder (sequence to sequence).

The encoder reads a window of genotypes (0/1/2/missing, each with a learned embedding of its
panel site) in both directions; the decoder writes haplotype 1 one site at a time, each step
seeing the encoder's state at that site and the allele it wrote at the previous site.

Why this design rather than attention or a transformer decoder: the input and output sequences
are aligned site by site (output ``i`` is the haplotype at input site ``i``), so the alignment an
attention decoder would learn is known and the decoder reads the encoder's state at its own site.
What phase needs is consistency along the haplotype: a heterozygous site's orientation only
means something relative to the ones before it, and an autoregressive decoder conditions each
choice on the alleles already written (the phase so far), which independent per-site outputs
cannot. A recurrent decoder does this in O(W) per window with a constant-size state, cheap on a
CPU; the bidirectional encoder gives each site both flanks of the window. Site embeddings tie
the network to the panel's sites, as a reference panel ties an HMM phaser to its sites.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from precisionmed.errors import ConfigError
from precisionmed.genomics.phasing.encoding import IGNORE, MISSING, START, encode_windows

DEFAULTS: dict[str, Any] = {"embed": 32, "hidden": 64, "layers": 2, "dropout": 0.1}


class PhasingNet(nn.Module):
    """Encoder-decoder from a genotype window to haplotype 1.

    Parameters
    ----------
    n_sites : int
        Sites of the panel (rows of the site embedding).
    embed, hidden, layers : int
        Embedding width, GRU width (per direction), encoder layers.
    dropout : float
        Between encoder layers.
    """

    def __init__(
        self, n_sites: int, *, embed: int = 32, hidden: int = 64, layers: int = 2,
        dropout: float = 0.1,
    ) -> None:  # fmt: skip
        super().__init__()
        if n_sites < 1 or min(embed, hidden, layers) < 1 or not 0 <= dropout < 1:
            raise ConfigError(
                f"PhasingNet needs n_sites, embed, hidden, layers >= 1 and 0 <= dropout < 1; "
                f"got {n_sites}, {embed}, {hidden}, {layers}, {dropout}"
            )
        self.genotype = nn.Embedding(MISSING + 1, embed)
        self.site = nn.Embedding(n_sites, embed)
        self.encoder = nn.GRU(embed, hidden, layers, batch_first=True, bidirectional=True,
                              dropout=dropout if layers > 1 else 0.0)  # fmt: skip
        self.previous = nn.Embedding(START + 1, embed)
        self.decoder = nn.GRU(2 * hidden + embed, 2 * hidden, 1, batch_first=True)
        self.head = nn.Sequential(nn.Linear(4 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder states of shape (B, W, 2 * hidden) of inputs (B, W, 3)."""
        out, _ = self.encoder(self.genotype(x[..., 0]) + self.site(x[..., 1]))
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits of haplotype 1 carrying ALT, shape (B, W)."""
        enc = self.encode(x)
        dec, _ = self.decoder(torch.cat([enc, self.previous(x[..., 2])], dim=-1))
        return self.head(torch.cat([dec, enc], dim=-1)).squeeze(-1)

    @torch.no_grad()
    def decode(self, codes: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Greedy decoding of haplotype 1, constrained by the genotypes.

        Homozygous sites get their allele; the window's first heterozygous site gets ALT on
        haplotype 1 (the canonical orientation); other heterozygous and missing sites get the
        decoder's more probable allele.

        Parameters
        ----------
        codes : ndarray of shape (B, W), int
            Genotype codes of windows.
        starts : ndarray of shape (B,), int
            Panel index of each window's first site.

        Returns
        -------
        hap1 : ndarray of shape (B, W), int8
        prob : ndarray of shape (B, W), float32
            The decoder's probability that haplotype 1 carries ALT, given the alleles written
            before (NaN at homozygous sites and at each window's first heterozygous site).
        """
        self.eval()
        x = torch.from_numpy(encode_windows(codes, starts))
        g = torch.from_numpy(np.asarray(codes, dtype=np.int64))
        enc = self.encode(x)
        b, w = g.shape
        prev = torch.full((b,), START, dtype=torch.long)
        seen_het = torch.zeros(b, dtype=torch.bool)
        state = None
        hap1 = torch.zeros((b, w), dtype=torch.int8)
        prob = torch.full((b, w), float("nan"))
        for t in range(w):
            step = torch.cat([enc[:, t], self.previous(prev)], dim=-1).unsqueeze(1)
            out, state = self.decoder(step, state)
            p = torch.sigmoid(self.head(torch.cat([out[:, 0], enc[:, t]], dim=-1)).squeeze(-1))
            gt = g[:, t]
            het = gt == 1
            free = (het & seen_het) | (gt == MISSING)
            allele = torch.where(free, (p > 0.5).long(), (gt >= 1).long())
            prob[:, t] = torch.where(free, p, torch.full_like(p, float("nan")))
            hap1[:, t] = allele.to(torch.int8)
            seen_het |= het
            prev = allele
        return hap1.numpy(), prob.numpy()


def masked_bce(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy over the sites whose target is not ``IGNORE``."""
    keep = target != IGNORE
    if not keep.any():
        return logits.sum() * 0.0
    return nn.functional.binary_cross_entropy_with_logits(logits[keep], target[keep])


def site_accuracy(logits: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Teacher-forced accuracy of haplotype 1 at the scored sites (the engine's metric)."""
    keep = target != IGNORE
    if not keep.any():
        return {"site_accuracy": float("nan")}
    hit = ((logits[keep] > 0).float() == target[keep]).float().mean()
    return {"site_accuracy": float(hit)}


__all__ = ["DEFAULTS", "PhasingNet", "masked_bce", "site_accuracy"]
