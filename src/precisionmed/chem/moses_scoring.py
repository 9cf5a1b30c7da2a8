"""The pieces of the MOSES metrics: molecules, fingerprints, filters, statistics of a reference set.

Each follows ``molsets`` 0.3.1 (``moses/metrics/utils.py``): molecules parsed with
``Chem.MolFromSmiles`` + ``SanitizeMol`` (no standardisation: MOSES scores the molecule as
generated), Morgan radius-2 1,024-bit fingerprints, BRICS fragments, Bemis-Murcko scaffolds with
at least two rings, RDKit's Crippen logP / QED / MolWt and the SA score of RDKit's Contrib
``sascorer`` (Ertl and Schuffenhauer 2009). :class:`ReferenceStatistics` holds what a reference
set contributes (the ChemNet mean and covariance, fingerprints, fragment and scaffold counts,
property values); :func:`load_moses_statistics` reads the ``*_stats.npz`` MOSES ships with a
restricted unpickler.
"""

from __future__ import annotations

import csv
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.chem.affinity_data import _ArrayUnpickler

PROPERTIES = ("logP", "SA", "QED", "weight")
_ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})


def moses_mol(smiles: str) -> Any:
    """The sanitised RDKit molecule of ``smiles``, or None (empty, unparsable, insane valence)."""
    from precisionmed.chem.molecules import parse_smiles

    mol, _ = parse_smiles(smiles) if smiles else (None, None)
    return mol


def canonical_smiles(mol: Any) -> str:
    """RDKit's canonical isomeric SMILES."""
    from rdkit import Chem

    return str(Chem.MolToSmiles(mol))


def fingerprint_matrix(mols: Sequence[Any]) -> np.ndarray:
    """Morgan radius-2 1,024-bit fingerprints, uint8 of shape (n, 1024)."""
    from rdkit.Chem import rdFingerprintGenerator

    generator = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=1024)
    out = np.zeros((len(mols), 1024), dtype=np.uint8)
    for i, mol in enumerate(mols):
        out[i] = generator.GetFingerprintAsNumPy(mol)
    return out


def fragment_counts(mols: Sequence[Any]) -> Counter[str]:
    """BRICS fragments (SMILES with dummy atoms) counted over ``mols``."""
    from rdkit import Chem

    counts: Counter[str] = Counter()
    for mol in mols:
        counts.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(mol)).split("."))
    return counts


def scaffold_counts(mols: Sequence[Any], min_rings: int = 2) -> Counter[str]:
    """Bemis-Murcko scaffolds with at least ``min_rings`` rings, counted over ``mols``."""
    from rdkit import Chem
    from rdkit.Chem.Scaffolds import MurckoScaffold

    counts: Counter[str] = Counter()
    for mol in mols:
        try:
            scaffold = MurckoScaffold.GetScaffoldForMol(mol)
        except (ValueError, RuntimeError):
            continue
        text = Chem.MolToSmiles(scaffold)
        if text and scaffold.GetRingInfo().NumRings() >= min_rings:
            counts[text] += 1
    return counts


