"""GuacaMol's goal-directed tasks, reproduced from ``guacamol`` 0.5.5 (Brown et al. 2019).

The ``guacamol`` package cannot be installed beside our RDKit and NumPy (it pins
``rdkit-pypi`` 2022 built on NumPy 1), so its definitions are written out here, term for term
(``guacamol/standard_benchmarks.py``, ``common_scoring_functions.py``, ``score_modifier.py``)
and the tests check our scores against values computed by guacamol itself. Fingerprints are
RDKit's unfolded count fingerprints (``GetMorganFingerprint(mol, 2)`` for ECFP4, with feature
invariants for FCFP4, ``GetAtomPairFingerprint(maxLength=10)`` for AP), made with the
fingerprint generators that replace those deprecated calls; Tanimoto is on the counts.

A task scores one molecule in [0, 1] (-1 for an invalid SMILES, GuacaMol's ``corrupt_score``);
:func:`benchmark_score` is GuacaMol's global score: the mean of the top-1, top-10 and top-100
averages of the distinct molecules' scores (top-1 only for rediscovery), zeros padding a short list.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache, partial
from typing import Any

import numpy as np

from precisionmed.registry import Registry

CORRUPT_SCORE = -1.0


def _generator(fp_type: str) -> Any:
    from rdkit.Chem import rdFingerprintGenerator as g

    if fp_type in ("ECFP4", "ECFP6"):
        return g.GetMorganGenerator(radius=2 if fp_type == "ECFP4" else 3)
    if fp_type in ("FCFP4", "FCFP6"):
        return g.GetMorganGenerator(
            radius=2 if fp_type == "FCFP4" else 3,
            atomInvariantsGenerator=g.GetMorganFeatureAtomInvGen(),
        )
    if fp_type == "AP":
        return g.GetAtomPairGenerator(maxDistance=10)
    raise ValueError(f"fingerprint type {fp_type!r}: expected ECFP4, ECFP6, FCFP4, FCFP6 or AP")


@cache
def fingerprinter(fp_type: str) -> Callable[[Any], Any]:
    """``mol -> count fingerprint`` of ``fp_type`` (ECFP4, ECFP6, FCFP4, FCFP6, AP)."""
    generator = _generator(fp_type)
    return lambda mol: generator.GetSparseCountFingerprint(mol)


def tanimoto(mol: Any, reference_fp: Any, fp_type: str) -> float:
    """Tanimoto similarity of ``mol``'s count fingerprint to ``reference_fp``."""
    from rdkit import DataStructs

    return float(DataStructs.TanimotoSimilarity(fingerprinter(fp_type)(mol), reference_fp))


# The score modifiers of guacamol/score_modifier.py.
def clipped(x: float, upper_x: float, lower_x: float = 0.0) -> float:
    """Linear from (lower_x, 0) to (upper_x, 1), clipped to [0, 1]."""
    slope = 1.0 / (upper_x - lower_x)
    return float(np.clip(slope * x + (1.0 - slope * upper_x), 0.0, 1.0))


def gaussian(x: float, mu: float, sigma: float) -> float:
    """``exp(-((x - mu) / sigma)^2 / 2)``."""
    return float(np.exp(-0.5 * ((x - mu) / sigma) ** 2))


def min_gaussian(x: float, mu: float, sigma: float) -> float:
    """1 for x <= mu, a half Gaussian above (GuacaMol's ``MinGaussianModifier``)."""
    return gaussian(max(x, mu), mu, sigma)


def max_gaussian(x: float, mu: float, sigma: float) -> float:
    """1 for x >= mu, a half Gaussian below (GuacaMol's ``MaxGaussianModifier``)."""
    return gaussian(min(x, mu), mu, sigma)


