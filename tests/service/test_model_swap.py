"""A model directory replaced on disk (a promotion) is served from the next request, without a
restart; ``model_versions`` keeps the old version as archived."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from tests.service.conftest import Api, upload


def test_a_replaced_model_directory_is_served_without_a_restart(
    make_app: Any, models_dir: Path, tmp_path: Path, gbsg2_record: dict[str, Any]
) -> None:
    from sqlalchemy import select

    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.data import load_dataset
    from precisionmed.service.models import ModelVersion

    served = tmp_path / "served"
    shutil.copytree(models_dir / "gbsg2", served / "gbsg2")
    api = Api(make_app(models_dir=served))
    doc = api.add_user("doc", "clinician")
    record = upload("p.json", json.dumps(gbsg2_record).encode())

    first = api.client.post("/cases", headers=doc, files=record).json()["predictions"][0]
    (listed,) = api.client.get("/models", headers=doc).json()
    assert listed["version"] == first["model_version"]

    candidate = tmp_path / "candidate"  # another split: another model, another version
    train_clinical_model(
        load_dataset("gbsg2"),
        "coxph",
        candidate,
        seed=1,
        interval_models=0,
        n_boot=10,
        explain=False,
    )
    (served / "gbsg2").rename(tmp_path / "old")
    candidate.rename(served / "gbsg2")

    second = api.client.post("/cases", headers=doc, files=record).json()["predictions"][0]
    assert second["model_version"] != first["model_version"]
    assert second["prediction"] != first["prediction"]
    (listed,) = api.client.get("/models", headers=doc).json()
    assert listed["version"] == second["model_version"]
    with api.app.state.sessions() as session:
        stages = {r.version: r.stage for r in session.scalars(select(ModelVersion))}
    assert stages == {first["model_version"]: "archived", second["model_version"]: "production"}