@cache
def _sascorer() -> Any:
    import importlib.util
    import os

    from rdkit import RDConfig

    path = os.path.join(RDConfig.RDContribDir, "SA_Score", "sascorer.py")
    spec = importlib.util.spec_from_file_location("rdkit_contrib_sascorer", path)
    if spec is None or spec.loader is None:  # pragma: no cover - RDKit installs Contrib
        raise ImportError(f"RDKit's SA score is missing: {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sa_score(mol: Any) -> float:
    """Synthetic accessibility, 1 (easy) to 10 (hard): RDKit Contrib's ``sascorer``."""
    return float(_sascorer().calculateScore(mol))


def log_p(mol: Any) -> float:
    """Wildman-Crippen logP (RDKit's ``Crippen.MolLogP``)."""
    from rdkit.Chem import Crippen

    return float(Crippen.MolLogP(mol))  # type: ignore[attr-defined]


def mol_weight(mol: Any) -> float:
    """Average molecular weight in g/mol (RDKit's ``Descriptors.MolWt``)."""
    from rdkit.Chem import Descriptors

    return float(Descriptors.MolWt(mol))  # type: ignore[attr-defined]


def property_values(mols: Sequence[Any]) -> dict[str, np.ndarray]:
    """``logP`` (Crippen), ``SA``, ``QED`` and ``weight`` (g/mol) per molecule, shape (n,)."""
    from rdkit.Chem.QED import qed

    funcs = {"logP": log_p, "SA": sa_score, "QED": qed, "weight": mol_weight}
    return {name: np.array([f(m) for m in mols], dtype=float) for name, f in funcs.items()}


@cache
def _filters() -> tuple[Any, ...]:
    from rdkit import Chem

    path = resources.files("precisionmed.chem") / "data" / "moses_filters.csv"
    with path.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return tuple(Chem.MolFromSmarts(r["smarts"]) for r in rows)


def passes_filters(mol: Any) -> bool:
    """MOSES's ``mol_passes_filters``: no big ring, no charge, allowed atoms, no MCF/PAINS hit."""
    from rdkit import Chem

    if any(len(ring) >= 8 for ring in mol.GetRingInfo().AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 for a in mol.GetAtoms()):
        return False
    if any(a.GetSymbol() not in _ALLOWED_ATOMS for a in mol.GetAtoms()):
        return False
    with_h = Chem.AddHs(mol)
    if any(with_h.HasSubstructMatch(pattern) for pattern in _filters()):
        return False
    text = Chem.MolToSmiles(mol, isomericSmiles=False)
    return bool(text) and Chem.MolFromSmiles(text) is not None


def fraction_passes_filters(mols: Sequence[Any]) -> float:
    """The fraction of ``mols`` that :func:`passes_filters`."""
    return float(np.mean([passes_filters(m) for m in mols]))


def _tanimoto_blocks(ref: np.ndarray, gen: np.ndarray, device: str, block: int = 5000) -> Any:
    """Yield (gen slice, Tanimoto block of shape (n_ref_block, n_gen_block)) as MOSES does."""
    import torch

    for j in range(0, ref.shape[0], block):
        x = torch.as_tensor(ref[j : j + block], device=device).float()
        for i in range(0, gen.shape[0], block):
            y = torch.as_tensor(gen[i : i + block], device=device).float().T
            tp = x @ y
            jac = (tp / (x.sum(1, keepdim=True) + y.sum(0, keepdim=True) - tp)).cpu().numpy()
            jac[np.isnan(jac)] = 1.0  # two empty fingerprints are identical
            yield slice(i, i + y.shape[1]), jac


def snn(ref_fps: np.ndarray, gen_fps: np.ndarray, *, device: str = "cpu") -> float:
    """Mean over generated molecules of the Tanimoto similarity to the nearest reference one."""
    best = np.zeros(len(gen_fps))
    for cols, jac in _tanimoto_blocks(ref_fps, gen_fps, device):
        best[cols] = np.maximum(best[cols], jac.max(0))
    return float(best.mean())


def internal_diversity(fps: np.ndarray, *, p: int = 1, device: str = "cpu") -> float:
    """``1 - (mean_{x,y} T(x, y)^p)^(1/p)`` over all ordered pairs, self-pairs included."""
    total = np.zeros(len(fps))
    for cols, jac in _tanimoto_blocks(fps, fps, device):
        total[cols] += (jac**p).sum(0)
    return float(1.0 - ((total / len(fps)) ** (1.0 / p)).mean())


def cosine_similarity(ref: Counter[str], gen: Counter[str]) -> float:
    """Cosine similarity of two count vectors given as {key: count}; NaN if either is empty."""
    if not ref or not gen:
        return float("nan")
    keys = sorted(set(ref) | set(gen))
    r = np.array([ref.get(k, 0) for k in keys], dtype=float)
    g = np.array([gen.get(k, 0) for k in keys], dtype=float)
    return float(r @ g / (np.linalg.norm(r) * np.linalg.norm(g)))


def chemnet_statistics(
    smiles: Sequence[str], *, device: str = "cpu", batch_size: int = 512
) -> dict[str, np.ndarray]:
    """ChemNet's penultimate-layer mean ``mu`` (512,) and covariance ``sigma`` (512, 512)."""
    with warnings.catch_warnings():  # fcd-torch 1.0.7 calls np.row_stack (deprecated)
        warnings.simplefilter("ignore", DeprecationWarning)
        return dict(_chemnet(device, batch_size).precalc(list(smiles)))


@cache
def _chemnet(device: str, batch_size: int) -> Any:
    """fcd-torch's ChemNet, loaded once per process (and device, batch size)."""
    from fcd_torch import FCD

    return FCD(device=device, n_jobs=1, batch_size=batch_size)


@dataclass
class ReferenceStatistics:
    """What a reference set contributes to the MOSES metrics.

    Attributes
    ----------
    fingerprints : ndarray of uint8, shape (n, 1024)
    fragments, scaffolds : Counter of str
    properties : dict of str -> ndarray of shape (n,)
        ``logP``, ``SA``, ``QED``, ``weight`` (empty when not computed).
    fcd : dict with ``mu`` (512,) and ``sigma`` (512, 512), or None
    """

    fingerprints: np.ndarray
    fragments: Counter[str]
    scaffolds: Counter[str]
    properties: dict[str, np.ndarray] = field(default_factory=dict)
    fcd: dict[str, np.ndarray] | None = None

    def frechet_distance(self, gen: dict[str, np.ndarray]) -> float:
        """FCD: ``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2))`` (fcd-torch's formula).

        ``tr(sqrt(S1 S2))`` is computed as the sum of the square roots of the eigenvalues of the
        symmetric ``sqrt(S1) S2 sqrt(S1)`` (the same eigenvalues as ``S1 S2``) instead of
        fcd-torch's ``scipy.linalg.sqrtm``, which takes seconds per 512 x 512 matrix on a CPU;
        the tests check the result against molsets' FCD.
        """
        if self.fcd is None or "mu" not in gen:
            return float("nan")
        mu1, s1 = self.fcd["mu"], self.fcd["sigma"]
        mu2, s2 = gen["mu"], gen["sigma"]
        w, v = np.linalg.eigh(s1)
        root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        inner = np.linalg.eigvalsh(root @ s2 @ root)
        tr_covmean = np.sqrt(np.clip(inner, 0, None)).sum()
        diff = mu1 - mu2
        return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)

    def property_distances(self, gen: ReferenceStatistics) -> dict[str, float]:
        """Wasserstein-1 distance per property between these values and ``gen``'s."""
        from scipy.stats import wasserstein_distance

        return {
            name: float(wasserstein_distance(self.properties[name], gen.properties[name]))
            for name in PROPERTIES
            if name in self.properties and name in gen.properties
        }


