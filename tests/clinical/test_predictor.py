"""Saving a clinical pipeline as a model directory and predicting from it after reload."""

from __future__ import annotations

import json

import numpy as np
import pytest

import precisionmed
from precisionmed.clinical.predictor import ClinicalPredictor, interval_level, median_survival
from precisionmed.clinical.training import train_clinical_model
from precisionmed.errors import ArtifactError, ConfigError, SchemaError
from tests.conftest import require_dataset


@pytest.fixture(scope="module")
def gbsg2():
    from precisionmed.data import load_dataset

    require_dataset("gbsg2")
    return load_dataset("gbsg2")


@pytest.fixture(scope="module")
def cox_dir(tmp_path_factory, gbsg2):
    out = tmp_path_factory.mktemp("coxph")
    train_clinical_model(gbsg2, "coxph", out, interval_models=4, n_boot=50, explain=False)
    return out


def test_reload_gives_the_same_predictions_with_intervals(cox_dir, gbsg2):
    predictor = precisionmed.load(cox_dir)
    assert isinstance(predictor, ClinicalPredictor)
    assert predictor.task == "survival"
    assert len(predictor.interval_pipelines) == 4
    X = gbsg2.X.head(5)
    pred = predictor.predict_table(X.astype(str))
    np.testing.assert_allclose([p["risk"] for p in pred.patients], predictor.pipeline.predict(X))
    for p in pred.patients:
        assert p["risk_low"] <= p["risk_high"]
    curves = pred.curves
    assert curves.shape == (5, len(predictor.times))
    assert np.all((curves >= 0) & (curves <= 1))
    assert np.all(np.diff(curves, axis=1) <= 1e-12)  # survival never increases
    assert np.all(pred.curves_low <= pred.curves_high)
    for p, curve in zip(pred.patients, curves, strict=True):
        med = p["median_survival_time"]
        if med is not None:  # the curve is above 0.5 before the median and at most 0.5 at it
            assert curve[predictor.times == med][0] <= 0.5
            assert np.all(curve[predictor.times < med] > 0.5)
    assert "bootstrap" in pred.interval


def test_model_directory_records_schema_and_metrics(cox_dir):
    config = json.loads((cox_dir / "config.json").read_text())
    assert config["kind"] == "clinical-model"
    assert config["pillar"] == "clinical"
    assert [c["name"] for c in config["input_schema"]["columns"]][:2] == ["age", "estrec"]
    metrics = json.loads((cox_dir / "metrics.json").read_text())["test"]
    ci = metrics["c_index_harrell"]
    assert ci["low"] <= ci["value"] <= ci["high"]
    card = (cox_dir / "model_card.md").read_text()
    assert "c_index_harrell" in card
    assert "95% CI" in card
    assert "bootstrap-ensemble intervals over 4 refits (level 60%" in card
    assert (cox_dir / "survival_by_risk.png").is_file()
    assert (cox_dir / "calibration_at_horizon.png").is_file()
    assert 0 <= metrics["calibration_error"]["value"] <= 1


def test_tampered_model_is_refused(cox_dir, tmp_path):
    import shutil

    copy = tmp_path / "m"
    shutil.copytree(cox_dir, copy)
    with (copy / "model.skops").open("ab") as fh:
        fh.write(b"x")
    with pytest.raises(ArtifactError, match="sha256"):
        precisionmed.load(copy)


def test_survival_plot_is_written(cox_dir, gbsg2, tmp_path):
    predictor = precisionmed.load(cox_dir)
    pred = predictor.predict_table(gbsg2.X.head(2))
    path = predictor.plot(pred, tmp_path / "curves.png")
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "curves.json").is_file()


def test_median_survival_known_answer():
    times = np.array([0.0, 10.0, 20.0, 30.0])
    curves = np.array([[1.0, 0.8, 0.5, 0.2], [1.0, 0.9, 0.8, 0.7]])
    assert median_survival(times, curves).tolist() == [20.0, np.inf]


def test_interval_level_is_what_the_number_of_refits_supports():
    # the range of n exchangeable refits holds a further one with probability (n-1)/(n+1)
    assert [interval_level(n) for n in (0, 1, 2, 4, 5)] == [0.0, 0.0, 1 / 3, 3 / 5, 4 / 6]
    assert interval_level(38) < 0.95
    assert interval_level(39) == interval_level(200) == 0.95


def test_few_refits_give_their_range_labelled_with_its_level(cox_dir, gbsg2):
    predictor = precisionmed.load(cox_dir)
    X = gbsg2.X.head(6)
    pred = predictor.predict_table(X)
    offsets = np.asarray(predictor.config["interval"]["risk_offsets"])
    refit_risk = np.array([m.predict(X) for m in predictor.interval_pipelines]) - offsets[:, None]
    np.testing.assert_allclose([p["risk_low"] for p in pred.patients], refit_risk.min(axis=0))
    np.testing.assert_allclose([p["risk_high"] for p in pred.patients], refit_risk.max(axis=0))
    assert pred.interval_level == pred.to_dict()["interval_level"] == pytest.approx(0.6)
    assert pred.interval.startswith("60% bootstrap-ensemble interval: the range of 4 refits")
    assert "39 or more refits give the central 95%" in pred.interval


