"""The Li-Stephens copying-model HMM as a diploid phaser (Viterbi), in numpy: the baseline.

Li and Stephens (2003): a haplotype is a mosaic of the panel's K haplotypes, switching template
between sites with probability ``1 - exp(-4 Ne r d / K)`` and differing from its template with a
small probability. A diploid genotype is the sum of two such mosaics: the hidden state is the
ordered pair of templates (K^2 states), the model behind Beagle, SHAPEIT and IMPUTE. The two
templates switch independently, so the transition factorises and one Viterbi step costs O(K^2)
rather than O(K^4): the best predecessor of (i, j) is (i, j) itself, (i, best of row i),
(best of column j, j) or the overall best.

Written by hand because no packaged phaser fits: Beagle and Eagle need a JVM / compiled binaries
and SHAPEIT, IMPUTE and WhatsHap do not install here (no wheels, no compilers for their
dependencies, no network for conda), and none of them is a Python library one could call on a
genotype matrix in the same process as the network.
"""

from __future__ import annotations

import numpy as np

from precisionmed.errors import ConfigError
from precisionmed.genomics.phasing.encoding import MISSING


def switch_probabilities(
    positions: np.ndarray, n_haplotypes: int, *, rate: float = 1e-8, ne: float = 10_000
) -> np.ndarray:
    """Template-switch probabilities between consecutive sites, shape (M - 1,).

    ``rate`` is per bp and generation (1e-8: 1 cM/Mb); ``ne`` the effective population size.
    """
    d = np.diff(np.asarray(positions, dtype=np.float64))
    return -np.expm1(-4.0 * ne * rate * d / n_haplotypes)


def mismatch_probability(n_haplotypes: int) -> float:
    """Li and Stephens' template-mismatch probability ``theta / (2 (theta + K))``."""
    theta = 1.0 / np.sum(1.0 / np.arange(1, n_haplotypes))
    return float(theta / (2.0 * (theta + n_haplotypes)))


def li_stephens_phase(
    panel: np.ndarray,
    codes: np.ndarray,
    switch: np.ndarray,
    *,
    mismatch: float | None = None,
) -> np.ndarray:
    """Phase one diploid genotype against a panel: the Viterbi pair of copying paths.

    Parameters
    ----------
    panel : ndarray of shape (K, M), 0/1
        Panel haplotypes.
    codes : ndarray of shape (M,)
        Genotype codes: ALT dosage 0/1/2, ``MISSING`` (3) for no call.
    switch : ndarray of shape (M - 1,)
        Template-switch probability between consecutive sites (:func:`switch_probabilities`).
    mismatch : float, optional
        Probability of an allele unlike the template's (default :func:`mismatch_probability`).

    Returns
    -------
    ndarray of shape (M,), int8
        Haplotype 1's alleles (haplotype 2 is the genotype minus it): the first template's
        allele; at a heterozygous site where both templates carry the same allele (a
        mismatch) ALT goes to haplotype 1; at a missing site, the first template's allele.
    """
    panel = np.asarray(panel, dtype=np.int8)
    k, m = panel.shape
    codes = np.asarray(codes)
    if codes.shape != (m,) or switch.shape != (max(m - 1, 0),):
        raise ConfigError(
            f"li_stephens_phase: {m} panel sites, but {codes.shape} genotypes and "
            f"{switch.shape} switch probabilities"
        )
    eps = mismatch_probability(k) if mismatch is None else mismatch
    # log P(genotype | template dosage), rows: genotype code, columns: dosage 0/1/2
    emit = np.log(np.array([[1 - eps, eps, eps * eps], [eps, 1 - eps, eps],
                            [eps * eps, eps, 1 - eps], [1.0, 1.0, 1.0]]))  # fmt: skip
    emit = emit.astype(np.float32)

    def emission(site: int) -> np.ndarray:
        h = panel[:, site]
        return emit[codes[site]][h[:, None] + h[None, :]]

    score = emission(0)
    back = np.zeros((m, k, k), dtype=np.uint8)  # 0 stay, 1 j switched, 2 i switched, 3 both
    row_arg = np.zeros((m, k), dtype=np.int32)
    col_arg = np.zeros((m, k), dtype=np.int32)
    best_arg = np.zeros((m, 2), dtype=np.int32)
    for s in range(1, m):
        r = float(switch[s - 1])
        stay, move = np.log1p(-r + r / k), np.log(r / k)
        score = score - score.max()  # rescaled: log values stay in range
        ra, ca = score.argmax(axis=1), score.argmax(axis=0)
        row_best, col_best = score[np.arange(k), ra], score[ca, np.arange(k)]
        flat = int(score.argmax())
        row_arg[s], col_arg[s], best_arg[s] = ra, ca, divmod(flat, k)
        cand = np.stack([
            score + 2 * stay,
            np.broadcast_to((row_best + stay + move)[:, None], (k, k)),
            np.broadcast_to((col_best + stay + move)[None, :], (k, k)),
            np.full((k, k), score.flat[flat] + 2 * move, dtype=score.dtype),
        ])  # fmt: skip
        back[s] = cand.argmax(axis=0)
        score = cand.max(axis=0) + emission(s)
    i, j = divmod(int(score.argmax()), k)
    path = np.zeros((m, 2), dtype=np.int64)
    for s in range(m - 1, -1, -1):
        path[s] = i, j
        if s == 0:
            break
        code = back[s, i, j]
        if code == 1:
            j = int(row_arg[s, i])
        elif code == 2:
            i = int(col_arg[s, j])
        elif code == 3:
            i, j = (int(v) for v in best_arg[s])
    a = panel[path[:, 0], np.arange(m)]
    b = panel[path[:, 1], np.arange(m)]
    hap1 = np.where(codes == 1, np.where(a != b, a, 1), np.where(codes == 2, 1, 0))
    hap1 = np.where(codes == MISSING, a, hap1)
    return hap1.astype(np.int8)


__all__ = ["li_stephens_phase", "mismatch_probability", "switch_probabilities"]
