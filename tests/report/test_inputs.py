"""Mapping a case onto a tabular model's columns: LOINC codes with unit conversion, SNOMED CT
conditions (refuted -> 0), the patient's age and sex, and the missing columns listed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pytest

from precisionmed.errors import DataFormatError
from precisionmed.predict import ColumnSpec, TableInputSpec
from precisionmed.report.case import (
    CaseCondition,
    CaseObservation,
    PatientCase,
    resolve_location,
)
from precisionmed.report.inputs import map_case
from tests.conftest import require_dataset

LOINC = "http://loinc.org"


def spec(*columns: ColumnSpec) -> TableInputSpec:
    return TableInputSpec(columns=columns)


def num(name: str) -> ColumnSpec:
    return ColumnSpec(name, "numeric", "float64", min=0.0, max=500.0)


def test_columns_from_codes_units_patient_and_conditions() -> None:
    case = PatientCase("t", "case-file", "Patient/x", sex="male",
                       birth_date=dt.date(1960, 1, 1), as_of=dt.date(2020, 1, 1))  # fmt: skip
    case.observations += [
        CaseObservation("2345-7", LOINC, "glucose", 7.0, "mmol/L", "2020-01-01"),
        CaseObservation("2345-7", LOINC, "glucose", 5.0, "mmol/L", "2019-01-01"),  # older
        CaseObservation("8480-6", LOINC, "sbp", 120.0, "kPa", "2020-01-01"),  # unknown unit
    ]
    case.conditions += [CaseCondition("42343007", "http://snomed.info/sct", "chf", present=False)]
    gender = ColumnSpec("gender", "categorical", "category", categories=["0", "1"])
    mapped = map_case(case, spec(num("glucose"), num("sysbp"), num("age"), gender,
                                 ColumnSpec("chf", "categorical", "category", ["0", "1"]),
                                 num("los")))  # fmt: skip
    assert mapped.row["glucose"] == pytest.approx(7.0 * 18.016)  # the latest, in mg/dL
    assert mapped.row["sysbp"] is None  # kPa has no known factor here: not used, said so
    assert any("'kPa'" in note for note in mapped.notes)
    assert mapped.row["age"] == pytest.approx(60.0, abs=0.01)
    assert mapped.row["gender"] == "0"  # WHAS500: 0 = male
    assert mapped.row["chf"] == "0"  # refuted
    assert mapped.missing == ["sysbp", "los"]
    assert mapped.n_known == 4


def test_case_file_inputs_win_and_word_categories_get_words() -> None:
    case = PatientCase("t", "case-file", "Patient/x", sex="female", inputs={"glucose": 99})
    words = ColumnSpec("sex", "categorical", "category", categories=["female", "male"])
    mapped = map_case(case, spec(num("glucose"), words))
    assert mapped.row == {"glucose": 99, "sex": "female"}
    assert mapped.sources["glucose"] == "case file inputs"


def test_dataset_location_writes_the_catalog_image(tmp_path: Path) -> None:
    require_dataset("breastmnist")
    from PIL import Image

    from precisionmed.data import fetch_file, get_dataset

    png = resolve_location("dataset:breastmnist/test/3", base=tmp_path, work_dir=tmp_path,
                           where="case")  # fmt: skip
    with np.load(fetch_file(get_dataset("breastmnist").files[0])) as data:
        expected = data["test_images"][3]
    assert np.array_equal(np.asarray(Image.open(png)), expected)
    with pytest.raises(DataFormatError, match="an index below 156"):
        resolve_location("dataset:breastmnist/test/999", base=tmp_path, work_dir=tmp_path,
                         where="case")  # fmt: skip
    with pytest.raises(DataFormatError, match="remote URL"):
        resolve_location("https://example.org/x.png", base=tmp_path, work_dir=tmp_path, where="c")
