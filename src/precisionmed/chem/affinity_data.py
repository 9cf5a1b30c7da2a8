"""Drug-target affinity data: DeepDTA's folder layout, setting-1 splits, label encodings.

A folder laid out as DeepDTA's ``data/davis`` or ``data/kiba`` (Öztürk et al. 2018) is read by
:func:`read_affinity_dir`, so any published set in that layout trains with no code change::

    ligands_can.txt                 JSON object: drug id -> SMILES, in the rows' order
    proteins.txt                    JSON object: protein name -> sequence, in the columns' order
    Y                               the drugs x proteins affinity matrix (NaN: not measured):
                                    DeepDTA's pickled NumPy array, or Y.npy, or Y.txt (text)
    folds/train_fold_setting1.txt   JSON list of 5 lists of pair indices
    folds/test_fold_setting1.txt    JSON list of pair indices

Pair ``k`` is the ``k``-th measured entry of ``Y`` in row-major order (``np.where(~isnan(Y))``,
DeepDTA's indexing). Davis's Kd (nM) is modelled as ``pKd = -log10(Kd / 1e9)`` as in DeepDTA
(``affinity="kd-nm"``); KIBA's scores are used as they are (``affinity="as-is"``).

Setting 1 (:func:`setting1_split`): the test pairs are DeepDTA's test fold; the validation
pairs (early stopping, interval calibration) are one of the five training folds
(``val_fold``, 0 by default) and the other four are trained on. The test fold is never used
for anything but the final evaluation.
"""

from __future__ import annotations

import io
import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from precisionmed.data.sources.molecules import AffinityData
from precisionmed.errors import ConfigError, DataFormatError

#: DeepDTA's SMILES and protein alphabets (``CHARISOSMISET``, ``CHARPROTSET``); index 0 pads.
SMILES_ALPHABET = "#%)(+-/.1032547698=A@CBEDGFIHKMLONPSRUTWVY[Z]\\acbedgfihmlonsruty"
PROTEIN_ALPHABET = "ABCDEFGHIKLMNOPQRSTUVWXYZ"
#: DeepDTA's lengths for Davis (KIBA: 100 and 1000).
SMILES_MAX_LEN = 85
PROTEIN_MAX_LEN = 1000
AFFINITY_KINDS = ("kd-nm", "as-is")
_REQUIRED = ("ligands_can.txt", "proteins.txt", "folds/train_fold_setting1.txt",
             "folds/test_fold_setting1.txt")  # fmt: skip


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays only: DeepDTA ships ``Y`` as a pickle, and a pickle from an
    untrusted folder could otherwise run any code on load."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("copy_reg", "_reconstructor"),
        ("copyreg", "_reconstructor"),
        ("_codecs", "encode"),  # bytes in protocol-2 pickles written by Python 3
    }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (not a NumPy array)")
        return super().find_class(module, name)


def _read_matrix(root: Path) -> tuple[Path, np.ndarray]:
    for name in ("Y", "Y.npy", "Y.txt"):
        path = root / name
        if path.is_file():
            break
    else:
        raise DataFormatError(
            f"{root}: no affinity matrix; expected a file Y (DeepDTA's pickled array), Y.npy or "
            "Y.txt (drugs x proteins, NaN where not measured)."
        )
    raw = path.read_bytes()
    try:
        if raw.startswith(b"\x93NUMPY"):
            value = np.load(io.BytesIO(raw), allow_pickle=False)
        elif raw[:1] == b"\x80":  # a pickle (DeepDTA's Y is Python 2's, hence latin1)
            value = _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()
        else:
            value = np.loadtxt(io.StringIO(raw.decode("utf-8")))
    except (pickle.UnpicklingError, ValueError, EOFError, UnicodeDecodeError) as exc:
        raise DataFormatError(
            f"{path}: expected a NumPy array (pickle, .npy or whitespace text); {exc}."
        ) from exc
    matrix = np.asarray(value, dtype=float)
    if matrix.ndim != 2:
        raise DataFormatError(
            f"{path}: expected a 2-D drugs x proteins matrix; got shape {matrix.shape}."
        )
    return path, matrix


