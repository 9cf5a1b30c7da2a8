"""Molecules: MoleculeNet property sets and the Davis kinase-affinity set.

Registered here:

* eight MoleculeNet sets (Wu et al. 2018) as curated by chemprop (Yang et al. 2019) and shipped
  in its repository's ``data/`` folder (first column SMILES, then one column per task, empty
  cells for missing labels): ``bbbp``, ``bace``, ``hiv`` (classification), ``tox21``,
  ``toxcast``, ``sider`` (multi-task classification with missing labels), ``esol`` (chemprop's
  ``delaney.csv``: log solubility in mol/L) and ``freesolv`` (hydration free energy, kcal/mol).
  The canonical URL of each file is chemprop's repository pinned to a commit: those are the bytes
  whose sha256 is recorded. DeepChem's S3 copies (``deepchem.io.s3-website-us-west-1
  .amazonaws.com/datasets/BBBP.csv`` ...) are the same molecules in other files (other columns,
  names and indices), so they do not match these checksums; chemprop's are the files its
  published figures, which our benchmarks compare against, were computed on.
* ``davis``: 68 kinase inhibitors x 442 kinases, Kd in nM (Davis et al. 2011), with DeepDTA's
  setting-1 folds (five training folds and one test fold, indices into the row-major list of
  drug-protein pairs), from DeepDTA's repository (Öztürk et al. 2018).

Loaders return a :class:`MoleculeData` (property sets) or an :class:`AffinityData` (Davis).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.data.catalog import DataFile, DatasetSpec, register_dataset
from precisionmed.errors import DataFormatError

CHEMPROP_COMMIT = "a68ade20f227862fe6265c46f021c78217a324ab"
CHEMPROP_RAW = f"https://raw.githubusercontent.com/chemprop/chemprop/{CHEMPROP_COMMIT}/data"
DEEPDTA_COMMIT = "a546a8433a6822e958f36171c4356ad6f414d623"
DEEPDTA_RAW = f"https://raw.githubusercontent.com/hkmztrk/DeepDTA/{DEEPDTA_COMMIT}/data/davis"
ROOT = "molecules/moleculenet"
DAVIS_ROOT = "molecules/dta_davis"
DAVIS_KD = "drug-target_interaction_affinities_Kd__Davis_et_al.2011v1.txt"

MOLECULENET_CITATION = (
    "Wu Z, Ramsundar B, Feinberg EN, et al. MoleculeNet: a benchmark for molecular machine "
    "learning. Chemical Science 9, 513-530 (2018); files as curated in Yang K, Swanson K, Jin W, "
    "et al. Analyzing Learned Molecular Representations for Property Prediction. J Chem Inf "
    "Model 59(8), 3370-3388 (2019) (chemprop)."
)
DAVIS_CITATION = (
    "Davis MI, Hunt JP, Herrgard S, et al. Comprehensive analysis of kinase inhibitor "
    "selectivity. Nature Biotechnology 29, 1046-1051 (2011); folds from Öztürk H, Özgür A, "
    "Ozkirimli E. DeepDTA: deep drug-target binding affinity prediction. Bioinformatics 34(17), "
    "i821-i829 (2018)."
)


@dataclass
class MoleculeData:
    """A molecular property set: SMILES and one column of targets per task.

    Attributes
    ----------
    name : str
        Dataset name (the file's stem for a user's CSV).
    smiles : list of str
        As given in the file (not yet standardised).
    targets : ndarray of shape (n_molecules, n_tasks), float64
        NaN where a label is missing.
    target_names : list of str
    task : {"classification", "regression"}
        Classification targets are 0/1 (one binary task per column).
    units : str
        Units of regression targets ("" when unitless or classification).
    recommended_split : str
        MoleculeNet's split for the set (``"scaffold"`` or ``"random"``).
    source : str
        Where the rows came from (catalog name or file path).
    """

    name: str
    smiles: list[str]
    targets: np.ndarray
    target_names: list[str]
    task: str
    units: str = ""
    recommended_split: str = "random"
    source: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.targets = np.asarray(self.targets, dtype=float).reshape(len(self.smiles), -1)
        if self.targets.shape[1] != len(self.target_names):
            raise DataFormatError(
                f"{self.name}: {self.targets.shape[1]} target columns but "
                f"{len(self.target_names)} target names."
            )
        if self.task not in ("classification", "regression"):
            raise DataFormatError(
                f"{self.name}: task must be 'classification' or 'regression'; got {self.task!r}."
            )

    @property
    def n_molecules(self) -> int:
        return len(self.smiles)


@dataclass
class AffinityData:
    """A drug-target affinity set laid out as DeepDTA's folders.

    Attributes
    ----------
    drugs : dict of str to str
        Drug identifier (PubChem CID) -> canonical SMILES, in the rows' order.
    proteins : dict of str to str
        Protein name -> amino-acid sequence, in the columns' order.
    affinity : ndarray of shape (n_drugs, n_proteins)
        Kd in nM (NaN where not measured).
    train_folds : list of int ndarrays
        Setting 1: five folds of indices into :attr:`pairs`.
    test_fold : int ndarray
        Indices into :attr:`pairs` of the held-out test pairs.
    """

    name: str
    drugs: dict[str, str]
    proteins: dict[str, str]
    affinity: np.ndarray
    train_folds: list[np.ndarray]
    test_fold: np.ndarray

    @property
    def pkd(self) -> np.ndarray:
        """``-log10(Kd / 1e9)``: the affinity as DeepDTA models it (Kd in nM -> pKd)."""
        return -np.log10(self.affinity / 1e9)

    @property
    def pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(drug row, protein column) of every measured pair, row-major (DeepDTA's order)."""
        rows, cols = np.where(~np.isnan(self.affinity))
        return rows, cols


