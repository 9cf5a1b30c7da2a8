"""Fixed samples on which the MOSES metrics are checked against molsets (no precisionmed import).

Drawn deterministically from the MOSES files of the data mirror, never stored in the repo.
:func:`fixed_sample` (1,000 SMILES, scored against MOSES's own Test/TestSF statistics and Train):
850 Test SMILES (every 200th row), 100 Train SMILES (every 15,000th row: not novel), the first
30 of the Test part again (duplicates), 19 Test SMILES made invalid by an unclosed branch
(rows 170,000 + 200 i, with ``(`` appended) and one empty string. :func:`small_sample`: the same
recipe at 200 SMILES (170 / 20 / 6 / 3 / 1), scored against small reference lists (every
1,000th row of Test from row 100, every 1,000th of TestSF, every 15,000th of Train).
``benchmarks/dev/chem_reference_values.py`` runs molsets on both in a throwaway environment.
"""

from __future__ import annotations

import gzip
from pathlib import Path


def read_moses_smiles(path: Path) -> list[str]:
    """The SMILES column of a MOSES ``*.csv.gz`` (header ``SMILES``)."""
    with gzip.open(path, "rt") as fh:
        lines = fh.read().split()
    return lines[1:] if lines and lines[0].upper() == "SMILES" else lines


def _sample(test: list[str], train: list[str], sizes: tuple[int, int, int, int]) -> list[str]:
    n_test, n_train, n_dup, n_invalid = sizes
    part = test[::200][:n_test]
    invalid = [test[170_000 + 200 * i] + "(" for i in range(n_invalid)]
    return part + train[::15_000][:n_train] + part[:n_dup] + invalid + [""]


def fixed_sample(moses_dir: Path) -> list[str]:
    """The 1,000 SMILES of the full reference sample (see the module docstring)."""
    test = read_moses_smiles(moses_dir / "test.csv.gz")
    train = read_moses_smiles(moses_dir / "train.csv.gz")
    return _sample(test, train, (850, 100, 30, 19))


def small_sample(moses_dir: Path) -> dict[str, list[str]]:
    """``gen`` (200 SMILES) and its reference lists ``test``, ``test_scaffolds``, ``train``."""
    test = read_moses_smiles(moses_dir / "test.csv.gz")
    scaffolds = read_moses_smiles(moses_dir / "test_scaffolds.csv.gz")
    train = read_moses_smiles(moses_dir / "train.csv.gz")
    return {
        "gen": _sample(test, train, (170, 20, 6, 3)),
        "test": test[100::1000],
        "test_scaffolds": scaffolds[::1000],
        "train": train[::15_000],
    }
