"""Cases: submit an image or a patient record, read it back with its predictions, give feedback.

A clinician sees only the cases they submitted (another's case is answered 404, so that its id
reveals nothing); researchers and admins see every case. Every read and every change adds an
audit row before the response is sent.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, HTTPException, Query, UploadFile, status
from fastapi import Path as PathParam
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from precisionmed.errors import DataFormatError
from precisionmed.predict import PredictionRecord
from precisionmed.service.audit import audit, audit_many
from precisionmed.service.deps import (
    CatalogDep,
    Clinician,
    CurrentUser,
    SessionDep,
    SettingsDep,
    UploadsDep,
    WriteLockDep,
)
from precisionmed.service.inference import ServedModel
from precisionmed.service.models import Case, Feedback, Prediction, User, utcnow
from precisionmed.service.schemas import (
    CasePublic,
    FeedbackCreate,
    FeedbackPublic,
    PredictionPublic,
)
from precisionmed.service.uploads import UploadRejected, check_dicom_pixels, check_upload

router = APIRouter(prefix="/cases", tags=["cases"])
log = logging.getLogger("precisionmed.service")
NOT_FOUND = "No case with id {}."
#: Ids are 32-bit in the database (PostgreSQL INTEGER): a larger one is refused with 422.
CaseId = Annotated[int, PathParam(ge=1, le=2**31 - 1, description="The case's id.")]


@router.post("", response_model=CasePublic, status_code=status.HTTP_201_CREATED)
def create_case(
    file: Annotated[
        UploadFile,
        File(description="A DICOM, NIfTI (.nii/.nii.gz) or PNG image, or a JSON patient record."),
    ],
    user: Clinician,
    session: SessionDep,
    settings: SettingsDep,
    catalog: CatalogDep,
    uploads: UploadsDep,
    write_lock: WriteLockDep,
) -> CasePublic:
    """Submit a case: the applicable production models predict and the results are stored.

    DICOM files are de-identified (PS3.15 basic profile) before they are stored; a patient
    record keeps only the fields some model uses.
    """
    # The request does its work first (checks, de-identification, storing the file durably,
    # the predictions) and writes the database last, in one short transaction.
    data = _read_capped(file, settings.max_upload_bytes)
    checked = check_upload(
        data, max_bytes=settings.max_upload_bytes, max_decoded_bytes=settings.max_decoded_bytes
    )
    models = catalog.applicable(checked.kind, checked.spatial_dims)
    record: dict[str, Any] | None = None
    dropped: list[str] = []
    if checked.kind == "record":
        assert checked.record is not None
        models, record, dropped = _record_models(models, checked.record)
    if not models:
        what = f"{checked.spatial_dims}-D " if checked.spatial_dims else ""
        served = [f"{m.name}" + (f" ({m.spatial_dims}-D)" if m.spatial_dims else "")
                  for m in catalog.scan()]  # fmt: skip
        raise UploadRejected(
            f"upload: no production model takes {what}{checked.kind} inputs "
            f"(models served: {', '.join(served) or 'none'})"
        )
    if checked.format == "dicom":
        data = _deidentified(data, settings)
    stored = uploads.write(checked.suffix, data) if checked.kind == "image" else None
    try:
        outputs = [(model, _predict(catalog, model, stored, record)) for model in models]
        with write_lock.held():
            public = _insert_case(session, user.id, checked.format, data, stored, record, outputs)
            session.commit()
    except BaseException:
        session.rollback()
        if stored is not None:
            stored.unlink(missing_ok=True)
        raise
    log.info("case %d created by user %d: %d predictions", public.id, user.id, len(models))
    return public.model_copy(update={"dropped_fields": dropped})


def _insert_case(
    session: Session,
    user_id: int,
    fmt: str,
    data: bytes,
    stored: Path | None,
    record: dict[str, Any] | None,
    outputs: list[tuple[ServedModel, list[PredictionRecord]]],
) -> CasePublic:
    """Insert a case, its predictions and their audit rows; the case as the API shows it.

    Three INSERT statements (the case, its predictions, the audit rows) without ORM objects:
    the unit of work's bookkeeping cost more than the statements on this path.
    """
    now = utcnow()
    case: dict[str, Any] = {
        "owner_id": user_id,
        "input_kind": "record" if stored is None else "image",
        "input_format": fmt,
        "stored_path": None if stored is None else str(stored),
        "record": record,
        "sha256": hashlib.sha256(data).hexdigest(),
        "deidentified": fmt == "dicom",
        "created_at": now,
    }
    case_id = session.scalar(insert(Case).values(case).returning(Case.id))
    assert case_id is not None
    rows = []
    for model, records in outputs:
        for rec in records:
            body = rec.to_dict()
            body["input"] = f"case {case_id}"
            rows.append(
                {
                    "case_id": case_id,
                    "model_name": model.name,
                    "model_version": rec.model_version,
                    "model_kind": rec.kind,
                    "prediction": body["prediction"],
                    "record": body,
                    "created_at": now,
                }
            )
    ids = (
        list(
            session.scalars(
                insert(Prediction).returning(Prediction.id, sort_by_parameter_order=True), rows
            )
        )
        if rows
        else []
    )
    audit_many(
        session,
        user_id,
        [("create", "case", case_id, fmt)]
        + [
            ("create", "prediction", i, row["model_name"]) for i, row in zip(ids, rows, strict=True)
        ],
    )
    predictions = [
        PredictionPublic(id=i, **{k: v for k, v in row.items() if k != "case_id"})
        for i, row in zip(ids, rows, strict=True)
    ]
    return CasePublic(id=case_id, **case, predictions=predictions, feedback=[])


@router.get("", response_model=list[CasePublic])
def list_cases(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> list[Case]:
    """Your cases (clinicians) or every case (researchers, admins), newest first."""
    query = select(Case).order_by(Case.id.desc()).limit(limit).offset(offset)
    if user.role == "clinician":
        query = query.where(Case.owner_id == user.id)
    cases = list(session.scalars(query))
    for case in cases:
        _audit_read(session, user, case)
    session.commit()
    return cases


@router.get("/{case_id}", response_model=CasePublic)
def read_case(case_id: CaseId, user: CurrentUser, session: SessionDep) -> Case:
    """One case with its predictions and feedback."""
    case = _visible_case(session, user, case_id)
    _audit_read(session, user, case)
    session.commit()
    return case


@router.post(
    "/{case_id}/feedback", response_model=FeedbackPublic, status_code=status.HTTP_201_CREATED
)
def give_feedback(
    case_id: CaseId, body: FeedbackCreate, user: Clinician, session: SessionDep
) -> Feedback:
    """Confirm or correct a case's prediction, with a comment."""
    case = _visible_case(session, user, case_id)
    prediction_id = body.prediction_id
    if prediction_id is None and case.predictions:
        prediction_id = case.predictions[0].id
    elif prediction_id is not None and prediction_id not in {p.id for p in case.predictions}:
        raise HTTPException(
            422,
            f"prediction_id: case {case_id} has no prediction {prediction_id}; "
            f"expected one of {[p.id for p in case.predictions]}.",
        )
    feedback = Feedback(
        case_id=case.id,
        prediction_id=prediction_id,
        user_id=user.id,
        verdict=body.verdict,
        label=body.label,
        comment=body.comment,
    )
    session.add(feedback)
    session.flush()
    audit(session, user.id, "create", "feedback", feedback.id, f"case {case.id}")
    session.commit()
    return feedback