def read_molecule_table(
    path: Path,
    *,
    name: str,
    smiles_column: str | None = None,
    target_columns: list[str] | None = None,
) -> tuple[list[str], np.ndarray, list[str]]:
    """Read a CSV (optionally gzipped) of SMILES and target columns.

    Parameters
    ----------
    path : Path
    name : str
        For messages.
    smiles_column : str, optional
        Default: the first column.
    target_columns : list of str, optional
        Default: every other column.

    Returns
    -------
    (smiles, targets, target_names)
        SMILES as text (empty for an empty cell), targets as float (NaN where empty).

    Raises
    ------
    DataFormatError
        A named column is absent, or a target cell is not a number (row and column named).
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: cannot read as CSV ({exc}).") from exc
    columns = list(frame.columns)
    smiles_column = smiles_column or (columns[0] if columns else None)
    if smiles_column not in columns:
        raise DataFormatError(
            f"{path}: no SMILES column {smiles_column!r}; the columns are {columns}."
        )
    targets = target_columns or [c for c in columns if c != smiles_column]
    missing = [c for c in targets if c not in columns]
    if missing or not targets:
        raise DataFormatError(
            f"{path}: target columns {missing or targets} not found; the columns are {columns}."
        )
    values = np.full((len(frame), len(targets)), np.nan)
    for j, column in enumerate(targets):
        cells = frame[column].str.strip()
        numeric = pd.to_numeric(cells.where(cells != ""), errors="coerce")
        bad = numeric.isna() & (cells != "")
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataFormatError(
                f"{path}: row {row + 2} (line {row + 2}), column {column!r}: expected a number "
                f"or an empty cell; got {cells.iloc[row]!r}."
            )
        values[:, j] = numeric.to_numpy(dtype=float)
    return frame[smiles_column].tolist(), values, list(targets)


def _moleculenet_loader(name: str, file: str, task: str, units: str, split: str) -> Any:
    def load(paths: dict[str, Path]) -> MoleculeData:
        path = paths[f"{ROOT}/{file}"]
        smiles, targets, names = read_molecule_table(path, name=name)
        return MoleculeData(
            name=name, smiles=smiles, targets=targets, target_names=names, task=task,
            units=units, recommended_split=split, source=f"catalog:{name}",
        )  # fmt: skip

    return load


# name, file, sha256, size, task, units, MoleculeNet split, description
_MOLECULENET = [
    ("bbbp", "bbbp.csv", "a61e17872cbec0743a6147dc802a1f7550acfe8dc1053f881f4c42a3ce2dc597",
     111265, "classification", "", "scaffold",
     "Blood-brain barrier penetration (2,039 compounds, 1 = penetrates)."),
    ("bace", "bace.csv", "847be1e38d3798c60df03e1aaf2ccd0f09f9ed89407de78e80463aa637088532",
     103228, "classification", "", "scaffold",
     "BACE-1 inhibitors (1,513 compounds, 1 = IC50 below 100 nM)."),
    ("hiv", "hiv.csv.gz", "0a4a7390d6f22035c293e8e0d500655d76233b35f0f68ab128f3ceccdd97a297",
     415719, "classification", "", "scaffold",
     "DTP AIDS antiviral screen (41,127 compounds, 1 = confirmed (moderately) active)."),
    ("tox21", "tox21.csv", "b58cc1f683e78e3c7a1bf7116e9aac0119804018d100f7b8cdb0857941c31aca",
     458635, "classification", "", "random",
     "Tox21 challenge: 12 nuclear-receptor and stress-response assays, 7,831 compounds, "
     "labels missing where untested."),
    ("toxcast", "toxcast.csv.gz",
     "4b9b4366b02ce7ec7a0831d60f8c46f153c53c5e122376df887476240496abd4", 403733,
     "classification", "", "random",
     "ToxCast: 617 high-throughput assays, 8,576 compounds, labels missing where untested."),
    ("sider", "sider.csv", "71efc6ac4ca82d6545bc512509863281be0f17234afd7adaf71a71899988302e",
     183743, "classification", "", "random",
     "SIDER: marketed drugs' side effects in 27 system organ classes (1,427 drugs)."),
    ("esol", "delaney.csv", "887aa5930b0a7e7fcb76a2d25dc0ebe11c23878ca2d8d1e2204ca2c46b175140",
     33966, "regression", "log10(mol/L)", "random",
     "ESOL (Delaney): aqueous solubility of 1,128 compounds, log10 mol/L."),
    ("freesolv", "freesolv.csv",
     "97d74c86228d4c16c0fbbf063bb8280354d8152db09a85ade8517a2f43bd9824", 14210,
     "regression", "kcal/mol", "random",
     "FreeSolv: experimental hydration free energy of 642 small molecules, kcal/mol."),
]  # fmt: skip

for _name, _file, _sha, _size, _task, _units, _split, _what in _MOLECULENET:
    register_dataset(
        DatasetSpec(
            name=_name,
            modality="molecule",
            task="binary-class" if _task == "classification" else "regression",
            files=(
                DataFile(f"{ROOT}/{_file}", f"{CHEMPROP_RAW}/{_file}", f"sha256:{_sha}", _size),
            ),
            license="MIT (chemprop's curation) / public sources (MoleculeNet)",
            citation=MOLECULENET_CITATION,
            loader=_moleculenet_loader(_name, _file, _task, _units, _split),
            description=_what,
            extra="chem",
            metadata={"recommended_split": _split, "units": _units, "requires": ("rdkit",)},
        )
    )


def _read_json(path: Path) -> dict[str, str]:
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataFormatError(f"{path}: not a JSON object of name -> string ({exc}).") from exc
    if not isinstance(value, dict):
        raise DataFormatError(f"{path}: expected a JSON object; got {type(value).__name__}.")
    return value


def load_davis(paths: dict[str, Path]) -> AffinityData:
    """Davis: SMILES, kinase sequences, the Kd matrix (nM) and DeepDTA's setting-1 folds."""
    drugs = _read_json(paths[f"{DAVIS_ROOT}/ligands_can.txt"])
    proteins = _read_json(paths[f"{DAVIS_ROOT}/proteins.txt"])
    kd_path = paths[f"{DAVIS_ROOT}/{DAVIS_KD}"]
    affinity = np.loadtxt(kd_path)
    if affinity.shape != (len(drugs), len(proteins)):
        raise DataFormatError(
            f"{kd_path}: expected a {len(drugs)} x {len(proteins)} matrix (drugs x proteins); "
            f"got {affinity.shape}."
        )
    train = json.loads(paths[f"{DAVIS_ROOT}/folds/train_fold_setting1.txt"].read_text())
    test = json.loads(paths[f"{DAVIS_ROOT}/folds/test_fold_setting1.txt"].read_text())
    return AffinityData(
        name="davis",
        drugs=drugs,
        proteins=proteins,
        affinity=affinity,
        train_folds=[np.asarray(f, dtype=int) for f in train],
        test_fold=np.asarray(test, dtype=int),
    )