@dataclass(frozen=True)
class GoalDirectedTask:
    """One GuacaMol goal-directed task.

    Attributes
    ----------
    name : str
        GuacaMol's benchmark name (``"Celecoxib rediscovery"``).
    score_mol : callable
        ``mol -> float`` in [0, 1] for a sanitised RDKit molecule.
    top_counts : tuple of int
        The top-x averages of the global score: (1,) for rediscovery, else (1, 10, 100).
    """

    name: str
    score_mol: Callable[[Any], float]
    top_counts: tuple[int, ...] = (1, 10, 100)

    def score(self, smiles: str) -> float:
        """The task's score of one SMILES; ``CORRUPT_SCORE`` (-1) if it is not a molecule."""
        from precisionmed.chem.moses_scoring import moses_mol

        mol = moses_mol(smiles)
        return CORRUPT_SCORE if mol is None else float(self.score_mol(mol))

    def score_list(self, smiles: Sequence[str]) -> list[float]:
        """:meth:`score` of each SMILES, in order."""
        return [self.score(s) for s in smiles]


def _reference(smiles: str, fp_type: str) -> Any:
    from precisionmed.chem.moses_scoring import moses_mol

    return fingerprinter(fp_type)(moses_mol(smiles))


def similarity_task(
    smiles: str, name: str, fp_type: str, threshold: float, rediscovery: bool = False
) -> GoalDirectedTask:
    """GuacaMol's ``similarity``: Tanimoto to ``smiles``, clipped at ``threshold``."""
    ref = _reference(smiles, fp_type)
    kind = "rediscovery" if rediscovery else "similarity"
    return GoalDirectedTask(
        f"{name} {kind}",
        lambda mol: clipped(tanimoto(mol, ref, fp_type), threshold),
        (1,) if rediscovery else (1, 10, 100),
    )


def _geometric(*scores: float) -> float:
    return float(np.prod(scores) ** (1.0 / len(scores)))


def osimertinib_mpo() -> GoalDirectedTask:
    """Osimertinib MPO: FCFP4 similarity (clipped at 0.8), ECFP6 <= 0.85, TPSA >= 100, logP <= 1."""
    from rdkit.Chem import rdMolDescriptors

    from precisionmed.chem.moses_scoring import log_p

    smiles = "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34"
    fcfp4, ecfp6 = _reference(smiles, "FCFP4"), _reference(smiles, "ECFP6")

    def score(mol: Any) -> float:
        return _geometric(
            clipped(tanimoto(mol, fcfp4, "FCFP4"), 0.8),
            min_gaussian(tanimoto(mol, ecfp6, "ECFP6"), 0.85, 0.1),
            max_gaussian(rdMolDescriptors.CalcTPSA(mol), 100, 10),
            min_gaussian(log_p(mol), 1, 1),
        )

    return GoalDirectedTask("Osimertinib MPO", score)


def fexofenadine_mpo() -> GoalDirectedTask:
    """Fexofenadine MPO: AP similarity clipped at 0.8, TPSA >= 90, logP <= 4."""
    from rdkit.Chem import rdMolDescriptors

    from precisionmed.chem.moses_scoring import log_p

    ap = _reference("CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4", "AP")

    def score(mol: Any) -> float:
        return _geometric(
            clipped(tanimoto(mol, ap, "AP"), 0.8),
            max_gaussian(rdMolDescriptors.CalcTPSA(mol), 90, 10),
            min_gaussian(log_p(mol), 4, 1),
        )

    return GoalDirectedTask("Fexofenadine MPO", score)


def ring_mpo(name: str, smiles: str, count: Callable[[Any], int], mu: float) -> GoalDirectedTask:
    """Perindopril / Amlodipine MPO: ECFP4 similarity and a ring count near ``mu`` (sigma 0.5)."""
    ref = _reference(smiles, "ECFP4")
    return GoalDirectedTask(
        name, lambda mol: _geometric(tanimoto(mol, ref, "ECFP4"), gaussian(count(mol), mu, 0.5))
    )


