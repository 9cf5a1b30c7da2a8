"""``precisionmed clinical train -> evaluate -> predict`` round trips (cli/clinical.py)."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from precisionmed.cli.main import app, main
from precisionmed.errors import SchemaError
from tests.conftest import require_dataset

runner = CliRunner()


def _run(*args: str) -> dict:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def cox_dir(tmp_path_factory):
    require_dataset("gbsg2")
    out = tmp_path_factory.mktemp("cli") / "coxph"
    record = _run(
        "clinical", "train", "--dataset", "gbsg2", "--model", "coxph", "--out", str(out),
        "--cv", "3", "--n-boot", "50", "--interval-models", "3", "--no-explain", "--json",
    )  # fmt: skip
    assert record["cv"]["metric"] == "c_index_harrell"
    assert len(record["cv"]["folds"]) == 3
    assert 0.6 < record["test"]["c_index_harrell"]["value"] < 0.8
    return out


def test_survival_round_trip(cox_dir, tmp_path):
    from precisionmed.data import load_dataset

    evaluated = _run("clinical", "evaluate", str(cox_dir), "--dataset", "gbsg2",
                     "--n-boot", "50", "--json")  # fmt: skip
    trained = json.loads((cox_dir / "metrics.json").read_text())["test"]
    assert evaluated["patients"] == "held-out test split"
    assert evaluated["c_index_harrell"]["value"] == pytest.approx(
        trained["c_index_harrell"]["value"]
    )
    patients = load_dataset("gbsg2").X.head(3).copy()
    patients.loc[0, "age"] = 95.0
    csv = tmp_path / "patients.csv"
    patients.to_csv(csv, index=False)
    out = tmp_path / "pred"
    records = _run("clinical", "predict", str(cox_dir), str(csv), "--out", str(out), "--json")
    assert [r["details"]["task"] for r in records] == ["survival"] * 3
    assert [r["input"] for r in records] == ["row 1", "row 2", "row 3"]
    assert len(records[0]["details"]["survival"]) == len(records[0]["details"]["times"])
    assert set(records[0]["values"]) == {"risk", "median_survival_time"}
    assert records[0]["warnings"][0].startswith("row 1, column 'age': 95 is outside")
    assert records[1]["warnings"] == []  # each patient's record holds its own row's warnings
    assert len(records[0]["model_version"]) == 64
    assert (out / "survival_curves.png").is_file()
    assert json.loads((out / "predictions.json").read_text())[1]["input"] == "row 2"


def test_predict_rejects_text_in_a_numeric_column_naming_row_and_column(
    cox_dir, tmp_path, monkeypatch, capsys
):
    from precisionmed.data import load_dataset

    patients = load_dataset("gbsg2").X.head(2).astype(str)
    patients.loc[1, "pnodes"] = "many"
    csv = tmp_path / "bad.csv"
    patients.to_csv(csv, index=False)
    result = runner.invoke(app, ["clinical", "predict", str(cox_dir), str(csv)])
    assert isinstance(result.exception, SchemaError)
    # through the real entry point: one line on stderr, exit code 1
    monkeypatch.setattr(
        sys, "argv", ["precisionmed", "clinical", "predict", str(cox_dir), str(csv)]
    )
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "row 2, column 'pnodes': expected a number; got 'many'" in err.replace("\n", "")


def test_predict_table_names_patients_by_their_identifier_and_the_interval_level(cox_dir, tmp_path):
    from precisionmed.data import load_dataset

    patients = load_dataset("gbsg2").X.head(2).copy()
    patients.insert(0, "mrn", ["A-17", "B-02"])
    csv = tmp_path / "with_ids.csv"
    patients.to_csv(csv, index=False)
    result = runner.invoke(
        app, ["clinical", "predict", str(cox_dir), str(csv), "--id-column", "mrn"]
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("│ A-17") for line in lines)
    assert any(line.startswith("│ B-02") for line in lines)
    assert "50% interval" in result.output  # 3 refits: their range, (3-1)/(3+1)
    records = _run("clinical", "predict", str(cox_dir), str(csv), "--id-column", "mrn", "--json")
    assert [r["input"] for r in records] == ["A-17", "B-02"]
    assert [r["interval_level"] for r in records] == [0.5, 0.5]


def test_task_mismatch_is_a_config_error(tmp_path):
    require_dataset("gbsg2")
    result = runner.invoke(app, ["clinical", "train", "--dataset", "gbsg2", "--model", "rf",
                                 "--out", str(tmp_path)])  # fmt: skip
    assert "is a classification model but dataset 'gbsg2' is a survival task" in str(
        result.exception
    )


def test_deep_model_round_trip_with_few_epochs(tmp_path):
    require_dataset("breast-cancer-wisconsin")
    out = tmp_path / "dnn"
    record = _run(
        "clinical", "train", "--dataset", "breast-cancer-wisconsin", "--model", "dnn",
        "--out", str(out), "--param", "max_epochs=8", "--param", "lr=0.01",
        "--n-boot", "50", "--interval-models", "2", "--no-explain", "--json",
    )  # fmt: skip
    assert record["test"]["roc_auc"]["value"] > 0.8
    csv = tmp_path / "p.csv"
    from precisionmed.data import load_dataset

    load_dataset("breast-cancer-wisconsin").X.head(2).to_csv(csv, index=False)
    records = _run("clinical", "predict", str(out), str(csv), "--json")
    assert [r["details"]["task"] for r in records] == ["classification"] * 2
    for r in records:
        low, high = r["interval"]["probability"]
        assert 0 <= low <= high <= 1  # the point may lie outside (module docstring)
        assert 0 <= r["values"]["probability"] <= 1


def test_deep_survival_model_round_trip(tmp_path):
    require_dataset("gbsg2")
    out = tmp_path / "deepsurv"
    _run(
        "clinical", "train", "--dataset", "gbsg2", "--model", "deepsurv", "--out", str(out),
        "--param", "max_epochs=3", "--n-boot", "20", "--interval-models", "2", "--no-explain",
        "--scaling", "quantile", "--json",
    )  # fmt: skip
    import precisionmed
    from precisionmed.data import load_dataset

    assert json.loads((out / "config.json").read_text())["scaling"] == "quantile"
    model = precisionmed.load(out)
    pred = model.predict_table(load_dataset("gbsg2").X.head(2))
    assert pred.curves.shape[0] == 2
    assert "risk_low" in pred.patients[0]


def test_unknown_scaling_is_a_config_error(tmp_path):
    require_dataset("gbsg2")
    result = runner.invoke(app, ["clinical", "train", "--dataset", "gbsg2", "--model", "coxph",
                                 "--out", str(tmp_path), "--scaling", "minmax"])  # fmt: skip
    assert "scaling must be one of ('standard', 'quantile'); got 'minmax'" in str(result.exception)


def test_models_command_lists_the_registry():
    rows = _run("clinical", "models", "--json")
    assert {r["name"] for r in rows} >= {"svm", "rf", "gbm", "dnn", "coxph", "rsf"}


@pytest.mark.filterwarnings("always")  # as a user's shell shows them (the suite makes errors)
def test_a_diverged_fit_is_one_warning_line_without_library_paths(tmp_path):
    require_dataset("gbsg2")
    result = runner.invoke(app, [
        "clinical", "train", "--dataset", "gbsg2", "--model", "deepsurv", "--out",
        str(tmp_path / "m"), "--param", "max_epochs=3", "--param", "lr=1000", "--n-boot", "20",
        "--interval-models", "2", "--no-explain", "--json",
    ])  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    # the main fit and both interval refits diverge: said once, as one line, no file paths
    assert len(lines) == 1, lines
    assert lines[0].startswith("warning: DeepSurv: training diverged")
    assert ".py" not in result.stderr
    assert "c_index_harrell" in json.loads(result.stdout)["test"]


def test_a_fresh_process_loads_and_predicts_a_clinical_model(cox_dir, tmp_path):
    """`clinical predict` as a user runs it: a new process, where nothing has imported the
    clinical predictor before `precisionmed.load` looks its kind up."""
    import subprocess

    from precisionmed.data import load_dataset

    csv = tmp_path / "patients.csv"
    load_dataset("gbsg2").X.head(2).to_csv(csv, index=False)
    code = "from precisionmed.cli.main import main; main()"
    args = [sys.executable, "-c", code, "clinical", "predict", str(cox_dir), str(csv), "--json"]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    assert [r["input"] for r in records] == ["row 1", "row 2"]


def test_evaluate_out_writes_metrics_and_plots_outside_the_model(cox_dir, tmp_path):
    out = tmp_path / "evaluation"
    printed = _run("clinical", "evaluate", str(cox_dir), "--dataset", "gbsg2", "--n-boot", "30",
                   "--out", str(out), "--json")  # fmt: skip
    written = json.loads((out / "metrics.json").read_text())
    assert written == printed
    assert written["model_version"] == precisionmed_version(cox_dir)
    assert {"survival_by_risk.png", "calibration_at_horizon.png"} <= {p.name for p in out.iterdir()}
    inside = CliRunner().invoke(
        app, ["clinical", "evaluate", str(cox_dir), "--dataset", "gbsg2", "--n-boot", "30",
              "--out", str(cox_dir / "evaluation")],
    )  # fmt: skip
    assert inside.exit_code == 1
    assert "inside the model directory" in str(inside.exception)
    assert not (cox_dir / "evaluation").exists()


def precisionmed_version(model_dir) -> str:
    from precisionmed.artifacts import read_artifact

    return read_artifact(model_dir).version


def _cohort_csv(tmp_path, n: int = 12):
    """``n`` GBSG2 patients with an identifier and their observed outcome, as a user has them."""
    from precisionmed.data import load_dataset

    data = load_dataset("gbsg2")
    patients = data.X.head(n).copy()
    patients.insert(0, "mrn", [f"P{i:02d}" for i in range(1, n + 1)])
    patients["time"] = data.y["time"][:n]
    patients["event"] = data.y["event"][:n].astype(int)
    csv = tmp_path / "cohort.csv"
    patients.to_csv(csv, index=False)
    return csv


def test_predict_out_writes_one_curve_table_a_cohort_plot_and_the_chosen_patients(
    cox_dir, tmp_path
):
    import numpy as np
    import pandas as pd

    csv, out = _cohort_csv(tmp_path), tmp_path / "pred"
    result = runner.invoke(app, [
        "clinical", "predict", str(cox_dir), str(csv), "--out", str(out), "--id-column", "mrn",
        "--ids", "P03, P11", "--time-column", "time", "--event-column", "event",
    ])  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    assert "warning" not in result.output  # the outcome and identifier columns are declared
    times = json.loads((cox_dir / "config.json").read_text())["survival_times"]
    curves = pd.read_csv(out / "survival_curves.csv")
    assert list(curves.columns[:2]) == ["row", "id"]
    assert np.allclose([float(c) for c in curves.columns[2:]], times, rtol=1e-5)
    assert curves["id"].tolist() == [f"P{i:02d}" for i in range(1, 13)]
    values = curves.iloc[:, 2:].to_numpy()
    assert ((values >= 0) & (values <= 1)).all()
    assert (np.diff(values, axis=1) <= 0).all()  # survival never increases
    stored = np.load(out / "survival_curves.npz")
    np.testing.assert_allclose(stored["survival"], values, atol=6e-5)
    assert (stored["survival_low"] <= stored["survival_high"]).all()
    table = pd.read_csv(out / "predictions.csv")
    records = json.loads((out / "predictions.json").read_text())
    assert table["risk"].tolist() == pytest.approx([r["prediction"] for r in records])
    assert "survival" not in records[0]["details"]  # the curves are in the table, once
    drawn = json.loads((out / "survival_curves.json").read_text())
    assert drawn["labels"] == ["P03", "P11"]
    groups = json.loads((out / "survival_by_risk_group.json").read_text())["labels"]
    assert [g.split(" risk")[0] for g in groups[::2]] == ["low", "medium", "high"]
    assert groups[1] == "low risk: Kaplan-Meier"
    # without --ids: the first 10 patients only, however many there are
    result = runner.invoke(app, ["clinical", "predict", str(cox_dir), str(csv), "--out",
                                 str(tmp_path / "p2"), "--id-column", "mrn"])  # fmt: skip
    assert result.exit_code == 0, result.output
    labels = json.loads((tmp_path / "p2" / "survival_curves.json").read_text())["labels"]
    assert labels == [f"P{i:02d}" for i in range(1, 11)]
    unknown = runner.invoke(app, ["clinical", "predict", str(cox_dir), str(csv), "--out",
                                  str(tmp_path / "p3"), "--id-column", "mrn",
                                  "--ids", "P99"])  # fmt: skip
    assert unknown.exit_code == 1
    assert "--ids: 'P99' is not among the input's identifier column" in str(unknown.exception)


def test_predict_table_shows_warnings_and_abstentions(cox_dir, tmp_path):
    from precisionmed.data import load_dataset

    patients = load_dataset("gbsg2").X.head(3).astype(object)
    patients["smoker"] = "no"
    patients.loc[0, "estrec"] = ""
    patients.loc[2, "age"] = 150
    csv = tmp_path / "p.csv"
    patients.to_csv(csv, index=False)
    result = runner.invoke(app, ["clinical", "predict", str(cox_dir), str(csv)])
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert text.count("column 'smoker' is not one of the model's inputs") == 1  # said once
    assert "row 1, column 'estrec': missing; imputed with" in text
    assert "row 3, column 'age': 150 is outside the training range" in text
    assert any(
        line.startswith("│ 3") and "abstained" in line for line in result.output.splitlines()
    )
    records = _run("clinical", "predict", str(cox_dir), str(csv), "--json")
    assert [r["abstained"] for r in records] == [False, False, True]
    assert all("column 'smoker' is not one of the model's inputs" in r["warnings"][0]
               for r in records)  # fmt: skip


def test_strict_predict_fails_in_a_fresh_process_naming_the_column_and_writes_nothing(
    cox_dir, tmp_path
):
    import subprocess

    from precisionmed.data import load_dataset

    patients = load_dataset("gbsg2").X.head(3).astype(object)
    patients.loc[1, "progrec"] = ""
    csv, out = tmp_path / "p.csv", tmp_path / "pred"
    patients.to_csv(csv, index=False)
    code = "from precisionmed.cli.main import main; main()"
    args = [sys.executable, "-c", code, "clinical", "predict", str(cox_dir), str(csv),
            "--strict", "--out", str(out)]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    err = " ".join(done.stderr.split())
    assert f"{csv}: row 2, column 'progrec': expected a value (strict mode imputes nothing); " \
        "got an empty cell" in err  # fmt: skip
    assert ".py" not in done.stderr
    assert not out.exists()
