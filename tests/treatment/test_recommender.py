"""The recommender: intervals always, a recommendation only when they separate and the patient
is inside the training support; fit on IHDP realisation 1 through the library."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import precisionmed
from precisionmed.errors import DataFormatError, SchemaError
from precisionmed.treatment import NO_RECOMMENDATION, recommend
from precisionmed.treatment.own_data import fit_treatment_model, read_study_csv
from tests.conftest import require_dataset

NAMES = ["control", "drug"]


def test_overlapping_intervals_give_no_recommendation() -> None:
    rec = recommend(NAMES, [5.0, 6.0], [[4.0, 6.5], [5.5, 7.0]], better="higher", in_support=True)
    assert rec.treatment is None
    assert rec.status == NO_RECOMMENDATION
    assert any("overlap" in r for r in rec.reasons)


def test_separate_intervals_recommend_the_better_arm_in_the_declared_direction() -> None:
    args = ([5.0, 8.0], [[4.5, 5.5], [7.5, 8.5]])
    assert recommend(NAMES, *args, better="higher", in_support=True).treatment == "drug"
    assert recommend(NAMES, *args, better="lower", in_support=True).treatment == "control"


def test_outside_support_or_range_gives_no_recommendation_even_with_separate_intervals() -> None:
    args = ([5.0, 8.0], [[4.5, 5.5], [7.5, 8.5]])
    rec = recommend(NAMES, *args, better="higher", in_support=False)
    assert rec.treatment is None
    assert "common support" in rec.reasons[0]
    rec = recommend(NAMES, *args, better="higher", in_support=True, out_of_range=["age"])
    assert rec.treatment is None
    assert "age" in rec.reasons[0]


def ihdp_csv(path: Path, realisation: int = 1) -> Path:
    """IHDP realisation as a study CSV with a header: treatment, y, x1..x25."""
    from precisionmed.data import load_dataset

    d = load_dataset("ihdp", realisation=realisation)
    frame = d.X.copy()
    frame.insert(0, "y", d.y)
    frame.insert(0, "treatment", d.t.astype(int))
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def ihdp_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    require_dataset("ihdp")
    tmp = tmp_path_factory.mktemp("ihdp")
    csv = ihdp_csv(tmp / "ihdp1.csv")
    table = read_study_csv(csv, "treatment", "y")
    from sklearn.linear_model import LinearRegression

    out = fit_treatment_model(
        table, model="tlearner", out=tmp / "model", better="higher", outcome_column="y",
        params={"model": LinearRegression(), "n_bootstrap": 20}, source="ihdp-1",
    )  # fmt: skip
    return out, pd.read_csv(csv)


def test_each_record_has_both_outcomes_with_intervals_and_a_decision(ihdp_model) -> None:
    out, frame = ihdp_model
    predictor = precisionmed.load(out)
    records = predictor.predict(frame.head(40))
    assert len(records) == 40
    for r in records:
        json.dumps(r.to_dict(), allow_nan=False)
        assert set(r.interval) == {"outcome[0]", "outcome[1]", "effect"}
        (lo0, hi0), (lo1, hi1) = r.interval["outcome[0]"], r.interval["outcome[1]"]
        assert lo0 <= r.values["outcome[0]"] <= hi0
        assert lo1 <= r.values["outcome[1]"] <= hi1
        assert r.details["better"] == "higher"
        if r.prediction is not None:  # recommended: separate intervals, the higher arm, in support
            assert not r.abstained
            assert r.in_distribution
            assert hi0 < lo1 or hi1 < lo0
            assert r.prediction == ("1" if r.values["outcome[1]"] > r.values["outcome[0]"] else "0")
        else:
            assert r.abstained
            assert r.details["recommendation"] == NO_RECOMMENDATION
            assert r.warnings
            assert r.details["reasons"]
    assert any(r.prediction == "1" for r in records)  # IHDP's effect is large for most children


def test_overlapping_intervals_abstain_through_the_predictor(ihdp_model) -> None:
    out, frame = ihdp_model
    predictor = precisionmed.load(out)
    records = predictor.predict(frame)
    overl = [r for r in records if any("overlap" in x for x in r.details["reasons"])]
    assert overl, "IHDP realisation 1 has children with an effect near zero"
    for r in overl:
        (lo0, hi0), (lo1, hi1) = r.interval["outcome[0]"], r.interval["outcome[1]"]
        assert lo0 <= hi1
        assert lo1 <= hi0
        assert r.prediction is None
        assert r.abstained


def test_a_patient_outside_the_support_gets_no_recommendation(ihdp_model) -> None:
    out, frame = ihdp_model
    predictor = precisionmed.load(out)
    X = frame[predictor.config["covariates"]].to_numpy()
    outside = np.flatnonzero(~predictor.overlap.in_support(X))
    assert outside.size, "realisation 1 has controls outside the arms' common support"
    rec = predictor.predict(frame.iloc[[outside[0]]])[0]
    assert rec.prediction is None
    assert rec.abstained
    assert rec.in_distribution is False
    assert "common support" in rec.warnings[0]
    extreme = frame.iloc[0].to_dict() | {"x1": 50.0}
    rec = predictor.predict(extreme)[0]
    assert rec.prediction is None
    assert "x1" in rec.details["outside_training_range"]
    assert rec.interval["effect"][0] <= rec.values["effect"] <= rec.interval["effect"][1]


def test_a_patient_without_a_covariate_is_refused_by_name(ihdp_model) -> None:
    out, frame = ihdp_model
    with pytest.raises(SchemaError, match="column 'x3' is missing"):
        precisionmed.load(out).predict(frame.drop(columns=["x3"]).head(1))


def test_bad_study_tables_are_refused_naming_file_and_column(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"arm": rng.integers(0, 2, 60), "y": rng.normal(size=60),
                          "age": rng.normal(50, 10, 60)})  # fmt: skip
    good = tmp_path / "study.csv"
    frame.to_csv(good, index=False)
    with pytest.raises(DataFormatError, match=r"study.csv: column 'outcome' not found"):
        read_study_csv(good, "arm", "outcome")
    three = frame.assign(arm=rng.integers(0, 3, 60))
    three.to_csv(tmp_path / "three.csv", index=False)
    with pytest.raises(DataFormatError, match=r"three.csv: column 'arm' must hold exactly two"):
        read_study_csv(tmp_path / "three.csv", "arm", "y")
    words = frame.assign(arm=np.where(frame["arm"] == 1, "drug", "placebo"))
    words.to_csv(tmp_path / "words.csv", index=False)
    with pytest.raises(DataFormatError, match="--treated-value"):
        read_study_csv(tmp_path / "words.csv", "arm", "y")
    table = read_study_csv(tmp_path / "words.csv", "arm", "y", treated_value="drug")
    assert table.treatment_names == ["placebo", "drug"]
    np.testing.assert_array_equal(table.t, (words["arm"] == "drug").to_numpy(float))
    text = frame.astype({"age": object})
    text.loc[4, "age"] = "unknown"
    text.to_csv(tmp_path / "text.csv", index=False)
    with pytest.raises(DataFormatError, match=r"text.csv: row 6 .*column 'age': expected a number"):
        read_study_csv(tmp_path / "text.csv", "arm", "y")
