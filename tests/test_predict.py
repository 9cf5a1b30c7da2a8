"""The predictor contract (precisionmed.predict): specs round-trip through JSON, records are
always valid JSON, and every registered predictor implements the contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from precisionmed.predict import (
    ColumnSpec,
    ImageInputSpec,
    PredictionRecord,
    Predictor,
    TableInputSpec,
    dicom_modalities,
    input_spec_from_dict,
    modality_warning,
)

XRAY = ImageInputSpec(
    modality="x-ray",
    dicom_modalities=dicom_modalities("x-ray"),
    photometric="MONOCHROME2",
    channels=1,
    spatial_dims=2,
    size=(28, 28),
    source_range=(0.0, 255.0),
    intensity_range=(0.0, 1.0),
    scaling="8-bit / 255",
)


def test_input_specs_round_trip_through_json() -> None:
    table = TableInputSpec(
        columns=(
            ColumnSpec("age", "numeric", "float64", min=21.0, max=80.0),
            ColumnSpec("grade", "categorical", "category", categories=["I", "II"]),
        )
    )
    for spec in (XRAY, table):
        assert input_spec_from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_modality_warning_names_both_modalities_and_only_when_they_differ() -> None:
    warning = modality_warning("CT", XRAY)
    assert warning is not None
    assert "DICOM modality is CT" in warning
    assert "x-ray" in warning
    assert modality_warning("CR", XRAY) is None
    assert modality_warning("dx", XRAY) is None
    assert modality_warning(None, XRAY) is None  # a PNG declares no modality


def test_records_hold_plain_json_values_and_never_nan() -> None:
    record = PredictionRecord(
        model="m",
        model_version="0" * 64,
        kind="image-classifier",
        input="a.png",
        prediction="pneumonia",
        values={"normal": np.float32(0.25), "pneumonia": np.float64(0.75)},
        interval={"pneumonia": [np.float64(np.nan), 0.9]},
        interval_level=0.95,
        warnings=("The image was resized.",),
    )
    data = json.loads(json.dumps(record.to_dict(), allow_nan=False))  # no default= needed
    assert data["values"] == {"normal": 0.25, "pneumonia": 0.75}
    assert data["interval"] == {"pneumonia": [None, 0.9]}
    assert data["warnings"][0] == "The image was resized."
    assert "interval.pneumonia was nan" in data["warnings"][1]


def test_every_registered_predictor_implements_the_contract() -> None:
    pytest.importorskip("torch")
    import importlib
    import importlib.util

    from precisionmed.artifacts.registry import PILLARS, PREDICTORS

    # what precisionmed.load does: each pillar's PREDICTOR_MODULES register its predictors (run
    # alone, this test once saw only those that the pillars' __init__ happened to import)
    for pillar in PILLARS:
        if importlib.util.find_spec(f"precisionmed.{pillar}") is None:  # not built yet
            continue
        package = importlib.import_module(f"precisionmed.{pillar}")
        for module in getattr(package, "PREDICTOR_MODULES", ()):
            importlib.import_module(module)

    expected = {"clinical-model", "image-classifier", "image-segmenter", "molecular-property",
                "drug-target-affinity"}  # fmt: skip
    assert expected <= set(PREDICTORS.names())
    for name, cls in PREDICTORS.items():
        assert issubclass(cls, Predictor), name
        assert cls.kind == name
        assert not getattr(cls, "__abstractmethods__", None), name


def test_the_contract_imports_without_torch() -> None:
    """Services and reports read records and specs without the deep-learning stack."""
    import subprocess
    import sys

    code = "import sys, precisionmed.predict; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
