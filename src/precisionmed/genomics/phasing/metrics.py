"""Phasing accuracy: switch error rate and the share of windows phased without error.

A switch error is a heterozygous site whose orientation (which haplotype carries ALT) relative
to the previous heterozygous site differs between the estimate and the truth; the rate divides
the switches by the opportunities (heterozygous sites minus one, per individual), as in
SHAPEIT's and Eagle's papers. Missing genotypes are not counted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from precisionmed.errors import ConfigError


def _orientations(truth: np.ndarray, estimate: np.ndarray, het: np.ndarray) -> np.ndarray:
    return (truth[het] == estimate[het]).astype(np.int8)


def switch_errors(
    truth_hap1: np.ndarray,
    estimate_hap1: np.ndarray,
    genotypes: np.ndarray,
    positions: np.ndarray,
    *,
    window_bp: int = 100_000,
) -> dict[str, Any]:
    """Switch errors of estimated haplotypes against the truth, over individuals.

    Parameters
    ----------
    truth_hap1, estimate_hap1 : ndarray of shape (N, M), 0/1
        Haplotype 1 of each individual, true and estimated.
    genotypes : ndarray of shape (N, M)
        Genotype codes (0/1/2, 3 missing): heterozygous sites are those coded 1.
    positions : ndarray of shape (M,)
        Site positions in bp, for the windows.
    window_bp : int
        Windows of this many bp (from the first site) for the error-free share.

    Returns
    -------
    dict
        ``switch_error_rate`` (switches / opportunities), ``switches``, ``opportunities``,
        ``windows_without_error`` (share of individual x window pairs with >= 2 heterozygous
        sites and no switch inside), ``windows``, ``window_bp``, ``individuals``.
    """
    truth_hap1, estimate_hap1 = np.asarray(truth_hap1), np.asarray(estimate_hap1)
    genotypes = np.asarray(genotypes)
    if not truth_hap1.shape == estimate_hap1.shape == genotypes.shape or (
        genotypes.shape[1] != len(positions)
    ):
        raise ConfigError(
            f"switch_errors: shapes differ: truth {truth_hap1.shape}, estimate "
            f"{estimate_hap1.shape}, genotypes {genotypes.shape}, positions {len(positions)}"
        )
    positions = np.asarray(positions)
    bins = (positions - positions[0]) // window_bp
    switches = opportunities = windows = clean = 0
    for t, e, g in zip(truth_hap1, estimate_hap1, genotypes, strict=True):
        het = g == 1
        orient = _orientations(t, e, het)
        if orient.size < 2:
            continue
        flips = orient[1:] != orient[:-1]
        switches += int(flips.sum())
        opportunities += int(flips.size)
        het_bins = bins[het]
        for b in np.unique(het_bins):
            inside = np.flatnonzero(het_bins == b)
            if inside.size < 2:
                continue
            windows += 1
            clean += int(not flips[inside[0] : inside[-1]].any())
    return {
        "switch_error_rate": switches / opportunities if opportunities else float("nan"),
        "switches": switches,
        "opportunities": opportunities,
        "windows_without_error": clean / windows if windows else float("nan"),
        "windows": windows,
        "window_bp": window_bp,
        "individuals": int(genotypes.shape[0]),
    }


def random_phase(genotypes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Haplotype 1 with each heterozygous site's orientation drawn at random (the floor).

    Parameters
    ----------
    genotypes : ndarray of shape (N, M)
        Genotype codes.
    rng : numpy Generator

    Returns
    -------
    ndarray of shape (N, M), int8
    """
    genotypes = np.asarray(genotypes)
    coin = rng.integers(0, 2, genotypes.shape)
    return np.where(genotypes == 1, coin, (genotypes == 2).astype(int)).astype(np.int8)


__all__ = ["random_phase", "switch_errors"]