def _read_json(path: Path, kind: type, what: str) -> Any:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: expected {what} in JSON; {exc}.") from exc
    if not isinstance(value, kind) or not value:
        raise DataFormatError(f"{path}: expected {what} in JSON; got {type(value).__name__}.")
    return value


def read_affinity_dir(path: str | Path, *, name: str | None = None) -> AffinityData:
    """Read a drug-target affinity set laid out as DeepDTA's folders (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The folder.
    name : str, optional
        The set's name (default: the folder's name).

    Returns
    -------
    AffinityData
        ``affinity`` as stored in ``Y`` (Kd in nM for Davis, KIBA scores for KIBA).

    Raises
    ------
    DataFormatError
        A file is missing or not what DeepDTA's layout has (the file and what was expected
        are named), the matrix does not match the drugs and proteins, or a fold index is not
        a measured pair.
    """
    root = Path(path)
    if not root.is_dir():
        raise DataFormatError(f"{root}: not a folder; expected DeepDTA's layout ({_REQUIRED}).")
    for rel in _REQUIRED:
        if not (root / rel).is_file():
            raise DataFormatError(f"{root / rel}: missing; a DeepDTA folder has {_REQUIRED}.")
    drugs = _read_json(root / "ligands_can.txt", dict, "an object of drug id -> SMILES")
    proteins = _read_json(root / "proteins.txt", dict, "an object of protein name -> sequence")
    for file, table in (("ligands_can.txt", drugs), ("proteins.txt", proteins)):
        bad = next((k for k, v in table.items() if not isinstance(v, str) or not v.strip()), None)
        if bad is not None:
            raise DataFormatError(f"{root / file}: entry {bad!r}: expected a non-empty string.")
    y_path, matrix = _read_matrix(root)
    if matrix.shape != (len(drugs), len(proteins)):
        raise DataFormatError(
            f"{y_path}: expected a {len(drugs)} x {len(proteins)} matrix (drugs of "
            f"ligands_can.txt x proteins of proteins.txt); got {matrix.shape[0]} x "
            f"{matrix.shape[1]}."
        )
    n_pairs = int((~np.isnan(matrix)).sum())
    train_path = root / "folds/train_fold_setting1.txt"
    train = _read_json(train_path, list, "a list of 5 lists of pair indices")
    test = _read_json(root / "folds/test_fold_setting1.txt", list, "a list of pair indices")
    folds = []
    for k, fold in enumerate([*train, test]):
        where = train_path if k < len(train) else root / "folds/test_fold_setting1.txt"
        if not isinstance(fold, list) or not all(isinstance(i, int) for i in fold):
            what = f"fold {k}" if k < len(train) else "the test fold"
            raise DataFormatError(f"{where}: {what}: expected a list of integer pair indices.")
        arr = np.asarray(fold, dtype=int)
        if len(arr) and (arr.min() < 0 or arr.max() >= n_pairs):
            raise DataFormatError(
                f"{where}: pair index {int(arr.max() if arr.max() >= n_pairs else arr.min())} "
                f"out of range; Y has {n_pairs} measured pairs (indices 0..{n_pairs - 1})."
            )
        folds.append(arr)
    return AffinityData(
        name=name or root.name,
        drugs={str(k): str(v) for k, v in drugs.items()},
        proteins={str(k): str(v) for k, v in proteins.items()},
        affinity=matrix,
        train_folds=folds[:-1],
        test_fold=folds[-1],
    )


@dataclass
class AffinityPairs:
    """The measured pairs of a set as arrays (pair ``k`` is DeepDTA's pair index ``k``).

    Attributes
    ----------
    drug, protein : int ndarrays of shape (n_pairs,)
        Row (drug) and column (protein) of each pair.
    y : float ndarray of shape (n_pairs,)
        The modelled affinity (pKd for ``kd-nm``).
    """

    drug: np.ndarray
    protein: np.ndarray
    y: np.ndarray