_DAVIS_FILES = [
    ("ligands_can.txt", "141094d99510a52091d2ea1b05be7c1f66b2c5fcaeeeb261eaf4cbf2128bde6d", 5306),
    ("proteins.txt", "187cedeee10cd3b58af915a2861a5ed0c4ff42a2d728f4dea5e0b47e3d75b291", 355211),
    (DAVIS_KD, "e2c3d003d49aff61f70be24feafd8d084b0df9404d919338088855828e252d88", 164306),
    ("folds/train_fold_setting1.txt",
     "bb7a63b2178c40a4e2417bc701b95511407787fa5eabb6a43a695fe6bd722f56", 166040),
    ("folds/test_fold_setting1.txt",
     "c97589fa2fae318b01870854af0ab6fdd155dd38524cc6ac1d0319418ac6d568", 33252),
]  # fmt: skip

register_dataset(
    DatasetSpec(
        name="davis",
        modality="molecule",
        task="drug-target-affinity",
        files=tuple(
            DataFile(f"{DAVIS_ROOT}/{f}", f"{DEEPDTA_RAW}/{f}", f"sha256:{sha}", size)
            for f, sha, size in _DAVIS_FILES
        ),
        license="research use; cite Davis et al. 2011 and DeepDTA",
        citation=DAVIS_CITATION,
        loader=load_davis,
        description="Kinase inhibitor affinities: 68 drugs x 442 kinases (30,056 Kd values, nM), "
        "DeepDTA setting-1 folds (5 training folds of 5,009-5,010 pairs, 5,010 test pairs).",
        metadata={"drugs": 68, "proteins": 442},
    )
)

__all__ = [
    "AffinityData",
    "MoleculeData",
    "load_davis",
    "read_molecule_table",
]
