"""The feedback loop: clinicians' feedback, an admin's review, ``retrain`` with the per-user cap,
both models on the locked test set and the feedback hold-out, and the gate."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from precisionmed.errors import ConfigError
from tests.service.conftest import Api, upload
from tests.service.test_cli import REPO


def _run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(REPO / "src"), **env}
    return subprocess.run(
        [sys.executable, "-m", "precisionmed.cli.main", *args],
        env=full_env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray((image[0] * 255).round().astype(np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _give_feedback(api: Api, who: dict[str, str], images: Any, labels: list[str]) -> list[int]:
    ids = []
    for image, label in zip(images, labels, strict=True):
        case = api.client.post("/cases", headers=who, files=upload("x.png", _png(image))).json()
        verdict = "confirmed" if case["predictions"][0]["prediction"] == label else "corrected"
        body = {"verdict": verdict, "label": label, "comment": ""}
        response = api.client.post(f"/cases/{case['id']}/feedback", headers=who, json=body)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


def _accept(api: Api, admin: dict[str, str], ids: list[int]) -> None:
    for fid in ids:
        response = api.client.post(
            f"/feedback/{fid}/review", headers=admin, json={"accepted": True}
        )
        assert response.status_code == 200
        assert response.json()["accepted"] is True


def test_a_poisoned_batch_is_stopped_by_the_cap_and_the_gate_decides(
    make_app: Any, database_url: str, tmp_path: Path
) -> None:
    from precisionmed.imaging import load_classification_data
    from precisionmed.service import registry
    from precisionmed.service.retrain import retrain_classifier

    api = Api(make_app())
    doc, doc2 = api.add_user("doc", "clinician"), api.add_user("doc2", "clinician")
    mallory, admin = api.add_user("mallory", "clinician"), api.add_user("root", "admin")
    data = load_classification_data("breastmnist", subset=64)
    x, y = data.arrays["val"]  # images the model was not trained on
    labels = [data.labels[int(v)] for v in np.asarray(y).reshape(-1)]
    flipped = [data.labels[1 - int(v)] for v in np.asarray(y).reshape(-1)]
    honest = _give_feedback(api, doc, x[:3], labels[:3]) + _give_feedback(
        api, doc2, x[3:6], labels[3:6]
    )
    poisoned = _give_feedback(api, mallory, x[6:16], flipped[6:16])

    # nothing is trained on before an admin accepts it; a clinician cannot review
    assert (
        api.client.post(
            f"/feedback/{poisoned[0]}/review", headers=mallory, json={"accepted": True}
        ).status_code
        == 403
    )
    pending = api.client.get("/feedback?status=pending", headers=admin).json()
    assert sorted(f["id"] for f in pending) == sorted(honest + poisoned)

    with api.app.state.sessions() as session:
        _accept(api, admin, poisoned)  # one user alone is capped to nothing
        with pytest.raises(ConfigError, match="0 after the per-user cap of 20%"):
            retrain_classifier(session, "breast", out_root=tmp_path, cap=0.2)
        session.rollback()  # a fresh read of the database

    # the honest feedback is accepted and the model retrained from the command line
    accepted = _run_cli("feedback", "accept", *map(str, honest), "--db", database_url)
    assert accepted.returncode == 0, accepted.stderr
    retrained = _run_cli(
        "retrain", "breast", "--auto-promote", "--max-epochs", "1", "--n-boot", "50",
        "--db", database_url,
        "--data-dir", str(tmp_path / "cli"), PRECISIONMED_FEEDBACK_CAP_PER_USER="0.4",
    )  # fmt: skip
    assert retrained.returncode == 0, retrained.stderr
    row = json.loads(retrained.stdout)
    assert Path(row["path"]).is_relative_to(tmp_path / "cli" / "registry")
    with api.app.state.sessions() as session:
        candidate = registry.find_version(session, "breast", row["version"])
        evaluation = candidate.evaluation
        mallory_id = str(_user_id(api, "mallory"))
        assert evaluation["feedback"]["dropped_by_cap"] == {mallory_id: 6}
        assert evaluation["feedback"]["share_by_user_after_cap"][mallory_id] <= 0.4
        # the locked test set: the production's dataset and subset (48 images), by checksum
        assert evaluation["locked_test"]["n"] == 48
        assert len(evaluation["locked_test"]["sha256"]) == 64
        assert evaluation["holdout_accuracy"]["n"] == 3
        test = evaluation["locked_test_accuracy"]
        assert 0 <= test["candidate"] <= 1
        assert test["difference"]["low"] <= test["difference"]["high"]
        assert test["difference"]["n_boot"] > 0
        gate = evaluation["gate"]
        assert gate["passed"] == (
            test["difference"]["low"] > -0.01
            and evaluation["holdout_accuracy"]["candidate"]
            > evaluation["holdout_accuracy"]["production"]
        )
        # --auto-promote promoted it exactly when the gate passed; promote refuses otherwise
        assert row["stage"] == ("production" if gate["passed"] else "candidate")
        assert (registry.production(session, "breast").version == candidate.version) == gate[
            "passed"
        ]
        if not gate["passed"]:
            with pytest.raises(ConfigError, match="the gate refused it"):
                registry.promote(session, "breast", candidate.version)


def _user_id(api: Api, username: str) -> int:
    from sqlalchemy import select

    from precisionmed.service.models import User

    with api.app.state.sessions() as session:
        return session.scalar(select(User.id).where(User.username == username))


@pytest.fixture(scope="module")
def table_models_dir(tmp_path_factory: pytest.TempPathFactory, models_dir: Path) -> Path:
    """A models directory with a clinical classifier ("wisconsin": a 20-tree random forest on
    the Wisconsin breast-cancer cohort) beside the session's survival model ("gbsg2")."""
    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.data import load_dataset

    root = tmp_path_factory.mktemp("table-models")
    data = load_dataset("breast-cancer-wisconsin")
    train_clinical_model(
        data, "rf", root / "wisconsin", interval_models=0, n_boot=10, explain=False,
        params={"n_estimators": 20},
    )  # fmt: skip
    (root / "gbsg2").symlink_to(models_dir / "gbsg2", target_is_directory=True)
    return root