def median_camphor_menthol() -> GoalDirectedTask:
    """Median molecules 1: geometric mean of the ECFP4 similarities to menthol and camphor."""
    menthol = _reference("CC(C)C1CCC(C)CC1O", "ECFP4")
    camphor = _reference("CC1(C)C2CCC1(C)C(=O)C2", "ECFP4")
    return GoalDirectedTask(
        "Median molecules 1",
        lambda mol: _geometric(tanimoto(mol, menthol, "ECFP4"), tanimoto(mol, camphor, "ECFP4")),
    )


def _ring_counts() -> tuple[Callable[[Any], int], Callable[[Any], int]]:
    from rdkit.Chem import rdMolDescriptors

    return rdMolDescriptors.CalcNumAromaticRings, rdMolDescriptors.CalcNumRings


TASKS: Registry[Callable[[], GoalDirectedTask]] = Registry("GuacaMol task")
_SIMILARITY = {
    "Celecoxib rediscovery": (
        "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F",
        "ECFP4",
        1.0,
        True,
    ),
    "Troglitazone rediscovery": (
        "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O",
        "ECFP4",
        1.0,
        True,
    ),
    "Thiothixene rediscovery": (
        "CN(C)S(=O)(=O)c1ccc2Sc3ccccc3C(=CCCN4CCN(C)CC4)c2c1",
        "ECFP4",
        1.0,
        True,
    ),
    "Aripiprazole similarity": (
        "Clc4cccc(N3CCN(CCCCOc2ccc1c(NC(=O)CC1)c2)CC3)c4Cl",
        "ECFP4",
        0.75,
        False,
    ),
    "Albuterol similarity": ("CC(C)(C)NCC(O)c1ccc(O)c(CO)c1", "FCFP4", 0.75, False),
    "Mestranol similarity": (
        "COc1ccc2[C@H]3CC[C@@]4(C)[C@@H](CC[C@@]4(O)C#C)[C@@H]3CCc2c1",
        "AP",
        0.75,
        False,
    ),
}
for _name, (_smi, _fp, _t, _re) in _SIMILARITY.items():
    TASKS.add(_name, partial(similarity_task, _smi, _name.rsplit(" ", 1)[0], _fp, _t, _re))
TASKS.add("Osimertinib MPO", osimertinib_mpo)
TASKS.add("Fexofenadine MPO", fexofenadine_mpo)
TASKS.add("Median molecules 1", median_camphor_menthol)
TASKS.add(
    "Perindopril MPO",
    lambda: ring_mpo(
        "Perindopril MPO", "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC", _ring_counts()[0], 2
    ),
)
TASKS.add(
    "Amlodipine MPO",
    lambda: ring_mpo(
        "Amlodipine MPO",
        r"Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\C(=O)OC",
        _ring_counts()[1],
        3,
    ),
)


@cache
def goal_directed_task(name: str) -> GoalDirectedTask:
    """The GuacaMol task called ``name`` (case-insensitive), e.g. ``"Osimertinib MPO"``.

    Raises
    ------
    ConfigError
        An unknown name (the message lists the known ones).
    """
    return TASKS.get(name)()


def benchmark_score(scores: Sequence[float], top_counts: Sequence[int] = (1, 10, 100)) -> float:
    """GuacaMol's ``compute_global_score``: the mean over ``top_counts`` of the top-x averages.

    Parameters
    ----------
    scores : sequence of float
        One score per distinct molecule; a list shorter than ``max(top_counts)`` is padded with
        zeros, as GuacaMol's ``assess_model`` does.
    """
    ranked = sorted(scores, reverse=True)
    ranked += [0.0] * max(0, max(top_counts) - len(ranked))
    return float(np.mean([sum(ranked[:k]) / k for k in top_counts]))


__all__ = [
    "CORRUPT_SCORE",
    "TASKS",
    "GoalDirectedTask",
    "benchmark_score",
    "goal_directed_task",
    "similarity_task",
]