def _visible_case(session: Session, user: User, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None or (user.role == "clinician" and case.owner_id != user.id):
        audit(session, user.id, "denied", "case", case_id)
        session.commit()
        raise HTTPException(status.HTTP_404_NOT_FOUND, NOT_FOUND.format(case_id))
    return case


def _audit_read(session: Session, user: User, case: Case) -> None:
    audit(session, user.id, "read", "case", case.id)
    for prediction in case.predictions:
        audit(session, user.id, "read", "prediction", prediction.id)


def _read_capped(file: UploadFile, limit: int) -> bytes:
    chunks, size = [], 0
    while chunk := file.file.read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise UploadRejected(
                f"upload: the file is larger than the limit of {limit:,} bytes", status_code=413
            )
        chunks.append(chunk)
    return b"".join(chunks)


def _record_models(
    models: list[ServedModel], record: dict[str, Any]
) -> tuple[list[ServedModel], dict[str, Any], list[str]]:
    """The table models whose every input field the record has, the fields they use, the rest."""
    usable = [m for m in models if set(m.columns) <= set(record)]
    if not usable:
        needs = "; ".join(f"{m.name} needs {sorted(set(m.columns) - set(record))}" for m in models)
        raise UploadRejected(
            f"upload: the patient record lacks fields every model needs ({needs or 'no model'})"
        )
    used = {c for m in usable for c in m.columns}
    return usable, {k: v for k, v in record.items() if k in used}, sorted(set(record) - used)


def _deidentified(data: bytes, settings: Any) -> bytes:
    import io

    import pydicom

    from precisionmed.service.deid import deidentify_dicom

    clean = deidentify_dicom(data, settings.secret_key.get_secret_value())
    check_dicom_pixels(pydicom.dcmread(io.BytesIO(clean)), settings.max_decoded_bytes)
    return clean


def _predict(
    catalog: Any, model: ServedModel, stored: Path | None, record: dict[str, Any] | None
) -> list[PredictionRecord]:
    """``model``'s prediction records for the stored file or the record."""
    if stored is not None:
        inputs: Any = [stored]
    else:
        import pandas as pd

        inputs = pd.DataFrame([{c: (record or {}).get(c) for c in model.columns}])
    try:
        return list(catalog.predict(model, inputs))
    except DataFormatError as exc:
        # the message names the stored file: say "upload" instead of a server path
        text = str(exc).replace(str(stored), "upload") if stored else str(exc)
        raise UploadRejected(f"model {model.name}: {text}") from exc
