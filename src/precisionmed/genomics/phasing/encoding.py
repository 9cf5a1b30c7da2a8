"""Genotype windows: the network's input and target encoding, and the window layout.

A genotype is coded by its ALT dosage, 0 / 1 / 2, and ``MISSING`` (3). The network reads a
window of ``W`` consecutive panel sites, each as (genotype code, site index, previous haplotype-1
allele) and writes haplotype 1 allele by allele; haplotype 2 is the genotype minus haplotype 1.
The two haplotypes of a diploid are exchangeable, so the target is made canonical: haplotype 1
is the one carrying ALT at the window's first heterozygous site.
"""

from __future__ import annotations

import numpy as np

from precisionmed.errors import ConfigError

MISSING = 3
#: The "previous allele" token of a window's first site.
START = 2
#: Target value of a site the loss ignores (homozygous: its haplotypes are known).
IGNORE = -1.0


def window_starts(n_sites: int, window: int, overlap: int) -> list[int]:
    """Starts of windows of ``window`` sites overlapping by ``overlap``, covering every site.

    The last window ends at the last site (it may overlap its neighbour by more).
    """
    if window < 2 or not 0 <= overlap < window:
        raise ConfigError(f"window must be >= 2 and 0 <= overlap < window; got {window}, {overlap}")
    if n_sites <= window:
        return [0]
    step = window - overlap
    starts = list(range(0, n_sites - window, step))
    starts.append(n_sites - window)
    return starts


def canonical_haplotype(hap1: np.ndarray, hap2: np.ndarray) -> np.ndarray:
    """Haplotype 1 of each row made canonical: the one with ALT at the first heterozygous site.

    Parameters
    ----------
    hap1, hap2 : ndarray of shape (B, W), 0/1

    Returns
    -------
    ndarray of shape (B, W)
    """
    het = hap1 != hap2
    first = np.argmax(het, axis=1)
    rows = np.arange(hap1.shape[0])
    swap = het.any(axis=1) & (hap1[rows, first] == 0)
    return np.where(swap[:, None], hap2, hap1)


def encode_windows(
    codes: np.ndarray, start: int | np.ndarray, previous: np.ndarray | None = None
) -> np.ndarray:
    """Network input of windows of genotype codes.

    Parameters
    ----------
    codes : ndarray of shape (B, W), int
        Genotype codes (0/1/2, ``MISSING``) of ``W`` sites beginning at panel site ``start``.
    start : int or ndarray of shape (B,)
        Panel index of each window's first site.
    previous : ndarray of shape (B, W), optional
        Haplotype 1 (teacher forcing); its alleles shifted right by one site become the
        "previous allele" channel, ``START`` at the first site. None: ``START`` everywhere
        (decoding fills it in step by step).

    Returns
    -------
    ndarray of shape (B, W, 3), int64
        Channels: genotype code, site index, previous allele.
    """
    b, w = codes.shape
    site = np.asarray(start).reshape(-1, 1) + np.arange(w)[None, :]
    prev = np.full((b, w), START, dtype=np.int64)
    if previous is not None:
        prev[:, 1:] = previous[:, :-1]
    return np.stack([codes.astype(np.int64), np.broadcast_to(site, (b, w)), prev], axis=-1)


def training_windows(
    haplotypes: np.ndarray,
    n_windows: int,
    window: int,
    rng: np.random.Generator,
    *,
    missing_rate: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pseudo-diploid training windows: two random panel haplotypes, a random window.

    Parameters
    ----------
    haplotypes : ndarray of shape (H, M), 0/1
        The panel (H >= 2).
    n_windows : int
    window : int
        Sites per window (<= M).
    rng : numpy Generator
    missing_rate : float
        Share of genotypes set to ``MISSING`` (their target stays: the decoder learns to
        carry a haplotype through a gap).

    Returns
    -------
    x : ndarray of shape (n_windows, window, 3), int64
        See :func:`encode_windows` (teacher-forced previous alleles).
    y : ndarray of shape (n_windows, window), float32
        Canonical haplotype-1 alleles at heterozygous and missing sites, ``IGNORE`` elsewhere.
    """
    h, m = haplotypes.shape
    if h < 2 or window > m:
        raise ConfigError(
            f"a panel of {h} haplotypes x {m} sites cannot give {window}-site windows"
        )
    a = rng.integers(0, h, n_windows)
    b = (a + rng.integers(1, h, n_windows)) % h  # two different haplotypes
    starts = rng.integers(0, m - window + 1, n_windows)
    cols = starts[:, None] + np.arange(window)[None, :]
    ha = haplotypes[a[:, None], cols].astype(np.int64)
    hb = haplotypes[b[:, None], cols].astype(np.int64)
    hap1 = canonical_haplotype(ha, hb)
    codes = ha + hb
    missing = rng.random(codes.shape) < missing_rate
    codes[missing] = MISSING
    y = np.where((codes == 1) | missing, hap1, IGNORE).astype(np.float32)
    return encode_windows(codes, starts, previous=hap1), y


__all__ = [
    "IGNORE",
    "MISSING",
    "START",
    "canonical_haplotype",
    "encode_windows",
    "training_windows",
    "window_starts",
]
