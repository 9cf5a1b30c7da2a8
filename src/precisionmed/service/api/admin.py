"""The admins' page (``GET /admin``) and what it reads beyond the other routes.

The page reviews feedback with its input (``GET /admin/feedback``: the case's record fields, or
an image's thumbnail), shows every model's versions with their stage,
metrics, data checksums and the gate's report of each retrain (``GET /models/versions``: the
report is the candidate's ``evaluation``, kept in its registry row), promotes and archives
(``POST /models/.../promote|archive``) and shows input drift over all workers
(``GET /admin/drift``). Like the clinicians' page, the page and its script hold no data and are
served without a token; the script writes every value with ``textContent``.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from precisionmed.service.api.web import _asset, page_headers
from precisionmed.service.audit import audit
from precisionmed.service.deps import Admin, SessionDep
from precisionmed.service.feedback import list_feedback
from precisionmed.service.models import Prediction, User

router = APIRouter(tags=["admin"])
#: Longest side of a feedback image's thumbnail, in pixels.
THUMBNAIL_PX = 160


class FeedbackInput(BaseModel):
    """What a feedback row judged: its case's input and the model's prediction."""

    case_id: int
    input_kind: str
    input_format: str
    record: dict[str, Any] | None = Field(
        default=None, description="Patient records: the model input fields."
    )
    thumbnail: str | None = Field(
        default=None,
        description="Image cases: a small grey PNG (its middle slice for a volume) as a data URL.",
    )
    model_name: str | None = None
    model_version: str | None = None
    prediction: Any = None


class FeedbackForReview(BaseModel):
    """A feedback row with its author and its input, as an admin reviews it."""

    id: int
    user_id: int
    username: str
    verdict: str
    label: str
    comment: str
    accepted: bool | None
    created_at: datetime
    input: FeedbackInput


class DriftReference(BaseModel):
    source: Literal["training", "first-inputs"]
    mean: float | None
    std: float | None
    n: int | None = Field(description="Inputs in the first-inputs baselines; null for training.")


class DriftRecent(BaseModel):
    n: int
    mean: float | None


class DriftRow(BaseModel):
    """One model version's drift of one input feature, over all workers."""

    model: str
    version: str
    feature: str
    reference: DriftReference
    recent: DriftRecent
    z: float | None = Field(description="(recent mean - reference mean) / (std / sqrt(n)).")


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
def admin_page() -> HTMLResponse:
    """The admins' page: feedback review, model versions and the gate, drift."""
    return HTMLResponse(_asset("admin.html"), headers=page_headers())


@router.get("/static/admin.js", include_in_schema=False)
def admin_script() -> Response:
    return Response(_asset("admin.js"), media_type="text/javascript", headers=page_headers())


@router.get("/static/admin.css", include_in_schema=False)
def admin_stylesheet() -> Response:
    return Response(_asset("admin.css"), media_type="text/css", headers=page_headers())


@router.get("/admin/feedback", response_model=list[FeedbackForReview])
def feedback_for_review(
    user: Admin,
    session: SessionDep,
    status: Annotated[Literal["pending", "accepted", "rejected"] | None, Query()] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[FeedbackForReview]:
    """Feedback (pending by default), oldest first, with who gave it and what it judged (image
    cases with a thumbnail, so that one request shows a page of them)."""
    rows = list_feedback(session, status)[:limit]
    names = dict(session.execute(select(User.id, User.username)).tuples().all())
    out = []
    for row in rows:
        case = row.case
        prediction = session.get(Prediction, row.prediction_id) if row.prediction_id else None
        audit(session, user.id, "read", "case", case.id, "feedback review")
        out.append(
            FeedbackForReview(
                id=row.id,
                user_id=row.user_id,
                username=names.get(row.user_id, "?"),
                verdict=row.verdict,
                label=row.label,
                comment=row.comment,
                accepted=row.accepted,
                created_at=row.created_at,
                input=FeedbackInput(
                    case_id=case.id,
                    input_kind=case.input_kind,
                    input_format=case.input_format,
                    record=case.record,
                    thumbnail=_thumbnail_url(case.stored_path) if case.stored_path else None,
                    model_name=prediction.model_name if prediction else None,
                    model_version=prediction.model_version if prediction else None,
                    prediction=prediction.prediction if prediction else None,
                ),
            )
        )
    audit(session, user.id, "list", "feedback", None, f"review {status or 'all'}")
    session.commit()
    return out


@router.get("/admin/drift", response_model=list[DriftRow])
def drift(request: Request, user: Admin) -> list[dict[str, Any]]:
    """Input drift of every model version and feature, over all the service's workers."""
    return request.app.state.drift.snapshot()


def _thumbnail_url(path: str) -> str | None:
    import base64

    from precisionmed.errors import PrecisionMedError

    try:
        png = thumbnail_png(path)
    except (OSError, PrecisionMedError):
        return None  # a stored file that cannot be read shows as "no image", never a 500
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def thumbnail_png(path: str) -> bytes:
    """A stored image as an 8-bit PNG of at most :data:`THUMBNAIL_PX` pixels a side.

    Values are mapped from the range the file declares (else its minimum and maximum) to
    0-255; a volume shows its middle slice, a multi-frame file its first frame.
    """
    import numpy as np
    from PIL import Image as PILImage

    from precisionmed.io import read_medical_image

    image = read_medical_image(path)
    array = np.asarray(image.array, dtype=np.float64)
    if image.is_color:
        array = array.mean(axis=-1)
    while array.ndim > 2:  # (D, H, W): the middle slice
        array = array[array.shape[0] // 2]
    low, high = image.value_range or (float(np.nanmin(array)), float(np.nanmax(array)))
    scaled = np.clip((np.nan_to_num(array, nan=low) - low) / max(high - low, 1e-12), 0, 1)
    picture = PILImage.fromarray((scaled * 255).round().astype(np.uint8))
    picture.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
    if max(picture.size) < THUMBNAIL_PX // 2:  # a 28 px image is shown larger, unblurred
        factor = THUMBNAIL_PX // max(picture.size)
        picture = picture.resize(
            (picture.width * factor, picture.height * factor), PILImage.Resampling.NEAREST
        )
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