def test_identifier_column_is_carried_to_each_prediction(cox_dir, gbsg2, tmp_path):
    predictor = precisionmed.load(cox_dir)
    patients = gbsg2.X.head(3).copy()
    patients.insert(0, "mrn", ["A-17", "B-02", "C-33"])
    pred = predictor.predict_table(patients, id_column="mrn")
    assert [(p["row"], p["id"]) for p in pred.patients] == [(1, "A-17"), (2, "B-02"), (3, "C-33")]
    without_ids = predictor.predict_table(gbsg2.X.head(3)).patients
    assert [p["risk"] for p in pred.patients] == [p["risk"] for p in without_ids]
    predictor.plot(pred, tmp_path / "curves.png")
    assert json.loads((tmp_path / "curves.json").read_text())["labels"] == ["A-17", "B-02", "C-33"]
    with pytest.raises(SchemaError, match="input: no identifier column 'MRN'; the input has"):
        predictor.predict_table(patients, id_column="MRN")


def test_one_interval_refit_is_a_config_error(tmp_path, gbsg2):
    with pytest.raises(ConfigError, match="at least 2 bootstrap refits.*got 1"):
        train_clinical_model(gbsg2, "coxph", tmp_path, interval_models=1, explain=False)


def test_classifier_predicts_probability_with_interval(tmp_path):
    from precisionmed.data import load_dataset

    require_dataset("breast-cancer-wisconsin")
    data = load_dataset("breast-cancer-wisconsin")
    train_clinical_model(data, "rf", tmp_path, interval_models=3, n_boot=50, explain=False,
                         params={"n_estimators": 30})  # fmt: skip
    predictor = precisionmed.load(tmp_path)
    pred = predictor.predict_table(data.X.head(4))
    probs = predictor.pipeline.predict_proba(data.X.head(4))[:, 1]
    for p, expected in zip(pred.patients, probs, strict=True):
        assert p["probability"] == pytest.approx(expected)
        assert 0 <= p["low"] <= p["high"] <= 1
    assert (tmp_path / "roc.png").is_file()
    assert (tmp_path / "calibration.png").is_file()
    far = data.X.head(2).copy()
    far.loc[0, "mean radius"] = 1000.0  # trained on about 7-28 mm
    first, second = predictor.predict(far)
    assert first.abstained
    assert (first.prediction, first.values, first.interval) == (None, {"probability": None}, None)
    assert not second.abstained
    assert second.prediction == pytest.approx(probs[1])


def test_predict_returns_json_safe_records_with_version_intervals_and_row_warnings(
    cox_dir, gbsg2, tmp_path
):
    from precisionmed.artifacts import read_artifact
    from precisionmed.predict import PredictionRecord, TableInputSpec

    predictor = precisionmed.load(cox_dir)
    spec = predictor.input_spec
    assert isinstance(spec, TableInputSpec)
    age = next(c for c in spec.columns if c.name == "age")
    assert age.kind == "numeric"
    assert age.min <= 50 <= age.max
    recorded = json.loads((cox_dir / "config.json").read_text())["input_spec"]
    assert TableInputSpec.from_dict(recorded) == spec
    patients = gbsg2.X.head(3).copy()
    patients.loc[1, "age"] = 100.0  # outside the training range, within the margin
    csv = tmp_path / "p.csv"
    patients.to_csv(csv, index=False)
    records = predictor.predict(csv)
    assert [type(r) for r in records] == [PredictionRecord] * 3
    table = predictor.predict_table(patients)
    for record, row in zip(records, table.patients, strict=True):
        data = json.loads(json.dumps(record.to_dict(), allow_nan=False))
        assert data["model"] == "coxph on gbsg2"
        assert data["model_version"] == read_artifact(cox_dir).version
        assert data["prediction"] == data["values"]["risk"] == pytest.approx(row["risk"])
        assert data["interval"]["risk"] == pytest.approx([row["risk_low"], row["risk_high"]])
        assert data["interval_level"] == pytest.approx(0.6)
        assert data["calibration"]["test_calibration_error"] >= 0
    assert records[1].warnings[0].startswith("row 2, column 'age': 100 is outside")
    assert records[0].warnings == records[2].warnings == ()


