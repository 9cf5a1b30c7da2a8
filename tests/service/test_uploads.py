"""Bad uploads get a 4xx with a message saying what is wrong: oversized, truncated, wrong type,
zip and decompression bombs, records without the model's fields."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pytest

from tests.conftest import require_path
from tests.service.conftest import Api, upload

CT = "imaging/dicom/ct/CT_small.dcm"


def _post(api: Api, headers: dict[str, str], name: str, data: bytes) -> Any:
    return api.client.post("/cases", headers=headers, files=upload(name, data))


def _png(width: int, height: int) -> bytes:
    import numpy as np
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.zeros((height, width), np.uint8)).save(out, format="PNG")
    return out.getvalue()


def _nifti(shape: tuple[int, ...]) -> bytes:
    import nibabel as nib
    import numpy as np

    return nib.Nifti1Image(np.zeros(shape, np.float32), np.eye(4)).to_bytes()


@pytest.fixture
def doc(api: Api) -> dict[str, str]:
    return api.add_user("doc", "clinician")


def test_an_oversized_upload_gets_413_before_it_is_read(make_app: Any) -> None:
    api = Api(make_app(max_upload_bytes=10_000))
    doc = api.add_user("doc", "clinician")
    response = _post(api, doc, "big.dcm", require_path(CT).read_bytes())  # 39 kB
    assert response.status_code == 413
    assert "limit" in response.json()["detail"]
    assert api.client.get("/cases", headers=doc).json() == []


@pytest.mark.parametrize(
    ("name", "make", "expected"),
    [
        ("scan.dcm", lambda: require_path(CT).read_bytes()[:20_000], "truncated"),
        ("photo.png", lambda: _png(64, 64)[:-40], "truncated"),
        ("brain.nii", lambda: _nifti((16, 16, 8))[:-500], "truncated"),
        ("brain.nii.gz", lambda: gzip.compress(_nifti((16, 16, 8)))[:-30], "truncated"),
        ("notes.json", lambda: b'{"age": 5', "invalid JSON"),
        ("list.json", lambda: b"[1, 2]", "expected a JSON object"),
        ("empty.png", lambda: b"", "empty"),
    ],
)
def test_truncated_or_malformed_uploads_get_422(
    api: Api, doc: dict[str, str], name: str, make: Any, expected: str
) -> None:
    response = _post(api, doc, name, make())
    assert response.status_code == 422, response.text
    assert expected in response.json()["detail"]
    assert api.client.get("/cases", headers=doc).json() == []
    assert not api.app.state.settings.uploads_dir.exists() or not any(
        api.app.state.settings.uploads_dir.rglob("*.*")
    )


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("report.pdf", b"%PDF-1.7\n%binary", "unsupported file type"),
        ("scans.zip", b"PK\x03\x04" + b"\0" * 100, "a zip archive"),
        ("notes.txt", b"patient is well", "unsupported file type"),
        ("data.gz", gzip.compress(b"not an image" * 100), "not a NIfTI"),
    ],
)
def test_wrong_types_get_415(
    api: Api, doc: dict[str, str], name: str, data: bytes, expected: str
) -> None:
    response = _post(api, doc, name, data)
    assert response.status_code == 415, response.text
    assert expected in response.json()["detail"]


def test_a_gzip_bomb_is_refused_with_413_without_inflating_it(make_app: Any) -> None:
    api = Api(make_app(max_decoded_bytes=1_000_000))
    doc = api.add_user("doc", "clinician")
    bomb = gzip.compress(_nifti((8, 8, 8)) + b"\0" * 50_000_000, compresslevel=9)
    assert len(bomb) < 100_000
    response = _post(api, doc, "bomb.nii.gz", bomb)
    assert response.status_code == 413
    assert "zip bomb" in response.json()["detail"]


def test_a_deflated_dicom_is_refused_with_415_before_it_is_inflated(
    api: Api, doc: dict[str, str]
) -> None:
    import pydicom
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    ds = pydicom.dcmread(require_path(CT))
    ds.file_meta.TransferSyntaxUID = DeflatedExplicitVRLittleEndian
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    response = _post(api, doc, "deflated.dcm", out.getvalue())
    assert response.status_code == 415
    assert "deflated DICOM" in response.json()["detail"]


def test_a_png_decompression_bomb_is_refused_with_413(make_app: Any) -> None:
    api = Api(make_app(max_decoded_bytes=1_000_000))
    doc = api.add_user("doc", "clinician")
    bomb = _png(4000, 4000)  # 16 MB of pixels in a few kB
    assert len(bomb) < 50_000
    response = _post(api, doc, "bomb.png", bomb)
    assert response.status_code == 413
    assert "decodes to 16,000,000 bytes" in response.json()["detail"]


def test_a_png_is_predicted_by_the_image_model(api: Api, doc: dict[str, str]) -> None:
    from precisionmed.data import load_dataset

    images = load_dataset("breastmnist")  # noqa: F841 (the mirror must have it)
    response = _post(api, doc, "scan.png", _png(28, 28))
    assert response.status_code == 201, response.text
    assert response.json()["predictions"][0]["model_name"] == "breast"


def test_a_volume_the_2d_model_cannot_take_gets_422_naming_the_model(
    api: Api, doc: dict[str, str]
) -> None:
    response = _post(api, doc, "brain.nii.gz", gzip.compress(_nifti((16, 16, 8))))
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail.startswith("upload: no production model takes 3-D image inputs")
    assert "breast (2-D)" in detail
    assert str(api.app.state.settings.data_dir) not in detail  # no server path in messages


def test_a_record_without_the_models_fields_gets_422_naming_them(
    api: Api, doc: dict[str, str]
) -> None:
    response = _post(api, doc, "p.json", json.dumps({"age": 50, "name": "x"}).encode())
    assert response.status_code == 422
    assert "gbsg2 needs" in response.json()["detail"]
    assert "tsize" in response.json()["detail"]
