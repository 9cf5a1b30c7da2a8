"""Input drift on ``/metrics``: intensity statistics of uploaded images against a reference."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from tests.service.conftest import Api, upload
from tests.service.test_feedback_loop import _png


def test_drift_against_recorded_training_statistics_is_a_known_z_score() -> None:
    from prometheus_client import CollectorRegistry

    from precisionmed.service.drift import DriftMonitor

    monitor = DriftMonitor(CollectorRegistry(), window=4)
    config = {"input_statistics": {"image_mean": {"mean": 0.5, "std": 0.1}}}
    for _ in range(4):
        z = monitor.observe("m", "v" * 64, np.full((1, 8, 8), 0.5), config)
    assert z == pytest.approx(0.0)
    for _ in range(4):  # the window now holds only brighter images
        z = monitor.observe("m", "v" * 64, np.full((1, 8, 8), 0.9), config)
    assert z == pytest.approx((0.9 - 0.5) / (0.1 / 2))


def test_metrics_show_the_drift_of_uploaded_images_from_the_first_inputs(make_app: Any) -> None:
    from precisionmed.imaging import load_classification_data

    api = Api(make_app(drift_window=5))
    doc, admin = api.add_user("doc", "clinician"), api.add_user("root", "admin")
    x = load_classification_data("breastmnist", subset=5).arrays["val"][0]
    for image in [*x, *(1.0 - x)]:  # five like training, then five inverted
        response = api.client.post("/cases", headers=doc, files=upload("x.png", _png(image)))
        assert response.status_code == 201
    text = api.client.get("/metrics", headers=admin).text
    (z,) = re.findall(
        r'precisionmed_input_drift_z\{model="breast",reference="first-inputs",'
        r'version="\w+"\} (\S+)',
        text,
    )
    assert abs(float(z)) > 3
    (mean,) = re.findall(
        r'precisionmed_input_intensity_mean\{model="breast",version="\w+"\} (\S+)', text
    )
    assert float(mean) == pytest.approx(float(np.mean(1.0 - x)), abs=0.01)
