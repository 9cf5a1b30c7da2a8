"""The recorded input schema and the validation of new patients against it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from precisionmed.clinical.schema import (
    InputSchema,
    infer_schema,
    read_patients_csv,
    validate_patients,
)
from precisionmed.errors import DataFormatError, SchemaError


@pytest.fixture(scope="module")
def gbsg2():
    from sksurv.datasets import load_gbsg2

    X, _ = load_gbsg2()
    types = {c: "categorical" if X[c].dtype == "category" else "numeric" for c in X.columns}
    return X.reset_index(drop=True), types


@pytest.fixture(scope="module")
def schema(gbsg2):
    X, types = gbsg2
    return infer_schema(X, types)


def _as_text(X: pd.DataFrame) -> pd.DataFrame:
    return X.astype(str)


def test_schema_records_columns_categories_and_ranges(gbsg2, schema):
    X, _ = gbsg2
    by_name = {c.name: c for c in schema.columns}
    assert schema.names == list(X.columns)
    assert by_name["tgrade"].kind == "categorical"
    assert by_name["tgrade"].categories == ["I", "II", "III"]
    assert by_name["age"].min == X["age"].min()
    assert by_name["age"].max == X["age"].max()
    assert InputSchema.from_dict(schema.to_dict()) == schema


def test_valid_text_rows_convert_to_training_dtypes(gbsg2, schema):
    X, _ = gbsg2
    out, warnings = validate_patients(_as_text(X.head(5)), schema)
    assert warnings == []
    pd.testing.assert_frame_equal(out, X.head(5), check_categorical=False)
    assert out["tgrade"].dtype == "category"


def test_missing_column_is_named(gbsg2, schema):
    X, _ = gbsg2
    with pytest.raises(SchemaError, match=r"patients\.csv: missing column\(s\) \['pnodes'\]"):
        validate_patients(X.drop(columns="pnodes"), schema, source="patients.csv")


def test_text_in_numeric_column_names_row_and_column(gbsg2, schema):
    bad = _as_text(gbsg2[0].head(4))
    bad.loc[2, "age"] = "sixty"
    with pytest.raises(SchemaError, match=r"row 3, column 'age': expected a number; got 'sixty'"):
        validate_patients(bad, schema)


def test_unknown_category_names_row_and_column(gbsg2, schema):
    bad = _as_text(gbsg2[0].head(3))
    bad.loc[0, "tgrade"] = "IV"
    with pytest.raises(SchemaError, match=r"row 1, column 'tgrade': unknown category 'IV'"):
        validate_patients(bad, schema)


def test_out_of_range_is_a_warning_and_far_out_of_range_abstains(gbsg2, schema):
    rows = _as_text(gbsg2[0].head(3))
    rows.loc[1, "age"] = "95"  # trained on 21-80: within half the range's width (to 109.5)
    rows.loc[2, "age"] = "150"  # beyond it
    out, issues = validate_patients(rows, schema)
    assert out["age"].tolist()[1:] == [95.0, 150.0]  # kept, not clipped
    assert [(i.kind, i.row, i.column) for i in issues] == [
        ("out_of_range", 2, "age"),
        ("abstain", 3, "age"),
    ]
    assert issues[0].message == (
        "row 2, column 'age': 95 is outside the training range [21, 80]; the prediction "
        "extrapolates."
    )
    assert issues[1].message.startswith("row 3, column 'age': 150 is outside the training range")
    assert "limits [-8.5, 109.5]); no prediction is made for this patient" in issues[1].message


def test_abstention_margin_is_half_the_training_range_on_each_side():
    from precisionmed.clinical.schema import ABSTAIN_MARGIN, ColumnSchema, abstain_limits

    assert ABSTAIN_MARGIN == 0.5
    age = ColumnSchema("age", "numeric", "float64", min=20.0, max=90.0)
    assert abstain_limits(age) == (-15.0, 125.0)  # an age of 150 abstains, 95 warns
    schema = InputSchema([age])
    kinds = [
        [i.kind for i in validate_patients(pd.DataFrame({"age": [v]}), schema)[1]]
        for v in ("150", "95", "125", "-16", "50")
    ]
    assert kinds == [["abstain"], ["out_of_range"], ["out_of_range"], ["abstain"], []]


def test_missing_values_are_imputed_with_a_warning_naming_the_value(gbsg2, schema):
    rows = _as_text(gbsg2[0].head(2))
    rows.loc[0, "pnodes"] = "NA"
    rows.loc[1, "horTh"] = ""
    fill = {"pnodes": "3 (the training median)"}
    out, issues = validate_patients(rows, schema, fill_values=fill)
    assert np.isnan(out.loc[0, "pnodes"])
    assert pd.isna(out.loc[1, "horTh"])
    assert [i.message for i in issues] == [
        "row 1, column 'pnodes': missing; imputed with 3 (the training median).",
        "row 2, column 'horTh': missing; imputed with the training data's typical value.",
    ]
    assert [i.kind for i in issues] == ["imputed", "imputed"]


def test_an_extra_column_is_reported_once_unless_it_is_known(gbsg2, schema):
    rows = _as_text(gbsg2[0].head(2))
    rows["smoker"] = "yes"
    rows["mrn"] = ["A", "B"]
    _, issues = validate_patients(rows, schema, known_columns=["mrn"])
    assert [(i.kind, i.row, i.column) for i in issues] == [("extra_column", None, "smoker")]
    assert issues[0].message == "column 'smoker' is not one of the model's inputs and is ignored."


@pytest.mark.parametrize(
    ("column", "value", "expected"),
    [
        ("smoker", "yes", "p.csv: header, column 'smoker': expected only the model's columns"),
        ("pnodes", "", "p.csv: row 2, column 'pnodes': expected a value (strict mode imputes "
                       "nothing); got an empty cell"),
        ("age", "95", "p.csv: row 2, column 'age': expected a value in the training range "
                      "[21, 80]; got 95"),
        ("age", "150", "p.csv: row 2, column 'age': expected a value in the training range "
                       "[21, 80]; got 150"),
    ],
    ids=["extra-column", "blank-cell", "out-of-range", "beyond-margin"],
)  # fmt: skip
def test_strict_refuses_each_issue_naming_file_row_and_column(
    gbsg2, schema, column, value, expected
):
    rows = _as_text(gbsg2[0].head(3))
    rows.loc[1, column] = value
    if column == "smoker":
        rows[column] = value
    with pytest.raises(SchemaError) as info:
        validate_patients(rows, schema, source="p.csv", strict=True)
    message = str(info.value)
    assert message.startswith(expected)
    assert "\n" not in message
    assert validate_patients(_as_text(gbsg2[0].head(3)), schema, strict=True)[1] == []


def test_numeric_category_codes_match_whatever_their_spelling():
    X = pd.DataFrame({"sex": pd.Categorical([0, 1, 1]), "age": [50.0, 60.0, 70.0]})
    schema = infer_schema(X, {"sex": "categorical", "age": "numeric"})
    out, _ = validate_patients(pd.DataFrame({"sex": ["1.0", "0"], "age": ["55", "65"]}), schema)
    assert out["sex"].tolist() == [1, 0]
    with pytest.raises(SchemaError, match="row 1, column 'sex': unknown category '2'"):
        validate_patients(pd.DataFrame({"sex": ["2"], "age": ["55"]}), schema)


def test_bad_feature_type_and_empty_input(gbsg2, schema):
    X, _ = gbsg2
    with pytest.raises(SchemaError, match="column 'age' must be 'numeric' or 'categorical'"):
        infer_schema(X[["age"]], {"age": "ordinal"})
    with pytest.raises(SchemaError, match="no rows"):
        validate_patients(X.head(0), schema)


def test_read_patients_csv_keeps_text_and_rejects_garbage(tmp_path, gbsg2, schema):
    path = tmp_path / "patients.csv"
    gbsg2[0].head(3).to_csv(path, index=False)
    frame = read_patients_csv(path)
    assert frame.dtypes.eq(object).all()
    out, _ = validate_patients(frame, schema, source=str(path))
    assert out["age"].tolist() == gbsg2[0]["age"].head(3).tolist()
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataFormatError, match="empty.csv: not a readable CSV"):
        read_patients_csv(empty)


@pytest.mark.parametrize("value", ["inf", "-inf", "Infinity", "1e999"])
def test_non_finite_number_names_row_and_column(gbsg2, schema, value):
    frame = _as_text(gbsg2[0].head(3))
    frame.loc[1, "tsize"] = value
    with pytest.raises(
        SchemaError, match=rf"p.csv: row 2, column 'tsize': expected a finite .*{value}"
    ):
        validate_patients(frame, schema, source="p.csv")


def test_duplicated_header_column_is_refused_naming_both_positions(tmp_path, gbsg2):
    path = tmp_path / "dup.csv"
    gbsg2[0].head(3).to_csv(path, index=False)
    lines = path.read_text().splitlines()
    assert lines[0] == "age,estrec,horTh,menostat,pnodes,progrec,tgrade,tsize"
    lines[0] = lines[0].replace("tsize", "age")  # pandas alone would read it as 'age.1'
    path.write_text("\n".join(lines))
    with pytest.raises(DataFormatError, match=r"dup.csv: the header names column 'age' twice "
                       r"\(columns 1 and 8\)"):  # fmt: skip
        read_patients_csv(path)


def test_unreadable_csv_is_a_one_line_error(tmp_path):
    with pytest.raises(DataFormatError, match=r"absent.csv: cannot read the CSV file"):
        read_patients_csv(tmp_path / "absent.csv")
    with pytest.raises(DataFormatError, match=r"cannot read the CSV file"):
        read_patients_csv(tmp_path)  # a folder


def test_check_finite_outputs_names_the_first_bad_row_and_its_warnings():
    from precisionmed.clinical.schema import InputIssue, check_finite_outputs

    check_finite_outputs(np.array([0.1, 0.9]), what="probability")
    issues = [
        InputIssue("imputed", 1, "age", "a value", "''", "row 1, column 'age': missing."),
        InputIssue("out_of_range", 3, "age", "x", "y", "row 3, column 'age': 1e+308 is outside."),
    ]
    with pytest.raises(DataFormatError) as info:
        check_finite_outputs(
            np.array([[0.2, 0.1], [0.3, 0.2], [np.nan, 0.1], [0.1, np.inf]]),
            what="survival curve", source="p.csv", issues=issues,
        )  # fmt: skip
    message = str(info.value)
    assert message.startswith("p.csv: row 3: the model's survival curve is not a finite number")
    assert "(and 1 more row(s): [4])" in message
    assert "1e+308 is outside" in message
    assert "missing" not in message
    with pytest.raises(DataFormatError, match="p.csv: row 7: "):  # rows of the predicted subset
        check_finite_outputs(
            np.array([0.1, np.nan]), what="risk", source="p.csv", rows=[2, 7], issues=issues
        )
