"""Molecular features: Morgan (ECFP) fingerprints, RDKit 2D descriptors, Tanimoto similarity.

Fingerprints come from RDKit's ``rdFingerprintGenerator`` (ECFP4 = radius 2, 2048 bits by
default, as in chemprop's and MoleculeNet's fingerprint baselines). The nearest-neighbour
Tanimoto similarity to a training set is the applicability-domain measure of the property
models: computed on the bit matrices with NumPy (intersection by a matrix product), which for
thousands of molecules is faster than one ``BulkTanimotoSimilarity`` call per query.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from precisionmed.errors import ConfigError


@dataclass(frozen=True)
class FingerprintSpec:
    """How molecules become fingerprint bits.

    Attributes
    ----------
    radius : int
        Morgan radius (2: ECFP4, 3: ECFP6).
    n_bits : int
        Folded length.
    counts : bool
        Count fingerprint (how often each environment occurs) instead of bits.
    """

    radius: int = 2
    n_bits: int = 2048
    counts: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.radius, int) or not 0 <= self.radius <= 6:
            raise ConfigError(
                f"The 'radius' parameter must be an int in [0, 6]. Got {self.radius!r}."
            )
        if not isinstance(self.n_bits, int) or self.n_bits < 8:
            raise ConfigError(f"The 'n_bits' parameter must be an int >= 8. Got {self.n_bits!r}.")

    @property
    def name(self) -> str:
        """``"ecfp4-2048"`` (``"ecfp4-count-2048"`` for counts)."""
        return f"ecfp{2 * self.radius}{'-count' if self.counts else ''}-{self.n_bits}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def morgan_fingerprints(mols: Sequence[Any], spec: FingerprintSpec | None = None) -> np.ndarray:
    """Morgan fingerprints of ``mols``.

    Parameters
    ----------
    mols : sequence of rdkit.Chem.Mol
        Valid molecules.
    spec : FingerprintSpec, optional
        ECFP4, 2048 bits by default.

    Returns
    -------
    ndarray of shape (n_mols, n_bits), uint8
        Bits (0/1), or counts capped at 255.
    """
    from rdkit.Chem import rdFingerprintGenerator

    spec = spec or FingerprintSpec()
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=spec.radius, fpSize=spec.n_bits)
    out = np.zeros((len(mols), spec.n_bits), dtype=np.uint8)
    for i, mol in enumerate(mols):
        if spec.counts:
            out[i] = np.minimum(gen.GetCountFingerprintAsNumPy(mol), 255)
        else:
            out[i] = gen.GetFingerprintAsNumPy(mol)
    return out


def descriptor_names() -> list[str]:
    """Names of RDKit's 2D descriptors, in the column order of :func:`rdkit_descriptors`."""
    from rdkit.Chem import Descriptors

    return [name for name, _ in Descriptors._descList]


def rdkit_descriptors(mols: Sequence[Any]) -> np.ndarray:
    """RDKit's 2D descriptors (``Descriptors.CalcMolDescriptors``) of ``mols``.

    Returns
    -------
    ndarray of shape (n_mols, n_descriptors), float64
        Columns as :func:`descriptor_names`; a descriptor RDKit cannot compute for a molecule
        (or an infinite one) is NaN.
    """
    from rdkit import rdBase
    from rdkit.Chem import Descriptors

    names = descriptor_names()
    out = np.full((len(mols), len(names)), np.nan)
    with rdBase.CaptureErrorLog():
        for i, mol in enumerate(mols):
            values = Descriptors.CalcMolDescriptors(mol, missingVal=np.nan)
            out[i] = [values.get(n, np.nan) for n in names]
    out[~np.isfinite(out)] = np.nan
    return out


