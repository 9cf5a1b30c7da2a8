"""Feedback review: an admin accepts or rejects feedback before training may see it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from precisionmed.service.audit import audit
from precisionmed.service.deps import Admin, SessionDep
from precisionmed.service.feedback import list_feedback, review_feedback
from precisionmed.service.models import Feedback
from precisionmed.service.schemas import FeedbackPublic, FeedbackReview

router = APIRouter(prefix="/feedback", tags=["feedback"])


@router.get("", response_model=list[FeedbackPublic])
def feedback_list(
    user: Admin,
    session: SessionDep,
    status: Annotated[Literal["pending", "accepted", "rejected"] | None, Query()] = None,
) -> list[Feedback]:
    """Feedback of every user (admins), oldest first."""
    rows = list_feedback(session, status)
    audit(session, user.id, "list", "feedback", None, status or "all")
    session.commit()
    return rows


@router.post("/{feedback_id}/review", response_model=FeedbackPublic)
def feedback_review(
    feedback_id: Annotated[int, PathParam(ge=1, le=2**31 - 1)],
    body: FeedbackReview,
    user: Admin,
    session: SessionDep,
) -> Feedback:
    """Accept (training may use it) or reject feedback."""
    row = review_feedback(session, feedback_id, body.accepted, user.id)
    audit(session, user.id, "accept" if body.accepted else "reject", "feedback", row.id)
    session.commit()
    return row
