"""A user's cohort from a CSV file (clinical/csv_cohort.py): the same data as the catalog's
loader, and one-line errors naming the file, the row and the column for a bad file."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from precisionmed.clinical.csv_cohort import load_clinical_csv
from precisionmed.errors import ConfigError, DataFormatError, SchemaError
from tests.conftest import require_dataset


@pytest.fixture(scope="module")
def gbsg2():
    from precisionmed.data import load_dataset

    require_dataset("gbsg2")
    return load_dataset("gbsg2")


@pytest.fixture(scope="module")
def cohort(gbsg2, tmp_path_factory):
    """GBSG2 as a user would export it: identifier first, renamed outcome columns last."""
    frame = gbsg2.X.astype(object).copy()
    frame.insert(0, "mrn", [f"M{i}" for i in range(len(frame))])
    frame["months"] = gbsg2.y["time"] / 30.4375
    frame["died"] = np.where(gbsg2.y["event"], "true", "false")
    path = tmp_path_factory.mktemp("csv") / "cohort.csv"
    frame.to_csv(path, index=False)
    return frame, path


def _survival(path, **kwargs):
    return load_clinical_csv(
        path, time_column="months", event_column="died", id_column="mrn", **kwargs
    )


def _write(frame: pd.DataFrame, tmp_path, name="bad.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_survival_csv_gives_the_catalog_cohort(gbsg2, cohort):
    _, path = cohort
    data = _survival(path, time_unit="months")
    assert data.task == "survival"
    assert data.time_unit == "months"
    assert data.name == "cohort.csv"
    assert list(data.X.columns) == list(gbsg2.X.columns)
    assert data.feature_types == gbsg2.feature_types
    np.testing.assert_array_equal(data.y["event"], gbsg2.y["event"])
    np.testing.assert_allclose(data.y["time"] * 30.4375, gbsg2.y["time"])
    np.testing.assert_allclose(data.X["age"], gbsg2.X["age"])
    assert list(data.X["tgrade"].cat.categories) == ["I", "II", "III"]
    assert data.X["tgrade"].astype(str).tolist() == gbsg2.X["tgrade"].astype(str).tolist()


def test_binary_target_and_forced_categorical_column(tmp_path):
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.data.iloc[:, :4].copy()
    frame["site"] = np.arange(len(frame)) % 3 + 1
    frame["malignant"] = (bunch.target == 0).astype(int)
    data = load_clinical_csv(
        _write(frame, tmp_path), target_column="malignant", categorical_columns=["site"]
    )
    assert data.task == "binary-class"
    assert data.y.tolist() == frame["malignant"].tolist()
    assert data.feature_types["site"] == "categorical"
    assert data.feature_types["mean radius"] == "numeric"
    assert list(data.X["site"].cat.categories) == ["1", "2", "3"]


def test_missing_feature_values_are_allowed(cohort, tmp_path):
    frame = cohort[0].copy()
    frame.loc[4, "age"] = ""
    frame.loc[5, "horTh"] = "NA"
    data = _survival(_write(frame, tmp_path))
    assert np.isnan(data.X.loc[4, "age"])
    assert pd.isna(data.X.loc[5, "horTh"])
    assert data.feature_types["age"] == "numeric"


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        (
            "age",
            "inf",
            r"row 3, column 'age': expected a finite number of magnitude at most 1e\+15; got 'inf'",
        ),
        ("age", "-inf", r"row 3, column 'age': expected a finite number .*; got '-inf'"),
        ("age", "1e999", r"row 3, column 'age': expected a finite number"),
        ("age", "1e308", r"row 3, column 'age': expected a finite number .*; got '1e308'"),
        ("age", "seventy", r"row 3, column 'age': expected a number .* got 'seventy'"),
        ("died", "2", r"row 3, column 'died': expected 0 or 1 .* got '2'"),
        ("died", "", r"row 3, column 'died': expected 0 or 1 .* got a missing value"),
        ("months", "-4", r"row 3, column 'months': expected a positive, finite .* got '-4'"),
        ("months", "inf", r"row 3, column 'months': expected a positive, finite"),
        ("months", "", r"row 3, column 'months': .* got a missing value"),
    ],
)
def test_bad_value_names_file_row_and_column(cohort, tmp_path, column, value, expected):
    frame = cohort[0].copy()
    frame[column] = frame[column].astype(object)
    frame.loc[2, column] = value
    path = _write(frame, tmp_path)
    with pytest.raises(SchemaError, match=expected) as info:
        _survival(path)
    assert str(info.value).startswith(f"{path}: ")
    assert "\n" not in str(info.value)


def test_an_identifier_column_is_not_taken_for_a_feature(cohort):
    _, path = cohort
    with pytest.raises(
        SchemaError, match="column 'mrn' holds a different text in every row"
    ) as info:
        load_clinical_csv(path, time_column="months", event_column="died")
    assert "M1" not in str(info.value)  # no identifier in the message


def test_duplicated_column_is_refused(cohort, tmp_path):
    path = tmp_path / "dup.csv"
    frame = cohort[0].head(20)
    text = frame.to_csv(index=False).replace("pnodes", "age", 1)
    path.write_text(text)
    with pytest.raises(DataFormatError, match=r"names column 'age' twice \(columns 2 and 6\)"):
        _survival(path)


def test_outcome_options_and_columns_are_checked(cohort, tmp_path):
    frame, path = cohort
    with pytest.raises(ConfigError, match="--time-column and --event-column"):
        load_clinical_csv(path, time_column="months")
    with pytest.raises(ConfigError, match="--time-column and --event-column"):
        load_clinical_csv(path, time_column="months", event_column="died", target_column="died")
    with pytest.raises(ConfigError, match="one role only"):
        load_clinical_csv(path, time_column="months", event_column="died", id_column="died")
    with pytest.raises(SchemaError, match=r"no column\(s\) \['days'\]; the file has \['mrn'"):
        load_clinical_csv(path, time_column="days", event_column="died")
    censored = frame.assign(died="0")
    with pytest.raises(SchemaError, match="holds no event"):
        _survival(_write(censored, tmp_path))
    one_class = frame.assign(flag=1)
    with pytest.raises(SchemaError, match="column 'flag' holds only the class 1"):
        load_clinical_csv(_write(one_class, tmp_path), target_column="flag")
    with pytest.raises(DataFormatError, match="cannot read the CSV file"):
        _survival(tmp_path / "absent.csv")
