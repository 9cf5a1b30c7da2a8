"""The model registry: versions with their metrics, data checksums and stage; promotion from the
command line (a fresh subprocess) is served by a running app from its next request; the gate
refuses a version without evidence."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Api, upload
from tests.service.test_cli import _cli


def test_models_register_promote_archive_switch_the_served_version(
    make_app: Any,
    database_url: str,
    models_dir: Path,
    tmp_path: Path,
    gbsg2_record: dict[str, Any],
) -> None:
    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.data import load_dataset

    served = tmp_path / "served"
    shutil.copytree(models_dir / "gbsg2", served / "gbsg2")
    api = Api(make_app(models_dir=served))
    doc = api.add_user("doc", "clinician")
    record = upload("p.json", json.dumps(gbsg2_record).encode())
    first = api.client.post("/cases", headers=doc, files=record).json()["predictions"][0]

    candidate = tmp_path / "candidate"
    train_clinical_model(
        load_dataset("gbsg2"), "coxph", candidate, seed=1, interval_models=0, n_boot=10,
        explain=False,
    )  # fmt: skip
    db = ("--db", database_url)
    assert _cli("models", "register", str(candidate), "--name", "gbsg2", *db).returncode == 0
    (row,) = [
        r
        for r in json.loads(_cli("models", "list", "gbsg2", "--json", *db).stdout)
        if r["stage"] == "candidate"
    ]
    assert row["dataset"] == "gbsg2"
    assert row["test_metrics"] is not None
    # a version not made by retrain has no gate evidence: refused unless forced
    refused = _cli("models", "promote", "gbsg2", row["version"][:12], *db)
    assert refused.returncode == 1
    assert "no gate evaluation" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    assert _cli("models", "promote", "gbsg2", row["version"][:8], "--force", *db).returncode == 0

    second = api.client.post("/cases", headers=doc, files=record).json()["predictions"][0]
    assert second["model_version"] == row["version"] != first["model_version"]
    stages = {
        r["version"]: r["stage"] for r in api.client.get("/models/versions", headers=doc).json()
    }
    assert stages == {first["model_version"]: "archived", row["version"]: "production"}

    assert _cli("models", "archive", "gbsg2", row["version"][:8], *db).returncode == 0
    response = api.client.post("/cases", headers=doc, files=record)
    assert response.status_code == 422  # no production model takes records now
    assert "(no model)" in response.json()["detail"]


def test_only_admins_promote_through_the_api(api: Api) -> None:
    doc = api.add_user("doc", "clinician")
    admin = api.add_user("root", "admin")
    (breast,) = [
        r for r in api.client.get("/models/versions", headers=doc).json() if r["name"] == "breast"
    ]
    url = f"/models/breast/versions/{breast['version'][:12]}/archive"
    assert api.client.post(url, headers=doc).status_code == 403
    response = api.client.post(url, headers=admin)
    assert response.status_code == 200
    assert response.json()["stage"] == "archived"
    assert [m["name"] for m in api.client.get("/models", headers=doc).json()] == ["gbsg2"]


@pytest.mark.parametrize(
    ("counts", "cap", "expected"),
    [([12], 0.2, 0), ([3, 3, 10], 0.4, 4), ([5, 5, 5, 5, 5], 0.2, 5), ([1, 1, 1, 1, 20], 0.2, 1)],
)
def test_the_per_user_cap_keeps_every_users_share_under_it(
    counts: list[int], cap: float, expected: int
) -> None:
    from precisionmed.service.feedback import cap_count

    t = cap_count(counts, cap)
    assert t == expected
    kept = [min(n, t) for n in counts]
    assert sum(kept) == 0 or max(kept) <= cap * sum(kept) + 1e-9