def test_a_clinical_classifier_is_retrained_from_corrected_records(
    make_app: Any, database_url: str, table_models_dir: Path, tmp_path: Path
) -> None:
    import precisionmed
    from precisionmed.clinical.training import holdout_split
    from precisionmed.data import load_dataset
    from precisionmed.service import registry
    from precisionmed.service.retrain import retrain_classifier

    api = Api(make_app(models_dir=table_models_dir))
    doc, doc2 = api.add_user("doc", "clinician"), api.add_user("doc2", "clinician")
    admin = api.add_user("root", "admin")
    data = load_dataset("breast-cancer-wisconsin")
    train, test = holdout_split(data, seed=0)
    ids = []
    for i, who in zip(train[:12], [doc, doc2] * 6, strict=True):  # training patients, real labels
        record = {k: float(v) for k, v in data.X.iloc[i].items()}
        case = api.client.post(
            "/cases", headers=who, files=upload("r.json", json.dumps(record).encode())
        )
        assert case.status_code == 201, case.text
        (prediction,) = [p for p in case.json()["predictions"] if p["model_name"] == "wisconsin"]
        predicted = data.target_names[int(prediction["prediction"] >= 0.5)]
        label = data.target_names[int(data.y[i])]
        body = {"verdict": "confirmed" if predicted == label else "corrected", "label": label}
        response = api.client.post(f"/cases/{case.json()['id']}/feedback", headers=who, json=body)
        ids.append(response.json()["id"])
    _accept(api, admin, ids)

    retrained = _run_cli(
        "retrain", "wisconsin", "--n-boot", "50", "--db", database_url,
        "--data-dir", str(tmp_path / "cli"), PRECISIONMED_FEEDBACK_CAP_PER_USER="0.5",
    )  # fmt: skip
    assert retrained.returncode == 0, retrained.stderr
    row = json.loads(retrained.stdout)
    assert row["kind"] == "clinical-model"
    assert row["stage"] == "candidate"
    evaluation = row["evaluation"]
    # the locked test set is the production's held-out split; 4 of 12 records held out
    assert evaluation["locked_test"]["n"] == len(test)
    assert evaluation["holdout_accuracy"]["n"] == 4
    assert (
        sorted(evaluation["feedback"]["train_ids"] + evaluation["feedback"]["holdout_ids"]) == ids
    )
    candidate = precisionmed.load(row["path"])
    assert candidate.config["split"]["n_train"] == len(train) + 8  # the training records added
    assert candidate.config["retrained_from"]["n_extra"] == 8
    x_test, y_test = candidate.test_arrays()  # the candidate keeps the same locked test set
    assert len(y_test) == len(test)
    accuracy = float(np.mean(candidate.predict_labels(x_test) == y_test))
    assert evaluation["locked_test_accuracy"]["candidate"] == pytest.approx(accuracy)
    test_figures, hold = evaluation["locked_test_accuracy"], evaluation["holdout_accuracy"]
    assert evaluation["gate"]["passed"] == (
        test_figures["difference"]["low"] > -0.01 and hold["candidate"] > hold["production"]
    )
    with api.app.state.sessions() as session:
        assert registry.production(session, "wisconsin").version != row["version"]
        # a survival model predicts no class: a clinician's label cannot train it
        with pytest.raises(ConfigError, match="predicts no classes"):
            retrain_classifier(session, "gbsg2", out_root=tmp_path / "gbsg2")
