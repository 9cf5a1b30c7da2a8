"""Explanations through the API: the Grad-CAM overlay of an image case (cached beside the upload,
every read audited), a segmenter's mask and figures, survival curves and calibrated confidence in
the prediction payload."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import require_dataset, require_path
from tests.service.conftest import Api, upload

HIPPOCAMPUS = "imaging/nifti/msd_task04_hippocampus/imagesTr/hippocampus_003.nii.gz"


def breast_png() -> bytes:
    """A BreastMNIST test image (28 px grey) as PNG bytes."""
    from PIL import Image

    from precisionmed.data import load_dataset

    images, _ = load_dataset("breastmnist").splits["test"]  # uint8 (N, H, W)
    buffer = io.BytesIO()
    Image.fromarray(images[0]).save(buffer, format="PNG")
    return buffer.getvalue()


def _image_case(api: Api, headers: dict[str, str]) -> dict[str, Any]:
    response = api.client.post("/cases", headers=headers, files=upload("x.png", breast_png()))
    assert response.status_code == 201, response.text
    return response.json()


def test_the_gradcam_overlay_is_a_png_of_the_upload_cached_and_audited(api: Api) -> None:
    from PIL import Image

    doc = api.add_user("doc", "clinician")  # user 1
    case = _image_case(api, doc)
    (prediction,) = case["predictions"]
    values = prediction["record"]["values"]
    assert prediction["confidence"] == pytest.approx(values[prediction["prediction"]])
    assert prediction["confidence"] == max(values.values())

    first = api.client.get(f"/cases/{case['id']}/explanation", headers=doc)
    assert first.status_code == 200, first.text
    assert first.headers["content-type"] == "image/png"
    assert first.headers["x-explained-class"] == prediction["prediction"]
    assert float(first.headers["x-probability"]) == pytest.approx(prediction["confidence"], 1e-4)
    overlay = Image.open(io.BytesIO(first.content))
    assert overlay.size == (28, 28)  # drawn on the upload at its own size
    assert overlay.mode in ("RGB", "RGBA")

    # cached beside the upload, named after it (a day's uploads share a folder)
    other = _image_case(api, doc)
    assert api.client.get(f"/cases/{other['id']}/explanation", headers=doc).status_code == 200
    cached = sorted(api.app.state.settings.uploads_dir.rglob("*.gradcam_*"))
    assert len({p.name.split(".")[0] for p in cached}) == 2  # one per upload
    assert sorted(p.suffix for p in cached) == [".json", ".json", ".png", ".png"]
    stem = _stored_name(api, case["id"])
    png = next(p for p in cached if p.name.startswith(f"{stem}.") and p.suffix == ".png")
    stamp = png.stat().st_mtime_ns
    second = api.client.get(f"/cases/{case['id']}/explanation?model=breast", headers=doc)
    assert second.content == first.content
    assert png.stat().st_mtime_ns == stamp  # read from the cache, not drawn again
    reads = [r for r in api.audit_rows() if r[1:] == ("read", "prediction", prediction["id"])]
    assert len(reads) == 2


def _stored_name(api: Api, case_id: int) -> str:
    """The stored upload's file name without its suffixes."""
    from precisionmed.service.models import Case

    with api.app.state.sessions() as session:
        case = session.get(Case, case_id)
        assert case is not None
        assert case.stored_path is not None
        return Path(case.stored_path).name.split(".")[0]


def test_explanations_need_a_token_and_hide_another_clinicians_case(api: Api) -> None:
    alice = api.add_user("alice", "clinician")  # user 1
    bob = api.add_user("bob", "clinician")  # user 2
    researcher = api.add_user("res", "researcher")
    case_id = _image_case(api, alice)["id"]
    url = f"/cases/{case_id}/explanation"
    assert api.client.get(url).status_code == 401
    response = api.client.get(url, headers=bob)
    assert response.status_code == 404
    assert (2, "denied", "case", case_id) in api.audit_rows()
    assert api.client.get(url, headers=researcher).status_code == 200
    missing = api.client.get(url + "?model=gbsg2", headers=alice)
    assert missing.status_code == 404
    assert "model: case" in missing.json()["detail"]
    assert "no image-classifier prediction by 'gbsg2'" in missing.json()["detail"]