@dataclass
class DescriptorScaler:
    """Scales RDKit descriptors for a model: signed log, median imputation, z-score, clip.

    Written by hand rather than with a scikit-learn transformer so that its few numbers are
    stored in ``config.json`` (no pickle). Descriptors span many orders of magnitude (``Ipc``
    reaches 1e30), so each value first becomes ``sign(x) * log1p(|x|)``; a missing one takes
    the training median; then each column is standardised with the training mean and std and
    clipped to [-10, 10] (chemprop's ``rdkit_2d_normalized`` features serve the same end with
    fitted CDFs).

    Attributes
    ----------
    median, mean, std : ndarray of shape (n_descriptors,)
        Of the signed-log training values.
    """

    median: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, descriptors: np.ndarray) -> DescriptorScaler:
        """Fit on training descriptors (n, n_descriptors), NaN where missing."""
        logged = _signed_log(descriptors)
        with np.errstate(all="ignore"):
            median = np.nan_to_num(np.nanmedian(logged, axis=0))
        filled = np.where(np.isnan(logged), median, logged)
        std = filled.std(axis=0)
        return cls(median, filled.mean(axis=0), np.where(std > 0, std, 1.0))

    def transform(self, descriptors: np.ndarray) -> np.ndarray:
        """Scaled descriptors, float32 of shape (n, n_descriptors)."""
        logged = _signed_log(descriptors)
        filled = np.where(np.isnan(logged), self.median, logged)
        return np.clip((filled - self.mean) / self.std, -10, 10).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: getattr(self, k).tolist() for k in ("median", "mean", "std")}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DescriptorScaler:
        return cls(*(np.asarray(data[k], dtype=float) for k in ("median", "mean", "std")))


def _signed_log(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return np.sign(x) * np.log1p(np.abs(x))


def model_inputs(
    mols: Sequence[Any], spec: FingerprintSpec, scaler: DescriptorScaler | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Fingerprints and the model's input matrix: the fingerprint, with the scaled RDKit
    descriptors appended when ``scaler`` is given.

    Returns
    -------
    (fingerprints, inputs)
        uint8 (n, n_bits) and float32 (n, n_bits [+ n_descriptors]).
    """
    fps = morgan_fingerprints(mols, spec)
    if scaler is None:
        return fps, fps.astype(np.float32)
    return fps, np.hstack([fps.astype(np.float32), scaler.transform(rdkit_descriptors(mols))])


def tanimoto_nearest(
    queries: np.ndarray, reference: np.ndarray, *, exclude_self: bool = False, chunk: int = 1024
) -> np.ndarray:
    """For each query fingerprint, its highest Tanimoto similarity to any reference one.

    Parameters
    ----------
    queries : ndarray of shape (n, n_bits)
        Bit fingerprints (0/1).
    reference : ndarray of shape (m, n_bits)
        Bit fingerprints of the reference (training) set.
    exclude_self : bool
        ``queries`` is ``reference``: ignore each molecule's similarity to itself.
    chunk : int
        Queries per matrix product (bounds memory to ``chunk * m`` floats).

    Returns
    -------
    ndarray of shape (n,), float
        In [0, 1]; two molecules without any bit set have similarity 0.
    """
    q = (np.asarray(queries) > 0).astype(np.float32)
    r = (np.asarray(reference) > 0).astype(np.float32)
    if q.shape[1] != r.shape[1]:
        raise ConfigError(
            f"Fingerprints of {q.shape[1]} bits cannot be compared with {r.shape[1]}-bit ones."
        )
    if len(r) == 0:
        return np.zeros(len(q))
    r_count = r.sum(axis=1)
    out = np.empty(len(q))
    for start in range(0, len(q), chunk):
        block = q[start : start + chunk]
        inter = block @ r.T
        union = block.sum(axis=1, keepdims=True) + r_count[None, :] - inter
        sim = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        if exclude_self:
            rows = np.arange(len(block))
            sim[rows, start + rows] = -1.0
        out[start : start + len(block)] = sim.max(axis=1)
    return np.clip(out, 0.0, 1.0)


__all__ = [
    "DescriptorScaler",
    "FingerprintSpec",
    "descriptor_names",
    "model_inputs",
    "morgan_fingerprints",
    "rdkit_descriptors",
    "tanimoto_nearest",
]