def affinity_pairs(data: AffinityData, affinity: str = "kd-nm") -> AffinityPairs:
    """Every measured pair and its modelled affinity.

    Parameters
    ----------
    data : AffinityData
    affinity : {"kd-nm", "as-is"}
        ``kd-nm``: ``Y`` holds Kd (or Ki) in nM, modelled as ``pKd = -log10(Kd / 1e9)``
        (DeepDTA's Davis); ``as-is``: ``Y`` is modelled unchanged (KIBA scores).

    Raises
    ------
    ConfigError
        Unknown ``affinity``; DataFormatError: a Kd that is not > 0.
    """
    if affinity not in AFFINITY_KINDS:
        raise ConfigError(f"affinity must be one of {AFFINITY_KINDS}; got {affinity!r}.")
    rows, cols = data.pairs
    values = data.affinity[rows, cols]
    if affinity == "kd-nm":
        if (values <= 0).any():
            raise DataFormatError(
                f"{data.name}: Kd values must be > 0 nM for --affinity kd-nm; got "
                f"{values.min()} (use --affinity as-is for scores such as KIBA's)."
            )
        values = -np.log10(values / 1e9)
    return AffinityPairs(rows, cols, values)


def setting1_split(
    data: AffinityData, *, val_fold: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training, validation and test pair indices of DeepDTA's setting 1.

    Parameters
    ----------
    data : AffinityData
    val_fold : int
        Which of the training folds validates (early stopping, interval calibration).

    Returns
    -------
    (train, val, test)
        Pair indices: the other training folds, fold ``val_fold``, DeepDTA's test fold.
    """
    n = len(data.train_folds)
    if not 0 <= val_fold < n:
        raise ConfigError(f"val_fold must be in 0..{n - 1} (a training fold); got {val_fold}.")
    train = np.concatenate([f for k, f in enumerate(data.train_folds) if k != val_fold])
    return train, data.train_folds[val_fold], data.test_fold


def label_encode(text: str, alphabet: str, max_len: int) -> np.ndarray:
    """DeepDTA's label encoding: 1-based alphabet positions, truncated or 0-padded to
    ``max_len`` (int64 array). Characters outside the alphabet become 0 (padding)."""
    lookup = {c: i + 1 for i, c in enumerate(alphabet)}
    codes = [lookup.get(c, 0) for c in text[:max_len]]
    out = np.zeros(max_len, dtype=np.int64)
    out[: len(codes)] = codes
    return out


def check_protein(sequence: str, where: str) -> str:
    """The sequence upper-cased and stripped of white space, checked against the alphabet.

    Raises
    ------
    DataFormatError
        Empty, or with characters that are not amino-acid letters (``where`` names the input).
    """
    seq = "".join(sequence.split()).upper()
    bad = sorted(set(seq) - set(PROTEIN_ALPHABET))
    if not seq or bad:
        got = "an empty sequence" if not seq else f"the characters {''.join(bad)!r}"
        raise DataFormatError(
            f"{where}: expected a protein sequence of one-letter amino-acid codes; got {got}."
        )
    return seq


def read_protein(value: str | Path) -> tuple[str, str]:
    """A protein from a FASTA file (one record) or a raw one-letter sequence.

    Returns
    -------
    (name, sequence)
        The FASTA header's first word (``"sequence"`` for a raw one).

    Raises
    ------
    DataFormatError
        A FASTA file with no or several records, or a sequence with non-amino-acid letters.
    """
    path = Path(str(value))
    text = str(value)
    try:
        is_file = path.is_file()
    except OSError:  # a long sequence is not a valid file name
        is_file = False
    if is_file:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        headers = [i for i, line in enumerate(lines) if line.startswith(">")]
        if len(headers) != 1:
            raise DataFormatError(
                f"{path}: expected a FASTA file with one record ('>name' then the sequence); "
                f"got {len(headers)} records."
            )
        name = (lines[headers[0]][1:].split() or ["protein"])[0]
        seq = "".join(line.strip() for line in lines[headers[0] + 1 :])
        return name, check_protein(seq, str(path))
    return "sequence", check_protein(text, "--protein")


__all__ = [
    "AFFINITY_KINDS",
    "PROTEIN_ALPHABET",
    "PROTEIN_MAX_LEN",
    "SMILES_ALPHABET",
    "SMILES_MAX_LEN",
    "AffinityPairs",
    "affinity_pairs",
    "check_protein",
    "label_encode",
    "read_affinity_dir",
    "read_protein",
    "setting1_split",
]
