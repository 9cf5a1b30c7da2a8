"""Your own molecules: a CSV of SMILES and target columns as a :class:`MoleculeData`.

``precisionmed chem train-property --csv FILE --smiles-column S --target-columns A,B`` reads
it. The task is classification when every known target value is 0 or 1, else regression
(``task=`` overrides). Empty cells are missing labels (masked in training and evaluation).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from precisionmed.data.sources.molecules import MoleculeData, read_molecule_table
from precisionmed.errors import DataFormatError

TASKS = ("auto", "classification", "regression")


def load_molecule_csv(
    path: str | Path,
    *,
    smiles_column: str | None = None,
    target_columns: list[str] | None = None,
    task: str = "auto",
    units: str = "",
) -> MoleculeData:
    """Read a user's CSV of molecules.

    Parameters
    ----------
    path : str or Path
        CSV with a header row (``.csv`` or ``.csv.gz``).
    smiles_column : str, optional
        Default: the first column.
    target_columns : list of str, optional
        Default: every other column.
    task : {"auto", "classification", "regression"}
    units : str
        Units of regression targets, for plots and records.

    Raises
    ------
    DataFormatError
        A missing column, a non-numeric target cell, non-0/1 targets for classification, or
        no target value at all.
    """
    path = Path(path)
    if task not in TASKS:
        raise DataFormatError(f"--task must be one of {', '.join(TASKS)}; got {task!r}.")
    smiles, targets, names = read_molecule_table(
        path, name=path.stem, smiles_column=smiles_column, target_columns=target_columns
    )
    known = targets[~np.isnan(targets)]
    if not len(known):
        raise DataFormatError(f"{path}: the target columns {names} hold no value.")
    binary = bool(np.isin(known, (0.0, 1.0)).all())
    if task == "auto":
        task = "classification" if binary else "regression"
    elif task == "classification" and not binary:
        bad = known[~np.isin(known, (0.0, 1.0))][0]
        raise DataFormatError(
            f"{path}: classification targets must be 0 or 1 (one binary task per column); "
            f"got {bad!r}."
        )
    return MoleculeData(
        name=path.name.removesuffix(".gz").removesuffix(".csv"),
        smiles=smiles,
        targets=targets,
        target_names=names,
        task=task,
        units=units,
        recommended_split="random",
        source=str(path),
    )


__all__ = ["TASKS", "load_molecule_csv"]
