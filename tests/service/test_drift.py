"""Input drift on ``/metrics``: image intensities and record features against a reference, summed
over every worker of ``precisionmed serve --workers 2``."""

from __future__ import annotations

import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.service.conftest import SECRET, Api, upload
from tests.service.test_durability import REPO, _free_port, _wait_healthy
from tests.service.test_feedback_loop import _png


def _metric(text: str, name: str, **labels: str) -> float:
    """The one value of ``name`` whose labels include ``labels`` in Prometheus text."""
    values = []
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and all(f'{k}="{v}"' in match.group(1) for k, v in labels.items()):
            values.append(float(match.group(2)))
    assert len(values) == 1, f"{name} {labels}: {values}"
    return values[0]


def test_drift_against_training_statistics_and_the_first_inputs_is_a_known_z_score() -> None:
    from prometheus_client import CollectorRegistry

    from precisionmed.service.drift import DriftMonitor

    monitor = DriftMonitor(CollectorRegistry(), window=4)
    reference = {"intensity_mean": (0.5, 0.1)}  # intensity_std has none: first inputs
    for value in (0.5, 0.5, 0.4, 0.6, 0.9, 0.9, 0.9, 0.9, 0.9):
        monitor.observe("m", "v" * 64, {"intensity_mean": value, "intensity_std": value}, reference)
    rows = {r["feature"]: r for r in monitor.snapshot()}
    # the training reference: the window holds the last four inputs (all 0.9)
    assert rows["intensity_mean"]["recent"] == {"n": 4, "mean": pytest.approx(0.9)}
    assert rows["intensity_mean"]["z"] == pytest.approx((0.9 - 0.5) / (0.1 / 2))
    # the first four inputs are the baseline, the next (up to four) the recent window
    base = np.array([0.5, 0.5, 0.4, 0.6])
    ref = rows["intensity_std"]["reference"]
    assert ref["source"] == "first-inputs"
    assert ref["n"] == 4
    assert ref["mean"] == pytest.approx(base.mean())
    assert ref["std"] == pytest.approx(base.std(ddof=1))
    assert rows["intensity_std"]["z"] == pytest.approx((0.9 - 0.5) / (base.std(ddof=1) / 2))


def test_metrics_show_the_drift_of_uploaded_images_from_the_first_inputs(make_app: Any) -> None:
    from precisionmed.imaging import load_classification_data

    api = Api(make_app(drift_window=5))
    doc, admin = api.add_user("doc", "clinician"), api.add_user("root", "admin")
    x = load_classification_data("breastmnist", subset=5).arrays["val"][0]
    for image in [*x, *(1.0 - x)]:  # five like training, then five inverted
        response = api.client.post("/cases", headers=doc, files=upload("x.png", _png(image)))
        assert response.status_code == 201
    text = api.client.get("/metrics", headers=admin).text
    z = _metric(text, "precisionmed_input_drift_z", model="breast", feature="intensity_mean")
    assert abs(z) > 3
    assert 'reference="first-inputs"' in text
    mean = _metric(
        text, "precisionmed_input_feature_mean", model="breast", feature="intensity_mean"
    )
    assert mean == pytest.approx(float(np.mean(1.0 - x)), abs=0.01)


def _training_statistics(column: str) -> tuple[float, float]:
    """A GBSG2 column's mean and (population) standard deviation over the model's training
    patients, computed here from the data (the service reads them from the fitted model)."""
    from precisionmed.clinical.training import holdout_split
    from precisionmed.data import load_dataset

    data = load_dataset("gbsg2")
    train, _ = holdout_split(data, seed=0)
    values = data.X[column].to_numpy(dtype=float)[train]
    return float(values.mean()), float(values.std())


def _records(n: int) -> list[dict[str, Any]]:
    from precisionmed.data import load_dataset

    rows = load_dataset("gbsg2").X.iloc[:n].to_dict(orient="records")
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in r.items()} for r in rows]


def _expected_z(records: list[dict[str, Any]], column: str) -> float:
    mean, std = _training_statistics(column)
    values = np.array([r[column] for r in records], dtype=float)
    return (values.mean() - mean) / (std / math.sqrt(len(values)))


def test_record_features_drift_against_the_training_statistics(api: Api) -> None:
    import json

    doc, admin = api.add_user("doc", "clinician"), api.add_user("root", "admin")
    records = _records(6)
    for record in records:
        files = upload("case.json", json.dumps(record).encode())
        assert api.client.post("/cases", headers=doc, files=files).status_code == 201
    text = api.client.get("/metrics", headers=admin).text
    for column in ("age", "pnodes"):
        z = _metric(
            text, "precisionmed_input_drift_z", model="gbsg2", feature=column, reference="training"
        )
        assert z == pytest.approx(_expected_z(records, column), rel=1e-6)


def test_two_workers_report_the_drift_of_all_their_inputs(models_dir: Path, tmp_path: Path) -> None:
    """``serve --workers 2``: uploads land on both workers; every scrape, whichever worker
    answers, reports the statistic over all the uploads (each worker alone saw only some)."""
    import json

    port, data_dir = _free_port(), tmp_path / "data"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "src"),
        "PRECISIONMED_SECRET_KEY": SECRET,
        "PRECISIONMED_RATE_LIMIT_BURST": "100000",
        "PRECISIONMED_DRIFT_WINDOW": "1000",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    command = [
        sys.executable, "-m", "precisionmed.cli.main", "serve", "--workers", "2",
        "--port", str(port), "--data-dir", str(data_dir), "--models", str(models_dir),
    ]  # fmt: skip
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server, timeout=240)
        password = re.search(r"one-time password: (\S+)", log.read_text()).group(1)
        token = httpx.post(
            f"{base}/auth/token", data={"username": "admin", "password": password}, timeout=120
        ).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        sent: list[dict[str, Any]] = []
        pool = _records(60)
        metrics_dir = data_dir / "metrics"
        # each upload on a new connection, until both workers have predicted some
        while len(sent) < len(pool) and (len(sent) < 6 or len(_pids(metrics_dir)) < 2):
            record = pool[len(sent)]
            response = httpx.post(
                f"{base}/cases", headers=admin, timeout=120,
                files=upload("case.json", json.dumps(record).encode()),
            )  # fmt: skip
            assert response.status_code == 201, response.text
            sent.append(record)
        assert len(_pids(metrics_dir)) == 2, f"one worker took all {len(sent)} uploads"
        for _ in range(4):  # new connections: the scrapes are answered by either worker
            text = httpx.get(f"{base}/metrics", headers=admin, timeout=120).text
            labels = {"model": "gbsg2", "feature": "age"}
            assert _metric(text, "precisionmed_input_recent_count", **labels) == len(sent)
            z = _metric(text, "precisionmed_input_drift_z", **labels, reference="training")
            assert z == pytest.approx(_expected_z(sent, "age"), rel=1e-6)
        # the admin page's figures are the same sums
        rows = httpx.get(f"{base}/admin/drift", headers=admin, timeout=120).json()
        (age,) = [r for r in rows if r["model"] == "gbsg2" and r["feature"] == "age"]
        assert age["recent"]["n"] == len(sent)
        assert age["z"] == pytest.approx(_expected_z(sent, "age"), rel=1e-6)
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=120)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _pids(folder: Path) -> set[str]:
    """Worker processes that wrote a recent window (``gauge_livesum_<pid>.db``)."""
    deadline = time.monotonic() + 1
    while not folder.is_dir() and time.monotonic() < deadline:
        time.sleep(0.05)
    return {p.stem.rsplit("_", 1)[1] for p in folder.glob("gauge_livesum_*.db")}
