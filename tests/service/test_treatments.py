"""``POST /treatments``: the served treatment recommender ranks the therapies for one patient
record with intervals (the library's figures), or abstains with its reasons; the case is stored,
audited and visible to its clinician only; bad records get a 422 naming the field.

The model is a real T-learner fitted on 600 complete NHEFS cases with 5 bootstraps (as in
``tests/report/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from precisionmed.cli.main import app as cli
from tests.conftest import require_dataset
from tests.service.conftest import Api

PATIENT = {"age": 45, "sex": 1, "wt71": 70.0, "smokeintensity": 20, "smokeyrs": 25}


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with one treatment recommender ("nhefs": quit smoking or not)."""
    import pandas as pd

    from precisionmed.data import fetch_file, get_dataset

    require_dataset("nhefs")
    root = tmp_path_factory.mktemp("treatment-models")
    nhefs = pd.read_csv(fetch_file(get_dataset("nhefs").files[0])).dropna(subset=["wt82_71"])
    nhefs["qsmk"] = nhefs["qsmk"].map({0: "kept smoking", 1: "quit smoking"})
    table = root.parent / "nhefs-complete.csv"
    nhefs.head(600).to_csv(table, index=False)
    result = CliRunner().invoke(cli, [
        "treatment", "fit", "--csv", str(table), "--treatment-column", "qsmk",
        "--treated-value", "quit smoking", "--outcome-column", "wt82_71", "--better", "lower",
        "--covariates", "age,sex,wt71,smokeintensity,smokeyrs", "--param", "n_bootstrap=5",
        "--out", str(root / "nhefs"),
    ])  # fmt: skip
    assert result.exit_code == 0, (result.output, result.exception)
    return root


@pytest.fixture
def api(make_app: Callable[..., Any]) -> Api:
    return Api(make_app())


def test_a_record_gets_the_recommenders_ranking_with_intervals_and_is_stored(api: Api) -> None:
    import precisionmed

    me = api.add_user("carl", "clinician")
    body = {"record": PATIENT | {"favourite_colour": "blue"}}
    response = api.client.post("/treatments", json=body, headers=me)
    assert response.status_code == 201, response.text
    case = response.json()
    assert case["record"] == PATIENT
    assert case["dropped_fields"] == ["favourite_colour"]
    (ranking,) = case["rankings"]
    (prediction,) = case["predictions"]
    assert ranking["prediction_id"] == prediction["id"]
    assert ranking["model_name"] == prediction["model_name"] == "nhefs"
    (expected,) = precisionmed.load(api.app.state.settings.models_dir / "nhefs").predict(PATIENT)
    options = ranking["ranking"]
    assert {o["treatment"] for o in options} == {"kept smoking", "quit smoking"}
    outcomes = [o["expected_outcome"] for o in options]
    assert outcomes == sorted(outcomes)  # weight gain: lower is better, best first
    for option in options:
        name = f"outcome[{option['treatment']}]"
        assert option["expected_outcome"] == pytest.approx(expected.values[name])
        low, high = option["interval"]
        assert low <= option["expected_outcome"] <= high
    assert ranking["effect"] == pytest.approx(expected.values["effect"])
    assert ranking["abstained"] == expected.abstained
    assert ranking["recommendation"] == expected.prediction
    if ranking["abstained"]:
        assert ranking["recommendation"] is None
        assert ranking["reasons"]
    else:
        assert ranking["recommendation"] == options[0]["treatment"]
    read = api.client.get(f"/cases/{case['id']}", headers=me)
    assert read.status_code == 200
    assert read.json()["predictions"][0]["record"]["values"] == prediction["record"]["values"]
    rows = api.audit_rows()
    assert (1, "create", "case", case["id"]) in rows
    assert (1, "create", "prediction", prediction["id"]) in rows


def test_a_patient_outside_the_training_data_gets_an_abstention_with_reasons(api: Api) -> None:
    me = api.add_user("carl", "clinician")
    body = {"record": PATIENT | {"age": 99, "wt71": 250.0, "smokeintensity": 95}}
    (ranking,) = api.client.post("/treatments", json=body, headers=me).json()["rankings"]
    assert ranking["abstained"] is True
    assert ranking["recommendation"] is None
    assert any("age" in r or "range" in r or "support" in r for r in ranking["reasons"])
    assert len(ranking["ranking"]) == 2  # the expected outcomes are still shown


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({k: v for k, v in PATIENT.items() if k != "smokeyrs"}, "nhefs needs ['smokeyrs']"),
        (PATIENT | {"age": "forty"}, "column 'age': expected a number; got 'forty'"),
    ],
)
def test_a_bad_record_gets_a_422_naming_the_field(
    api: Api, record: dict[str, Any], message: str
) -> None:
    me = api.add_user("carl", "clinician")
    response = api.client.post("/treatments", json={"record": record}, headers=me)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert api.client.get("/cases", headers=me).json() == []  # nothing stored


def test_ranking_needs_a_token_and_a_clinician_and_the_case_stays_theirs(api: Api) -> None:
    assert api.client.post("/treatments", json={"record": PATIENT}).status_code == 401
    researcher = api.add_user("rita", "researcher")
    refused = api.client.post("/treatments", json={"record": PATIENT}, headers=researcher)
    assert refused.status_code == 403
    carl, dora = api.add_user("carl", "clinician"), api.add_user("dora", "clinician")
    case = api.client.post("/treatments", json={"record": PATIENT}, headers=carl).json()
    assert api.client.get(f"/cases/{case['id']}", headers=dora).status_code == 404
    assert (1, "denied", "endpoint", None) in api.audit_rows()
