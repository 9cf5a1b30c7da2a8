"""Train/validation/test splits of molecules: random, stratified and Bemis-Murcko scaffold.

Random and stratified splits are :func:`precisionmed.data.train_val_test_indices`. The scaffold
split is chemprop's *balanced* scaffold split (``chemprop.data.scaffold_split`` with
``balanced=True``, Yang et al. 2019), seeded: molecules are grouped by their Bemis-Murcko
scaffold (RDKit ``MurckoScaffoldSmiles``, chirality ignored; acyclic molecules share the empty
scaffold); scaffold sets larger than half the validation or test size go first, in a seeded
random order, then the smaller sets, shuffled by the same seed; each set goes whole into
train while it fits, else into validation while it fits, else into test. No scaffold is ever in
two parts, and the big sets land in train, so validation and test hold scaffolds the model has
not seen (DeepChem's deterministic variant, biggest sets first, is the same without the shuffle).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from precisionmed.data.splits import train_val_test_indices
from precisionmed.errors import ConfigError

SPLITS = ("random", "stratified", "scaffold")


def murcko_scaffold(mol: Any) -> str:
    """The Bemis-Murcko scaffold SMILES of ``mol`` (``""`` for a molecule without a ring)."""
    from rdkit.Chem.Scaffolds import MurckoScaffold

    return MurckoScaffold.MurckoScaffoldSmiles(mol=mol, includeChirality=False)


def scaffold_sets(mols: Sequence[Any]) -> dict[str, list[int]]:
    """Indices of ``mols`` grouped by scaffold, in order of first appearance."""
    from rdkit import rdBase

    groups: dict[str, list[int]] = defaultdict(list)
    with rdBase.BlockLogs():  # RDKit's notes on stray hydrogens are not the user's concern here
        for i, mol in enumerate(mols):
            groups[murcko_scaffold(mol)].append(i)
    return dict(groups)


def scaffold_split_indices(
    mols: Sequence[Any],
    *,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """chemprop's balanced Bemis-Murcko scaffold split (see the module docstring).

    Parameters
    ----------
    mols : sequence of rdkit.Chem.Mol
    val_fraction, test_fraction : float
        Target fractions; sizes are approximate because scaffold sets are never divided.
    seed : int

    Returns
    -------
    train, val, test : int arrays
        Sorted, disjoint, covering ``range(len(mols))``.
    """
    n = len(mols)
    _check(n, val_fraction, test_fraction)
    val_size = int(round(val_fraction * n))
    test_size = int(round(test_fraction * n))
    train_size = n - val_size - test_size
    sets = list(scaffold_sets(mols).values())
    big = [s for s in sets if len(s) > val_size / 2 or len(s) > test_size / 2]
    small = [s for s in sets if not (len(s) > val_size / 2 or len(s) > test_size / 2)]
    rng = np.random.default_rng(seed)
    order = [big[i] for i in rng.permutation(len(big))] + [
        small[i] for i in rng.permutation(len(small))
    ]
    train: list[int] = []
    val: list[int] = []
    test: list[int] = []
    for group in order:
        if len(train) + len(group) <= train_size:
            train += group
        elif len(val) + len(group) <= val_size:
            val += group
        else:
            test += group

    def part(indices: list[int]) -> np.ndarray:
        return np.sort(np.array(indices, dtype=int))

    return part(train), part(val), part(test)


def _check(n: int, val_fraction: float, test_fraction: float) -> None:
    if n < 3:
        raise ConfigError(f"Cannot split {n} molecules into train, validation and test.")
    for name, value in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < value < 1.0:
            raise ConfigError(f"The '{name}' parameter must be in (0, 1). Got {value!r} instead.")
    if val_fraction + test_fraction >= 1.0:
        raise ConfigError(
            f"val_fraction + test_fraction must be below 1. Got {val_fraction} + {test_fraction}."
        )


def split_molecules(
    method: str,
    mols: Sequence[Any],
    targets: np.ndarray,
    *,
    task: str,
    val_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split molecules by ``method``: ``"random"``, ``"stratified"`` or ``"scaffold"``.

    Parameters
    ----------
    method : str
    mols : sequence of rdkit.Chem.Mol
    targets : ndarray of shape (n, n_tasks)
        NaN where missing. ``"stratified"`` keeps the proportions of the first task's classes
        (a missing label counts as a class of its own), so it needs a classification task.
    task : {"classification", "regression"}
    val_fraction, test_fraction : float
    seed : int

    Returns
    -------
    train, val, test : int arrays

    Raises
    ------
    ConfigError
        An unknown method, or ``"stratified"`` for a regression task.
    """
    if method not in SPLITS:
        raise ConfigError(f"Unknown split {method!r}; expected one of {', '.join(SPLITS)}.")
    if method == "scaffold":
        return scaffold_split_indices(
            mols, val_fraction=val_fraction, test_fraction=test_fraction, seed=seed
        )
    _check(len(mols), val_fraction, test_fraction)
    stratify = None
    if method == "stratified":
        if task != "classification":
            raise ConfigError(
                "--split stratified keeps class proportions and needs a classification task; "
                "this one is regression: use --split random or scaffold."
            )
        first = np.asarray(targets, dtype=float).reshape(len(mols), -1)[:, 0]
        stratify = np.where(np.isnan(first), -1, first).astype(int)
    return train_val_test_indices(
        len(mols),
        val_fraction=val_fraction,
        test_fraction=test_fraction,
        stratify=stratify,
        seed=seed,
    )


__all__ = [
    "SPLITS",
    "murcko_scaffold",
    "scaffold_sets",
    "scaffold_split_indices",
    "split_molecules",
]