def test_records_never_hold_nan():
    from precisionmed.predict import PredictionRecord

    record = PredictionRecord(
        model="m",
        model_version=None,
        kind="clinical-model",
        input="row 1",
        prediction=float("nan"),
        values={"risk": float("inf"), "median_survival_time": None},
        interval={"risk": [np.float64("nan"), 1.0]},
        details={"survival": np.array([1.0, np.nan])},
    )
    text = json.dumps(record.to_dict(), allow_nan=False)
    assert json.loads(text)["values"] == {"risk": None, "median_survival_time": None}
    assert json.loads(text)["details"]["survival"] == [1.0, None]
    assert any("values.risk was inf" in w for w in record.warnings)


@pytest.mark.parametrize(
    ("dataset", "model", "column"),
    [
        ("gbsg2", "deepsurv", "age"),  # overflowed to NaN in the network
        ("gbsg2", "coxph", "age"),  # gave a finite but absurd risk (-1.5e306)
        ("breast-cancer-wisconsin", "dnn", "mean radius"),
    ],
)
def test_a_huge_input_is_an_error_naming_row_and_column_never_nan(tmp_path, dataset, model, column):
    """1e308 is a finite float but no measurement: refused before the model sees it."""
    from precisionmed.data import load_dataset
    from precisionmed.errors import SchemaError

    require_dataset(dataset)
    data = load_dataset(dataset)
    train_clinical_model(data, model, tmp_path, interval_models=0, n_boot=20, explain=False,
                         params={"max_epochs": 2} if model != "coxph" else {})  # fmt: skip
    predictor = precisionmed.load(tmp_path)
    patients = data.X.head(3).astype(object)
    patients.loc[1, column] = "1e308"
    with pytest.raises(SchemaError) as info:
        predictor.predict_table(patients, source="p.csv")
    assert str(info.value) == (
        f"p.csv: row 2, column '{column}': expected a finite number of magnitude at most "
        "1e+15; got '1e308'."
    )
    ok = predictor.predict_table(patients.drop(index=1))
    values = [p.get("risk", p.get("probability")) for p in ok.patients]
    assert np.isfinite(values).all()


@pytest.mark.parametrize("model", ["coxph", "rsf"])
def test_survival_on_grid_equals_the_models_own_step_functions(tmp_path, gbsg2, model):
    """The vectorised curves (Breslow form, or the model's array) are the StepFunctions' values,
    before the first event time, on it, between and past the last."""
    from precisionmed.clinical.curves import survival_on_grid

    params = {"n_estimators": 10} if model == "rsf" else {}
    train_clinical_model(gbsg2, model, tmp_path, interval_models=0, n_boot=10, explain=False,
                         params=params)  # fmt: skip
    pipeline = precisionmed.load(tmp_path).pipeline
    X = gbsg2.X.head(40)
    times = np.array([0.0, 1.0, 72.0, 500.0, 1000.5, 2000.0, 1e5])
    expected = [fn(np.clip(times, *fn.domain)) for fn in pipeline.predict_survival_function(X)]
    np.testing.assert_allclose(survival_on_grid(pipeline, X, times), expected, rtol=1e-12)


def test_each_record_says_what_was_imputed_ignored_and_out_of_range(cox_dir, gbsg2):
    predictor = precisionmed.load(cox_dir)
    patients = gbsg2.X.head(3).astype(object)
    patients["smoker"] = "yes"
    patients.loc[0, "pnodes"] = ""
    patients.loc[2, "tsize"] = 130.0  # trained on up to 120 mm
    records = predictor.predict(patients)
    extra = "column 'smoker' is not one of the model's inputs and is ignored."
    assert [r.warnings[0] for r in records] == [extra] * 3
    assert records[0].warnings[1] == "row 1, column 'pnodes': missing; imputed with 3 (the " \
        "training median)."  # fmt: skip
    assert records[1].warnings == (extra,)
    assert records[2].warnings[1].startswith("row 3, column 'tsize': 130 is outside the training")
    assert not any(r.abstained for r in records)
    with pytest.raises(SchemaError, match="input: header, column 'smoker': expected only"):
        predictor.predict(patients, strict=True)


def test_far_out_of_range_abstains_with_no_values_and_says_why(cox_dir, gbsg2):
    predictor = precisionmed.load(cox_dir)
    patients = gbsg2.X.head(3).copy()
    patients.loc[1, "age"] = 150.0
    records = predictor.predict(patients)
    data = json.loads(json.dumps([r.to_dict() for r in records], allow_nan=False))
    assert [d["abstained"] for d in data] == [False, True, False]
    gone = data[1]
    assert gone["prediction"] is None
    assert gone["values"] == {"risk": None, "median_survival_time": None}
    assert gone["interval"] is None
    assert gone["details"]["survival"] is gone["details"]["survival_low"] is None
    assert "no prediction is made for this patient" in gone["warnings"][0]
    # the other patients are predicted as without the abstaining one
    alone = predictor.predict(patients.drop(index=1))
    assert [data[0]["prediction"], data[2]["prediction"]] == [r.prediction for r in alone]
    assert data[0]["interval"] == alone[0].interval