def test_a_record_case_has_no_overlay_and_carries_its_survival_curve(
    api: Api, gbsg2_record: dict[str, Any]
) -> None:
    doc = api.add_user("doc", "clinician")
    response = api.client.post(
        "/cases", headers=doc, files=upload("p.json", json.dumps(gbsg2_record).encode())
    )
    case = response.json()
    (prediction,) = case["predictions"]
    curve = prediction["survival_curve"]
    assert curve["time_unit"] == prediction["record"]["details"]["time_unit"]
    times, survival = np.array(curve["times"]), np.array(curve["survival"], dtype=float)
    assert len(times) == len(survival) > 10
    assert np.all(np.diff(times) > 0)
    assert np.all((survival >= 0) & (survival <= 1))
    assert np.all(np.diff(survival) <= 1e-9)  # a survival function never rises
    assert prediction["confidence"] is None  # a risk score, not a class
    refused = api.client.get(f"/cases/{case['id']}/explanation", headers=doc)
    assert refused.status_code == 422
    assert "expected an image case; got a record case" in refused.json()["detail"]


@pytest.fixture(scope="module")
def segmenter_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A models directory serving one tiny hippocampus segmenter (1 epoch, 6 volumes)."""
    from precisionmed.imaging.segmentation import train_segmenter
    from precisionmed.train import TrainConfig

    require_dataset("msd-hippocampus")
    root = tmp_path_factory.mktemp("segmodels")
    config = TrainConfig(
        max_epochs=1, batch_size=2, progress=False, seed=0, monitor="val_dice", mode="max"
    )
    train_segmenter(
        "msd-hippocampus",
        "unet-small",
        config,
        root / "hippo",
        max_train_cases=6,
        max_test_cases=2,
        n_boot=10,
        val_fraction=0.34,
    )
    return root


def test_a_segmenter_gives_the_mask_as_nifti_and_png_and_its_volumes(
    make_app: Any, segmenter_dir: Path, tmp_path: Path
) -> None:
    from PIL import Image

    from precisionmed.io import read_nifti

    api = Api(make_app(models_dir=segmenter_dir))
    doc = api.add_user("doc", "clinician")
    other = api.add_user("other", "clinician")
    volume = require_path(HIPPOCAMPUS).read_bytes()
    response = api.client.post("/cases", headers=doc, files=upload("v.nii.gz", volume))
    assert response.status_code == 201, response.text
    case = response.json()
    (prediction,) = case["predictions"]
    assert prediction["model_kind"] == "image-segmenter"

    figures = api.client.get(f"/cases/{case['id']}/segmentation", headers=doc)
    assert figures.status_code == 200, figures.text
    body = figures.json()
    assert body["labels"] == {"0": "background", "1": "Anterior", "2": "Posterior"}
    nifti = api.client.get(f"/cases/{case['id']}/segmentation/mask?format=nifti", headers=doc)
    assert nifti.status_code == 200
    (tmp_path / "mask.nii.gz").write_bytes(nifti.content)
    mask = read_nifti(tmp_path / "mask.nii.gz", canonical=False, labels=True).array
    assert list(mask.shape) == body["shape"]
    voxel = float(np.prod(body["spacing_mm"]))
    for value, name in ((1, "Anterior"), (2, "Posterior")):
        assert body["volume_mm3"][name] == pytest.approx(float((mask == value).sum()) * voxel)
        # the same figures as the prediction stored with the case
        assert body["volume_mm3"][name] == pytest.approx(
            prediction["record"]["values"][f"volume_mm3_{name}"]
        )
        assert 0 <= body["area_mm2"][name] <= body["volume_mm3"][name]
    png = api.client.get(f"/cases/{case['id']}/segmentation/mask", headers=doc)
    assert png.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(png.content)).size == (mask.shape[2], mask.shape[1])
    assert api.client.get(f"/cases/{case['id']}/segmentation", headers=other).status_code == 404
    reads = [r for r in api.audit_rows() if r[1:] == ("read", "prediction", prediction["id"])]
    assert len(reads) == 3


def train_models_with_intervals(root: Path) -> Path:
    """``root`` serving a clinical risk classifier ("wdbc", random forest on Breast Cancer
    Wisconsin) and a survival model ("gbsg2", Cox on GBSG2), each with bootstrap intervals."""
    from precisionmed.clinical.training import train_clinical_model
    from precisionmed.data import load_dataset

    require_dataset("breast-cancer-wisconsin")
    require_dataset("gbsg2")
    train_clinical_model(load_dataset("breast-cancer-wisconsin"), "rf", root / "wdbc",
                         interval_models=3, n_boot=10, explain=False,
                         params={"n_estimators": 20})  # fmt: skip
    train_clinical_model(load_dataset("gbsg2"), "coxph", root / "gbsg2", interval_models=3,
                         n_boot=10, explain=False)  # fmt: skip
    return root


@pytest.fixture(scope="module")
def risk_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """See :func:`train_models_with_intervals`."""
    return train_models_with_intervals(tmp_path_factory.mktemp("riskmodels"))


def test_a_clinical_risk_comes_with_its_probability_interval_and_calibration(
    make_app: Any, risk_model_dir: Path
) -> None:
    import precisionmed
    from precisionmed.data import load_dataset

    api = Api(make_app(models_dir=risk_model_dir))
    doc = api.add_user("doc", "clinician")
    row = load_dataset("breast-cancer-wisconsin").X.iloc[0]
    record = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
    response = api.client.post(
        "/cases", headers=doc, files=upload("p.json", json.dumps(record).encode())
    )
    assert response.status_code == 201, response.text
    (prediction,) = response.json()["predictions"]
    body = prediction["record"]
    probability = body["values"]["probability"]
    expected = precisionmed.load(risk_model_dir / "wdbc").predict_table(row.to_frame().T)
    assert probability == pytest.approx(expected.patients[0]["probability"])
    assert prediction["prediction"] == probability  # the headline is the risk itself
    low, high = body["interval"]["probability"]
    assert 0 <= low <= high <= 1
    assert 0 < body["interval_level"] < 1  # 3 refits: their range, labelled with its level
    assert "brier" in json.dumps(body["calibration"])
    assert prediction["survival_curve"] is None


def test_a_survival_curve_comes_with_its_band(
    make_app: Any, risk_model_dir: Path, gbsg2_record: dict[str, Any]
) -> None:
    api = Api(make_app(models_dir=risk_model_dir))
    doc = api.add_user("doc", "clinician")
    response = api.client.post(
        "/cases", headers=doc, files=upload("p.json", json.dumps(gbsg2_record).encode())
    )
    assert response.status_code == 201, response.text
    (prediction,) = response.json()["predictions"]  # the record has gbsg2's fields only
    curve = prediction["survival_curve"]
    low, high = np.array(curve["low"], dtype=float), np.array(curve["high"], dtype=float)
    assert len(low) == len(high) == len(curve["times"])
    assert np.all(low <= high)
    assert np.all((low >= 0) & (high <= 1))
    assert curve["band_level"] == prediction["record"]["interval_level"]
    assert 0 < curve["band_level"] < 1
    risk_low, risk_high = prediction["record"]["interval"]["risk"]
    assert risk_low <= risk_high


def test_an_upload_goes_only_to_the_models_of_its_dimensionality(
    make_app: Any, models_dir: Path, segmenter_dir: Path, tmp_path: Path
) -> None:
    """A PNG is not given to a 3-D segmenter served beside a 2-D classifier, nor a volume to the
    classifier."""
    import shutil

    both = tmp_path / "both"
    shutil.copytree(models_dir / "breast", both / "breast")
    shutil.copytree(segmenter_dir / "hippo", both / "hippo")
    api = Api(make_app(models_dir=both))
    doc = api.add_user("doc", "clinician")
    png = api.client.post("/cases", headers=doc, files=upload("x.png", breast_png()))
    assert png.status_code == 201, png.text
    assert [p["model_name"] for p in png.json()["predictions"]] == ["breast"]
    volume = require_path(HIPPOCAMPUS).read_bytes()
    nifti = api.client.post("/cases", headers=doc, files=upload("v.nii.gz", volume))
    assert nifti.status_code == 201, nifti.text
    assert [p["model_name"] for p in nifti.json()["predictions"]] == ["hippo"]


def test_a_png_sent_to_a_3d_segmenter_alone_is_refused_with_the_reason(
    make_app: Any, segmenter_dir: Path
) -> None:
    only = Api(make_app(models_dir=segmenter_dir))
    doc = only.add_user("doc", "clinician")
    refused = only.client.post("/cases", headers=doc, files=upload("x.png", breast_png()))
    assert 400 <= refused.status_code < 500
    assert "no production model takes 2-D image inputs" in refused.json()["detail"]
    assert "hippo (3-D)" in refused.json()["detail"]
