"""Clinical cohorts: survival (prognosis) and binary disease-risk tables.

Registered here:

* the cohorts scikit-survival ships (``gbsg2``, ``whas500``, ``veteran``, ``flchain``,
  ``actg320``, and ``gse7390``: the breast-cancer gene-expression cohort with 76 genes); they are
  installed with the ``clinical`` extra and need no files;
* scikit-learn's ``breast-cancer-wisconsin`` diagnostic set (binary: 1 = malignant);
* DeepSurv's published train/test cohorts (``deepsurv-metabric``, ``deepsurv-gbsg``
  (Rotterdam training, GBSG test) and ``deepsurv-whas``), the HDF5 files of Katzman et al.'s
  repository (groups ``train`` / ``test`` with ``x``, ``t``, ``e``), checksummed.

Every loader returns a :class:`ClinicalData`: features as a pandas DataFrame with their types,
and for survival the ``(event, time)`` structured array scikit-survival's estimators take.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from precisionmed.data.catalog import DataFile, DatasetSpec, register_dataset
from precisionmed.errors import DataFormatError

if TYPE_CHECKING:  # pandas is imported by the loaders only, so `data list` stays fast.
    import pandas as pd

DEEPSURV_COMMIT = "41eed003e5b892c81e7855e400861fa7a2d9da4f"
DEEPSURV_RAW = f"https://raw.githubusercontent.com/jaredleekatzman/DeepSurv/{DEEPSURV_COMMIT}"
SURVIVAL_DTYPE = np.dtype([("event", "?"), ("time", "<f8")])

SKSURV_CITATION = (
    "Pölsterl S. scikit-survival: A Library for Time-to-Event Analysis Built on Top of "
    "scikit-learn. JMLR 21(212):1-6, 2020."
)
DEEPSURV_CITATION = (
    "Katzman JL, Shaham U, Cloninger A, Bates J, Jiang T, Kluger Y. DeepSurv: personalized "
    "treatment recommender system using a Cox proportional hazards deep neural network. "
    "BMC Medical Research Methodology 18, 24 (2018)."
)


@dataclass
class ClinicalData:
    """A loaded clinical cohort.

    Attributes
    ----------
    name : str
        Registered dataset name.
    X : pandas.DataFrame of shape (n_patients, n_features)
        Features; categorical columns have pandas ``category`` dtype and may hold NaN.
    y : ndarray of shape (n_patients,)
        Survival: structured array with fields ``event`` (bool) and ``time`` (float, in
        ``time_unit``). Binary classification: int64 0/1.
    feature_types : dict
        ``column -> "numeric" | "categorical"``, in column order.
    task : str
        ``"survival"`` or ``"binary-class"``.
    time_unit : str or None
        ``"days"``, ``"months"``; None for classification.
    splits : dict
        Published splits as row indices into ``X``: ``{"train": idx, "test": idx}`` for
        DeepSurv's cohorts; empty where the publisher defines none.
    target_names : list of str
        For classification, the names of class 0 and class 1.
    description : str
        What the rows and the endpoint are.
    """

    name: str
    X: pd.DataFrame
    y: np.ndarray
    feature_types: dict[str, str]
    task: str
    time_unit: str | None = None
    splits: dict[str, np.ndarray] = field(default_factory=dict)
    target_names: list[str] = field(default_factory=list)
    description: str = ""

    def __post_init__(self) -> None:
        if list(self.feature_types) != list(self.X.columns):
            raise DataFormatError(
                f"{self.name}: feature_types must list the columns of X in order; "
                f"got {list(self.feature_types)} for columns {list(self.X.columns)}."
            )
        if len(self.X) != len(self.y):
            raise DataFormatError(
                f"{self.name}: X has {len(self.X)} rows but y has {len(self.y)} entries."
            )

    @property
    def n_samples(self) -> int:
        return len(self.X)

    def split(self, name: str) -> tuple[pd.DataFrame, np.ndarray]:
        """``(X, y)`` of a published split (``"train"`` or ``"test"``)."""
        if name not in self.splits:
            raise DataFormatError(
                f"{self.name} has no published split {name!r}; it has "
                f"{sorted(self.splits) or 'none (use k-fold cross-validation)'}."
            )
        idx = self.splits[name]
        return self.X.iloc[idx].reset_index(drop=True), self.y[idx]


def survival_array(event: Any, time: Any) -> np.ndarray:
    """The ``(event, time)`` structured array scikit-survival's estimators take.

    Parameters
    ----------
    event : array-like of shape (n,)
        1/True where the event was observed, 0/False where the time is censored.
    time : array-like of shape (n,)
        Event or censoring time.
    """
    y = np.empty(len(event), dtype=SURVIVAL_DTYPE)
    y["event"] = np.asarray(event).astype(bool)
    y["time"] = np.asarray(time, dtype=float)
    return y


def _types(X: pd.DataFrame) -> dict[str, str]:
    from pandas import CategoricalDtype

    return {
        c: "categorical"
        if isinstance(X[c].dtype, CategoricalDtype) or X[c].dtype == object
        else "numeric"
        for c in X.columns
    }


def _from_sksurv(
    name: str, loader: str, time_unit: str, description: str, **kwargs: Any
) -> ClinicalData:
    from sksurv import datasets

    X, y = getattr(datasets, loader)(**kwargs)
    event_field, time_field = y.dtype.names
    X = X.reset_index(drop=True)
    return ClinicalData(
        name=name,
        X=X,
        y=survival_array(y[event_field], y[time_field]),
        feature_types=_types(X),
        task="survival",
        time_unit=time_unit,
        description=description,
    )


def load_breast_cancer_wisconsin() -> ClinicalData:
    """scikit-learn's Wisconsin diagnostic breast-cancer set; y = 1 for malignant."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    X = bunch.data.reset_index(drop=True)
    # scikit-learn codes 0 = malignant, 1 = benign; the disease is the positive class here.
    y = (bunch.target.to_numpy() == 0).astype(np.int64)
    return ClinicalData(
        name="breast-cancer-wisconsin",
        X=X,
        y=y,
        feature_types=_types(X),
        task="binary-class",
        target_names=["benign", "malignant"],
        description="569 fine-needle aspirates, 30 nuclear features; 1 = malignant.",
    )


