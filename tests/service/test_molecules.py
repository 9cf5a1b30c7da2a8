"""``POST /molecules/properties``: a batch of SMILES predicted by the served property model, each
bad row reported on its row and the rest predicted (the values equal the library's); a batch of
only bad rows refused naming them; researchers only, audited. And a property model named in an
optimisation job's objective.

The model is a real gradient-boosting ensemble (2 x 20 trees) trained on 150 ESOL molecules of
the data mirror.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_path
from tests.service import test_jobs
from tests.service.conftest import Api

pytest.importorskip(
    "rdkit", reason="the molecule tests need RDKit: pip install 'precisionmed[chem]'"
)

ROWS = ["CCO", "C1CC(N", "c1ccccc1O", "", "CC(=O)Oc1ccccc1C(=O)O"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory with one property model ("esol": log solubility) and the tiny CharRNN
    generator of test_jobs.py ("charrnn"), for an objective naming the property model."""
    from precisionmed.chem.own_data import load_molecule_csv
    from precisionmed.chem.training import train_property_model

    source = require_path("molecules/moleculenet/delaney.csv")
    with source.open() as fh:
        rows = list(csv.reader(fh))[:151]
    root = tmp_path_factory.mktemp("molecule-models")
    table = root.parent / "esol.csv"
    with table.open("w", newline="") as fh:
        csv.writer(fh).writerows([["smiles", "logS"]] + [[r[0], r[1]] for r in rows[1:]])
    train_property_model(load_molecule_csv(table), "gbm", root / "esol", n_members=2,
                         params={"n_estimators": 20}, progress=False)  # fmt: skip
    test_jobs.train_tiny_charrnn(root / "charrnn")
    return root


@pytest.fixture
def api(make_app: Callable[..., Any]) -> Api:
    return Api(make_app())


def test_bad_rows_are_reported_and_the_rest_predicted_as_the_library_does(api: Api) -> None:
    import precisionmed

    me = api.add_user("rita", "researcher")
    response = api.client.post("/molecules/properties", json={"smiles": ROWS}, headers=me)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["models"] == ["esol"]
    assert (body["n_predicted"], body["n_failed"]) == (3, 2)
    rows = body["rows"]
    assert [r["row"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[1]["error"].startswith("smiles[1]: ")
    assert rows[3]["error"].startswith("smiles[3]: ")
    assert rows[1]["predictions"] == {}
    assert rows[3]["predictions"] == {}
    expected = precisionmed.load(api.app.state.settings.models_dir / "esol").predict(ROWS)
    for i in (0, 2, 4):
        record = rows[i]["predictions"]["esol"]
        assert rows[i]["error"] is None
        assert record["values"]["logS"] == pytest.approx(expected[i].values["logS"])
        low, high = record["interval"]["logS"]
        assert low <= record["values"]["logS"] <= high
        assert "applicability" in record["details"]
    assert ("create", "molecule-predictions") in {(a, o) for _, a, o, _ in api.audit_rows()}


def test_a_batch_of_only_unparsable_smiles_is_refused_naming_each_row(api: Api) -> None:
    me = api.add_user("rita", "researcher")
    response = api.client.post(
        "/molecules/properties", json={"smiles": ["C1CC(N", "not a molecule"]}, headers=me
    )
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert "smiles[0]: " in detail
    assert "smiles[1]: " in detail
    empty = api.client.post("/molecules/properties", json={"smiles": []}, headers=me)
    assert empty.status_code == 422
    assert empty.json()["detail"][0]["loc"][-1] == "smiles"


def test_property_prediction_needs_a_token_and_a_researcher(api: Api) -> None:
    assert api.client.post("/molecules/properties", json={"smiles": ["CCO"]}).status_code == 401
    clinician = api.add_user("carl", "clinician")
    refused = api.client.post("/molecules/properties", json={"smiles": ["CCO"]}, headers=clinician)
    assert refused.status_code == 403
    assert (1, "denied", "endpoint", None) in api.audit_rows()
    admin = api.add_user("ada", "admin")
    ok = api.client.post("/molecules/properties", json={"smiles": ["CCO"]}, headers=admin)
    assert ok.status_code == 200


def test_generated_requests_to_the_molecule_and_job_routes_get_no_server_error(
    make_app: Callable[..., Any],
) -> None:
    """Schemathesis on the routes of this file's model (a property model is served here, unlike
    in test_openapi.py): odd SMILES and odd objectives get a 4xx, never a 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    api = Api(make_app(rate_limit_burst=100_000))
    headers = api.add_user("boss", "admin")
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if op.path.startswith(("/molecules", "/jobs"))
    ]
    assert {op.path for op in operations} >= {"/molecules/properties", "/jobs/{job_id}/result"}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def no_server_error(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        no_server_error()


def test_an_optimisation_objective_may_name_the_served_property_model(
    make_app: Callable[..., Any],
) -> None:
    import precisionmed

    api = Api(make_app(**test_jobs.UNLIMITED))
    me = api.add_user("rita", "researcher")
    objective = "components:\n  - {type: property, model: esol, target: logS, scale: [-6, 0]}\n"
    body = {"kind": "optimize", "model": "charrnn", "objective": objective, "steps": 2,
            "batch_size": 8}  # fmt: skip
    response = api.client.post("/jobs", json=body, headers=me)
    assert response.status_code == 202, response.text
    done = test_jobs.wait_done(api, response.json()["id"], me)
    api.app.state.jobs.close()
    assert done["status"] == "done", done["error"]
    header, first, *_ = api.client.get(f"/jobs/{done['id']}/result", headers=me).text.splitlines()
    assert header == "rank,smiles,score,step,property"
    smiles, score = first.split(",")[1], float(first.split(",")[2])
    # the score is the esol model's prediction mapped linearly from [-6, 0] to [0, 1]
    (record,) = precisionmed.load(api.app.state.settings.models_dir / "esol").predict([smiles])
    assert score == pytest.approx(min(max((record.values["logS"] + 6) / 6, 0), 1), abs=1e-5)
