"""Explanations of an image case: the Grad-CAM overlay of a classifier's prediction, and the mask
and measurements of a segmenter.

Both are computed by the served production model's own predictor (``explain``, ``segment``:
reached through the model catalog, i.e. :func:`precisionmed.load`; the service imports no
pillar), once per case and model version, and kept beside the stored upload so that a second
read is a file read. Every read adds an audit row naming the prediction it explains.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import FileResponse, Response
from sqlalchemy.orm import Session

from precisionmed.service.api.cases import CaseId, _visible_case
from precisionmed.service.audit import audit
from precisionmed.service.deps import CatalogDep, CurrentUser, SessionDep
from precisionmed.service.inference import ModelCatalog, ServedModel
from precisionmed.service.models import Case, Prediction, User
from precisionmed.service.schemas import SegmentationPublic

router = APIRouter(prefix="/cases", tags=["explanations"])
ModelName = Annotated[
    str | None,
    Query(
        max_length=128,
        description="The model whose prediction to explain; the case's first one of that kind "
        "when omitted.",
    ),
]
PNG_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}}, "description": "A PNG image."}
}


@router.get("/{case_id}/explanation", response_class=Response, responses=PNG_RESPONSE)
def explanation(
    case_id: CaseId,
    user: CurrentUser,
    session: SessionDep,
    catalog: CatalogDep,
    model: ModelName = None,
) -> Response:
    """The Grad-CAM overlay (PNG, the upload's own size) of an image classifier's prediction.

    The response headers ``X-Explained-Class`` and ``X-Probability`` (calibrated) say what
    the map explains; ``X-Model-Version`` which model version drew it.
    """
    case, prediction, served = _target(session, user, catalog, case_id, model, "image-classifier")
    png = _cached(case, served, "gradcam", ".png")
    meta = png.with_suffix(".json")
    if not (png.is_file() and meta.is_file()):
        predictor, lock = catalog.predictor(served)
        tmp = png.with_name(f".{uuid.uuid4().hex}.png")
        try:
            with lock:
                record = predictor.explain(case.stored_path, tmp)
            os.replace(tmp.with_suffix(".json"), meta)
            os.replace(tmp, png)
        finally:
            tmp.unlink(missing_ok=True)
            tmp.with_suffix(".json").unlink(missing_ok=True)
    else:
        record = json.loads(meta.read_text())
    audit(session, user.id, "read", "prediction", prediction.id, f"grad-cam {served.name}")
    session.commit()
    headers = {
        "X-Explained-Class": str(record["target"]),
        "X-Probability": f"{float(record['probability']):.6f}",
        "X-Model-Version": served.version,
        "Cache-Control": "private, no-store",
    }
    return Response(png.read_bytes(), media_type="image/png", headers=headers)


@router.get("/{case_id}/segmentation", response_model=SegmentationPublic)
def segmentation(
    case_id: CaseId,
    user: CurrentUser,
    session: SessionDep,
    catalog: CatalogDep,
    model: ModelName = None,
) -> SegmentationPublic:
    """A segmenter's measurements of an image case: segmented volume per label and the largest
    structures (volume, location); the mask itself at ``/segmentation/mask``."""
    case, prediction, served = _target(session, user, catalog, case_id, model, "image-segmenter")
    figures = _segmented(case, served, catalog)
    audit(session, user.id, "read", "prediction", prediction.id, f"segmentation {served.name}")
    session.commit()
    return SegmentationPublic(model_name=served.name, model_version=served.version, **figures)


@router.get(
    "/{case_id}/segmentation/mask",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"image/png": {}, "application/gzip": {}},
            "description": "The mask as a PNG overlay or as NIfTI.",
        }
    },
)
def segmentation_mask(
    case_id: CaseId,
    user: CurrentUser,
    session: SessionDep,
    catalog: CatalogDep,
    model: ModelName = None,
    format: Annotated[
        Literal["png", "nifti"],
        Query(
            description="png: the slice with most foreground, labels drawn over the image; "
            "nifti: the whole label map with the image's geometry (.nii.gz)."
        ),
    ] = "png",
) -> FileResponse:
    """The segmentation mask of an image case (PNG overlay or NIfTI label map)."""
    case, prediction, served = _target(session, user, catalog, case_id, model, "image-segmenter")
    _segmented(case, served, catalog)
    path = _cached(case, served, "segmentation", ".png" if format == "png" else ".nii.gz")
    audit(session, user.id, "read", "prediction", prediction.id, f"mask {served.name} {format}")
    session.commit()
    media = "image/png" if format == "png" else "application/gzip"
    name = f"case{case.id}_{served.name}_mask{'.png' if format == 'png' else '.nii.gz'}"
    return FileResponse(path, media_type=media, filename=name)


def _target(
    session: Session,
    user: User,
    catalog: ModelCatalog,
    case_id: int,
    model: str | None,
    kind: str,
) -> tuple[Case, Prediction, ServedModel]:
    """The visible image case, its prediction by a ``kind`` model and that model as served now.

    404 for a case the user may not see (as ``GET /cases/{id}``), or without such a prediction
    or served model; 422 for a case that is not an image.
    """
    case = _visible_case(session, user, case_id)
    if case.input_kind != "image" or not case.stored_path:
        raise HTTPException(
            422,
            f"case {case_id}: expected an image case; got a {case.input_kind} case.",
        )
    candidates = [
        p
        for p in case.predictions
        if p.model_kind == kind and (model is None or p.model_name == model)
    ]
    if not candidates:
        ran = sorted({f"{p.model_name} ({p.model_kind})" for p in case.predictions})
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"model: case {case_id} has no {kind} prediction"
            f"{'' if model is None else f' by {model!r}'}; models run on it: {ran or 'none'}.",
        )
    prediction = candidates[0]
    served = next((m for m in catalog.scan() if m.name == prediction.model_name), None)
    if served is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"model: {prediction.model_name!r} is no longer served in production.",
        )
    return case, prediction, served


def _cached(case: Case, served: ServedModel, what: str, suffix: str) -> Path:
    """The cache file of ``what`` for this case and model version, beside the stored upload and
    named after it (``<upload>.gradcam_<model>_<version>.png``): the uploads of a day share one
    folder."""
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", served.name)
    assert case.stored_path is not None
    stored = Path(case.stored_path)
    upload = stored.name.split(".", 1)[0]
    return stored.parent / f"{upload}.{what}_{safe}_{served.version[:16]}{suffix}"


def _segmented(case: Case, served: ServedModel, catalog: ModelCatalog) -> dict[str, Any]:
    """Segment the case once per model version: the NIfTI mask, its PNG overlay and the figures
    (cached beside the upload); the figures are returned."""
    meta = _cached(case, served, "segmentation", ".json")
    if meta.is_file():
        return json.loads(meta.read_text())
    from precisionmed.io import read_medical_image, write_nifti_mask

    assert case.stored_path is not None
    predictor, lock = catalog.predictor(served)
    image = read_medical_image(case.stored_path)
    with lock:
        mask, lesions = predictor.segment(image)
        volumes = predictor.volumes_mm3(mask, image)
    spacing = [float(v) for v in image.spacing]
    figures = {
        "labels": {str(k): v for k, v in predictor.labels.items()},
        "shape": [int(n) for n in mask.shape],
        "spacing_mm": spacing,
        "volume_mm3": volumes,
        "area_mm2": _largest_slice_areas(mask, predictor.labels, spacing),
        "lesions": lesions,
    }
    tag = uuid.uuid4().hex
    nifti = _cached(case, served, "segmentation", ".nii.gz")
    png = _cached(case, served, "segmentation", ".png")
    tmp_nifti = nifti.with_name(f".{tag}.nii.gz")
    tmp_png = png.with_name(f".{tag}.png")
    tmp_meta = meta.with_name(f".{tag}.json")
    try:
        write_nifti_mask(mask, image.affine, tmp_nifti, spacing=tuple(image.spacing))
        _write_mask_png(image.array, mask, tmp_png)
        tmp_meta.write_text(json.dumps(figures))
        os.replace(tmp_nifti, nifti)
        os.replace(tmp_png, png)
        os.replace(tmp_meta, meta)  # last: its presence says the other two are there
    finally:
        for tmp in (tmp_nifti, tmp_png, tmp_meta):
            tmp.unlink(missing_ok=True)
    return figures


def _largest_slice_areas(
    mask: Any, labels: dict[int, str], spacing: list[float]
) -> dict[str, float]:
    """Per label, the largest cross-section (mm^2) over the first axis's slices (a 2D mask: its
    area)."""
    import numpy as np

    pixel_mm2 = float(np.prod(spacing[-2:]))
    out = {}
    for k, name in labels.items():
        if k:
            per_slice = (mask == k).reshape(-1, *mask.shape[-2:]).sum(axis=(1, 2))
            out[name] = float(per_slice.max(initial=0)) * pixel_mm2
    return out


def _write_mask_png(array: Any, mask: Any, out: Path) -> None:
    """The slice with most foreground (first axis), grey levels, labels drawn in colour.

    Drawn by hand with numpy and Pillow (a few lines; matplotlib would add a figure around it).
    """
    import numpy as np
    from PIL import Image

    image = np.asarray(array, dtype=float).reshape(-1, *mask.shape[-2:])
    labels = np.asarray(mask).reshape(-1, *mask.shape[-2:])
    index = int(np.argmax((labels > 0).sum(axis=(1, 2))))
    grey = image[index]
    finite = grey[np.isfinite(grey)]
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    grey = np.nan_to_num((grey - lo) / (hi - lo or 1.0))
    rgb = np.repeat((255 * grey)[..., None], 3, axis=2)
    palette = np.array([[230, 60, 60], [60, 160, 230], [240, 200, 40], [90, 200, 90]], float)
    for k in np.unique(labels[index]):
        if k:
            hit = labels[index] == k
            rgb[hit] = 0.45 * rgb[hit] + 0.55 * palette[(int(k) - 1) % len(palette)]
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(out, format="PNG")
