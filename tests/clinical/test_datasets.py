"""The clinical cohorts of the catalog (src/precisionmed/data/sources/clinical.py)."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from precisionmed.data import get_dataset, list_datasets, load_dataset
from precisionmed.data.sources.clinical import (
    ClinicalData,
    read_deepsurv_h5,
    survival_array,
)
from precisionmed.errors import DataFormatError
from tests.conftest import require_dataset, require_path

pytest.importorskip("sksurv")

# name -> (patients, events, features): the published sizes of each cohort.
SURVIVAL = {
    "gbsg2": (686, 299, 8),
    "whas500": (500, 215, 14),
    "veteran": (137, 128, 6),
    "flchain": (7874, 2169, 9),
    "actg320": (1151, 96, 11),
    "gse7390": (198, 51, 80),
}
# DeepSurv paper, Table 1 / its repository: train and test sizes.
DEEPSURV = {
    "deepsurv-metabric": (1523, 381, 9),
    "deepsurv-gbsg": (1546, 686, 7),
    "deepsurv-whas": (1310, 328, 6),
}


def test_all_registered_as_clinical() -> None:
    names = {s.name for s in list_datasets("clinical")}
    assert set(SURVIVAL) | set(DEEPSURV) | {"breast-cancer-wisconsin"} <= names


@pytest.mark.parametrize("name", sorted(SURVIVAL))
def test_sksurv_cohorts(name: str) -> None:
    n, events, p = SURVIVAL[name]
    data = load_dataset(name)
    assert isinstance(data, ClinicalData)
    assert data.task == "survival"
    assert data.time_unit == "days"
    assert data.X.shape == (n, p)
    assert data.y.dtype.names == ("event", "time")
    assert data.y["event"].dtype == bool
    assert int(data.y["event"].sum()) == events
    assert (data.y["time"] >= 0).all()
    for col, kind in data.feature_types.items():
        is_cat = isinstance(data.X[col].dtype, pd.CategoricalDtype)
        assert kind == ("categorical" if is_cat else "numeric"), col
    assert data.splits == {}
    assert get_dataset(name).files == ()


def test_gbsg2_types_and_missing_values() -> None:
    gbsg = load_dataset("gbsg2")
    assert gbsg.feature_types["tgrade"] == "categorical"
    assert gbsg.feature_types["age"] == "numeric"
    flchain = load_dataset("flchain")
    assert flchain.X["creatinine"].isna().sum() == 1350  # kept for the pipeline to impute


def test_breast_cancer_wisconsin() -> None:
    data = load_dataset("breast-cancer-wisconsin")
    assert data.task == "binary-class"
    assert data.X.shape == (569, 30)
    assert data.y.dtype == np.int64
    assert int(data.y.sum()) == 212  # malignant, the positive class
    assert data.target_names == ["benign", "malignant"]
    assert set(data.feature_types.values()) == {"numeric"}


@pytest.mark.parametrize("name", sorted(DEEPSURV))
def test_deepsurv_cohorts_and_published_split(name: str) -> None:
    require_dataset(name)
    n_train, n_test, p = DEEPSURV[name]
    data = load_dataset(name)
    assert data.X.shape == (n_train + n_test, p)
    Xtr, ytr = data.split("train")
    Xte, yte = data.split("test")
    assert len(Xtr) == len(ytr) == n_train
    assert len(Xte) == len(yte) == n_test
    assert set(data.splits["train"]).isdisjoint(data.splits["test"])
    assert ytr.dtype.names == ("event", "time")
    assert 0 < ytr["event"].mean() < 1


@pytest.mark.parametrize("name", sorted(DEEPSURV))
def test_deepsurv_files_match_sources_tsv(name: str) -> None:
    sources = require_path("SOURCES.tsv")
    lines = sources.read_text().splitlines()
    rows = {r[0]: r for r in csv.reader(lines, delimiter="\t") if r}
    (spec_file,) = get_dataset(name).files
    path, source, sha = rows[spec_file.path][:3]
    owner_repo, _, rest = source.removeprefix("github:").partition("@")
    commit, _, src_path = rest.partition(":")
    assert spec_file.checksum == f"sha256:{sha}"
    assert spec_file.url == f"https://raw.githubusercontent.com/{owner_repo}/{commit}/{src_path}"


def test_deepsurv_gbsg_columns_match_r_survival_gbsg() -> None:
    """Known answer: the GBSG test group is R's survival::gbsg, column for column."""
    require_dataset("deepsurv-gbsg")
    r_gbsg = pd.read_csv(require_path("clinical/r_survival/gbsg_rsurvival.csv"))
    Xte, yte = load_dataset("deepsurv-gbsg").split("test")
    for ours, theirs in [
        ("age", "age"),
        ("positive_nodes", "nodes"),
        ("progesterone_receptor", "pgr"),
        ("estrogen_receptor", "er"),
        ("hormone_treatment", "hormon"),
        ("menopausal_status", "meno"),
    ]:
        np.testing.assert_array_equal(np.sort(Xte[ours]), np.sort(r_gbsg[theirs]))
    assert int(yte["event"].sum()) == int(r_gbsg["status"].sum())
    size_group = np.digitize(r_gbsg["size"], [20.5, 50.5])  # <=20, 20-50, >50 mm
    np.testing.assert_array_equal(
        np.bincount(Xte["tumor_size_group"].astype(int)), np.bincount(size_group)
    )


def test_unknown_split_names_what_exists() -> None:
    data = load_dataset("gbsg2")
    with pytest.raises(DataFormatError, match="gbsg2 has no published split 'train'.*k-fold"):
        data.split("train")


def test_bad_hdf5_is_a_data_format_error(tmp_path) -> None:
    bad = tmp_path / "broken.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(DataFormatError, match="broken.h5: not a readable HDF5"):
        read_deepsurv_h5(bad, "x", ["a"], "days")
    h5py = pytest.importorskip("h5py")
    wrong = tmp_path / "wrong.h5"
    with h5py.File(wrong, "w") as h5:
        h5.create_group("train")
    with pytest.raises(DataFormatError, match="wrong.h5: expected groups 'train' and 'test'"):
        read_deepsurv_h5(wrong, "x", ["a"], "days")


def test_clinical_data_checks_consistency() -> None:
    X = pd.DataFrame({"a": [1.0, 2.0]})
    with pytest.raises(DataFormatError, match="feature_types must list the columns"):
        ClinicalData("t", X, np.array([0, 1]), {"b": "numeric"}, "binary-class")
    with pytest.raises(DataFormatError, match="X has 2 rows but y has 3"):
        ClinicalData("t", X, np.array([0, 1, 1]), {"a": "numeric"}, "binary-class")


def test_survival_array() -> None:
    y = survival_array([1, 0], [3, 5.5])
    assert y.dtype.names == ("event", "time")
    assert y["event"].tolist() == [True, False]
    assert y["time"].tolist() == [3.0, 5.5]