def reference_statistics(
    smiles: Sequence[str],
    *,
    mols: Sequence[Any] | None = None,
    properties: bool = True,
    fcd: bool = True,
    device: str = "cpu",
) -> ReferenceStatistics:
    """Statistics of a set of SMILES (invalid ones left out), as MOSES precomputes them."""
    if mols is None:
        pairs = [(s, moses_mol(s)) for s in smiles]
        smiles = [s for s, m in pairs if m is not None]
        mols = [m for _, m in pairs if m is not None]
    return ReferenceStatistics(
        fingerprints=fingerprint_matrix(mols),
        fragments=fragment_counts(mols),
        scaffolds=scaffold_counts(mols),
        properties=property_values(mols) if properties else {},
        fcd=chemnet_statistics(smiles, device=device) if fcd else None,
    )


class _StatsUnpickler(_ArrayUnpickler):
    """MOSES's statistics: NumPy arrays, lists, dicts and ``collections.Counter``, nothing else."""

    _ALLOWED = _ArrayUnpickler._ALLOWED | {("collections", "Counter")}

    def find_class(self, module: str, name: str) -> Any:
        if module == "numpy.core.multiarray":  # NumPy 2 moved it; the alias warns on import
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def load_moses_statistics(path: str | Path) -> ReferenceStatistics:
    """Read a MOSES ``test_stats.npz`` / ``test_scaffolds_stats.npz`` (a pickled dict).

    Raises
    ------
    DataFormatError
        Not such a file (not a zip with ``stats.npy``, a class other than arrays and Counters,
        or a key missing).
    """
    import pickle
    import zipfile

    from precisionmed.errors import DataFormatError

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive, archive.open("stats.npy") as fh:
            np.lib.format.read_magic(fh)
            np.lib.format.read_array_header_1_0(fh)
            stats = _StatsUnpickler(fh).load().item()
        return ReferenceStatistics(
            fingerprints=np.asarray(stats["SNN"]["fps"], dtype=np.uint8),
            fragments=Counter(stats["Frag"]["frag"]),
            scaffolds=Counter(stats["Scaf"]["scaf"]),
            properties={p: np.asarray(stats[p]["values"], dtype=float) for p in PROPERTIES},
            fcd={"mu": np.asarray(stats["FCD"]["mu"]), "sigma": np.asarray(stats["FCD"]["sigma"])},
        )
    except (
        OSError,
        KeyError,
        ValueError,
        TypeError,
        AttributeError,
        EOFError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
    ) as exc:
        raise DataFormatError(
            f"{path}: expected MOSES statistics (a .npz holding a pickled dict with FCD, SNN, "
            f"Frag, Scaf and {', '.join(PROPERTIES)}); {type(exc).__name__}: {exc}."
        ) from exc


__all__ = [
    "PROPERTIES",
    "ReferenceStatistics",
    "canonical_smiles",
    "chemnet_statistics",
    "cosine_similarity",
    "fingerprint_matrix",
    "fraction_passes_filters",
    "fragment_counts",
    "internal_diversity",
    "load_moses_statistics",
    "log_p",
    "mol_weight",
    "moses_mol",
    "passes_filters",
    "property_values",
    "reference_statistics",
    "scaffold_counts",
    "snn",
]
