"""The service's tables (SQLAlchemy 2 declarative models).

``users`` (with a role), ``cases`` (one upload: a de-identified image or a patient record),
``predictions`` (one per model run on a case), ``feedback`` (a clinician's confirmed or corrected
label), ``audit_log`` (append-only: who read or changed what, when), ``model_versions`` (the
model directories the service has served) and ``jobs`` (background molecule generation and
optimisation). The schema itself is created by the Alembic
migrations in :mod:`precisionmed.service.migrations`, never by ``create_all``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

ROLES = ("clinician", "researcher", "admin")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """Declarative base of the service tables."""


class User(Base):
    """A person who signs in: a clinician, a researcher or an admin."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Case(Base):
    """One submission: a de-identified image file or a patient record (model inputs only)."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    input_kind: Mapped[str] = mapped_column(String(16))  # "image" or "record"
    input_format: Mapped[str] = mapped_column(String(16))  # dicom, nifti, png, json
    stored_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    record: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    deidentified: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    predictions: Mapped[list[Prediction]] = relationship(
        back_populates="case", order_by="Prediction.id"
    )
    feedback: Mapped[list[Feedback]] = relationship(back_populates="case", order_by="Feedback.id")


class Prediction(Base):
    """One model's :class:`~precisionmed.predict.PredictionRecord` for a case."""

    __tablename__ = "predictions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    model_kind: Mapped[str] = mapped_column(String(64))
    prediction: Mapped[Any] = mapped_column(JSON, nullable=True)
    record: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="predictions")


class Feedback(Base):
    """A clinician's verdict on a case's prediction: the label confirmed or corrected."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    prediction_id: Mapped[int | None] = mapped_column(ForeignKey("predictions.id"), nullable=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    verdict: Mapped[str] = mapped_column(String(16))  # "confirmed" or "corrected"
    label: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")
    accepted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    reviewed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # an admin's id
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="feedback")


class AuditEntry(Base):
    """Who did what to which object, when. Rows are only ever inserted (see the migration)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    action: Mapped[str] = mapped_column(String(32))  # read, create, denied, list...
    object_type: Mapped[str] = mapped_column(String(32))  # case, prediction, feedback, user
    object_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")


class ModelVersion(Base):
    """A version of a model (a model directory) in the registry: its stage and evidence.

    ``stage`` is ``candidate``, ``production`` (at most one per name: the one served) or
    ``archived``; ``source`` says how it came: ``models-dir`` (found in the models directory),
    ``registered`` (``precisionmed models register``) or ``retrain``.
    """

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("name", "version", name="uq_model_versions_name_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    version: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(64))
    pillar: Mapped[str] = mapped_column(String(32))
    input_kind: Mapped[str] = mapped_column(String(16))
    stage: Mapped[str] = mapped_column(String(16), default="production")
    path: Mapped[str] = mapped_column(String(512))
    metrics: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    data_checksums: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    source: Mapped[str | None] = mapped_column(String(16), nullable=True)
    evaluation: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    registered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


STAGES = ("candidate", "production", "archived")


class Job(Base):
    """A background job of a user: molecule generation or optimisation, and its outcome.

    ``status`` goes ``queued`` -> ``running`` -> ``done`` or ``failed`` (``error`` then says
    why); ``runner`` names the process running it (``host:pid``), so that a restart can tell the
    jobs its dead predecessor left running. ``result_path`` is the file written (``.smi`` or
    ``.csv``) under the service's data folder.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # "generate" or "optimize"
    model_name: Mapped[str] = mapped_column(String(128))
    model_version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    result_path: Mapped[str | None] = mapped_column(String(512), nullable=True)
    runner: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


JOB_KINDS = ("generate", "optimize")
JOB_STATUSES = ("queued", "running", "done", "failed")