def read_deepsurv_h5(path: Path, name: str, columns: list[str], time_unit: str) -> ClinicalData:
    """Read one of DeepSurv's HDF5 cohorts (``train``/``test`` groups with ``x``, ``t``, ``e``).

    Train rows come first, then test rows; ``splits`` holds their indices.
    """
    import h5py

    parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    try:
        with h5py.File(path, "r") as h5:
            for group in ("train", "test"):
                if group not in h5 or any(k not in h5[group] for k in ("x", "t", "e")):
                    raise DataFormatError(
                        f"{path}: expected groups 'train' and 'test' each with datasets "
                        f"'x', 't', 'e'; found {sorted(h5)}."
                    )
                g = h5[group]
                parts[group] = (g["x"][:], g["t"][:], g["e"][:])
    except OSError as exc:
        raise DataFormatError(f"{path}: not a readable HDF5 file ({exc})") from exc
    for group, (x, t, e) in parts.items():
        if x.ndim != 2 or x.shape[1] != len(columns) or not len(x) == len(t) == len(e):
            raise DataFormatError(
                f"{path}: group '{group}' has x of shape {x.shape}, t {t.shape}, e {e.shape}; "
                f"expected (n, {len(columns)}), (n,), (n,)."
            )
    x = np.concatenate([parts["train"][0], parts["test"][0]]).astype(np.float64)
    t = np.concatenate([parts["train"][1], parts["test"][1]])
    e = np.concatenate([parts["train"][2], parts["test"][2]])
    n_train = len(parts["train"][0])
    import pandas as pd

    X = pd.DataFrame(x, columns=columns)
    return ClinicalData(
        name=name,
        X=X,
        y=survival_array(e, t),
        feature_types=dict.fromkeys(columns, "numeric"),
        task="survival",
        time_unit=time_unit,
        splits={"train": np.arange(n_train), "test": np.arange(n_train, len(X))},
        description=f"DeepSurv's published {name.removeprefix('deepsurv-')} cohort.",
    )


# The files carry no column names. GBSG's were identified by matching the test group against R's
# survival::gbsg (hormon, size group <=20/20-50/>50 mm, meno, age, nodes, pgr, er); METABRIC's
# follow the DeepSurv paper; for WHAS only age and BMI are identifiable from their ranges.
_DEEPSURV = {
    "deepsurv-metabric": (
        "metabric_IHC4_clinical_train_test.h5",
        "experiments/data/metabric/metabric_IHC4_clinical_train_test.h5",
        "e959131973c906c7e8b1e662c81160914768156a6da145a9bfed9b9ee8bf3e72",
        [
            "MKI67",
            "EGFR",
            "PGR",
            "ERBB2",
            "hormone_treatment",
            "radiotherapy",
            "chemotherapy",
            "er_positive",
            "age",
        ],
        "months",
        "METABRIC breast cancer, 4 genes (IHC4) + 5 clinical; 1523 train / 381 test.",
    ),
    "deepsurv-gbsg": (
        "gbsg_cancer_train_test.h5",
        "experiments/data/gbsg/gbsg_cancer_train_test.h5",
        "bd455f4395322a8b23040c15cedbef00ad51a447d02c95f1f1d686a6b196484b",
        [
            "hormone_treatment",
            "tumor_size_group",
            "menopausal_status",
            "age",
            "positive_nodes",
            "progesterone_receptor",
            "estrogen_receptor",
        ],
        "months",
        "Rotterdam tumour bank (1546, train) and GBSG trial (686, test), 7 features.",
    ),
    "deepsurv-whas": (
        "whas_train_test.h5",
        "experiments/data/whas/whas_train_test.h5",
        "2ed86f073fdbe34be10f7e485eeaf67b61004521390c46b9a18aa9b82d5e8f9c",
        ["x0", "age", "x2", "bmi", "x4", "x5"],
        "days",
        "Worcester Heart Attack Study as published with DeepSurv (1310 train / 328 test); "
        "columns: age, sex, BMI, left heart failure (CHF), MI order, coded by the authors "
        "(binary columns unnamed where the files do not say which is which).",
    ),
}

_SKSURV = {
    "gbsg2": (
        "load_gbsg2",
        "days",
        "German Breast Cancer Study Group 2: recurrence-free "
        "survival of 686 node-positive patients, 8 features.",
        {},
    ),
    "whas500": (
        "load_whas500",
        "days",
        "Worcester Heart Attack Study (500 patients): survival after acute MI, 14 features.",
        {},
    ),
    "veteran": (
        "load_veterans_lung_cancer",
        "days",
        "Veterans' Administration lung cancer trial: 137 patients, 6 features.",
        {},
    ),
    "flchain": (
        "load_flchain",
        "days",
        "Serum free light chain (Olmsted County): 7874 "
        "subjects, overall survival, 9 features with missing values.",
        {},
    ),
    "actg320": (
        "load_aids",
        "days",
        "ACTG 320 AIDS trial: time to AIDS diagnosis or death, 1151 patients, 11 features.",
        {"endpoint": "aids"},
    ),
    "gse7390": (
        "load_breast_cancer",
        "days",
        "GSE7390 breast cancer (198 patients): time to "
        "distant metastasis with 76 genes + age, size, ER, grade.",
        {},
    ),
}


def _register_all() -> None:
    for name, (fn, unit, desc, kwargs) in _SKSURV.items():

        def loader(
            paths: dict[str, Path],
            _n: str = name,
            _f: str = fn,
            _u: str = unit,
            _d: str = desc,
            _k: dict = kwargs,
        ) -> ClinicalData:
            return _from_sksurv(_n, _f, _u, _d, **_k)

        register_dataset(
            DatasetSpec(
                name=name,
                modality="clinical",
                task="survival",
                files=(),
                license=("GPL-3.0 (scikit-survival) / original studies"),
                citation=SKSURV_CITATION,
                loader=loader,
                description=desc,
                extra="clinical",
                metadata={"requires": ["sksurv"], "time_unit": unit},
            )
        )
    register_dataset(
        DatasetSpec(
            name="breast-cancer-wisconsin",
            modality="clinical",
            task="binary-class",
            files=(),
            license="CC BY 4.0 (UCI)",
            citation=(
                "Street WN, Wolberg WH, Mangasarian OL. Nuclear feature extraction for breast "
                "tumor diagnosis. IS&T/SPIE 1993."
            ),
            loader=lambda paths: load_breast_cancer_wisconsin(),
            description="Wisconsin diagnostic breast cancer (569 x 30), 1 = malignant.",
        )
    )
    for name, (fname, src, sha, columns, unit, desc) in _DEEPSURV.items():
        path = f"clinical/deepsurv/{fname}"

        def h5_loader(
            paths: dict[str, Path],
            _p: str = path,
            _n: str = name,
            _c: list = columns,
            _u: str = unit,
        ) -> ClinicalData:
            return read_deepsurv_h5(paths[_p], _n, _c, _u)

        register_dataset(
            DatasetSpec(
                name=name,
                modality="clinical",
                task="survival",
                files=(DataFile(path, f"{DEEPSURV_RAW}/{src}", f"sha256:{sha}"),),
                license="MIT (DeepSurv) / original studies",
                citation=DEEPSURV_CITATION,
                loader=h5_loader,
                description=desc,
                extra="clinical",
                metadata={"requires": ["h5py"], "time_unit": unit, "splits": ["train", "test"]},
            )
        )


_register_all()
