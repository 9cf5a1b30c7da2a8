"""The append-only audit log: one row per read or change of a case, prediction or feedback.

Rows are added in the same transaction as the change they record, and before the data of a read
is returned, so that nothing is seen or changed without its row. The database refuses UPDATE and
DELETE on the table (triggers made by the first migration); this module has no path to either.
Rows carry ids and action names only, never a patient identifier.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.orm import Session

from precisionmed.service.models import AuditEntry, utcnow


def audit(
    session: Session,
    user_id: int | None,
    action: str,
    object_type: str,
    object_id: int | None = None,
    detail: str = "",
) -> AuditEntry:
    """Add an audit row to ``session`` (committed with the session's transaction).

    Parameters
    ----------
    session : Session
    user_id : int or None
        Who (None for an anonymous attempt).
    action : str
        ``"read"``, ``"create"``, ``"denied"``...
    object_type : str
        ``"case"``, ``"prediction"``, ``"feedback"``, ``"user"``.
    object_id : int or None
    detail : str
        A short note without identifiers (a model name, a role).
    """
    entry = AuditEntry(
        user_id=user_id, action=action, object_type=object_type, object_id=object_id, detail=detail
    )
    session.add(entry)
    return entry


def audit_many(
    session: Session, user_id: int | None, entries: Sequence[tuple[str, str, int | None, str]]
) -> None:
    """Insert several audit rows of one user in one statement (same transaction as
    :func:`audit`; no ORM objects are kept).

    Parameters
    ----------
    session : Session
    user_id : int or None
    entries : sequence of (action, object_type, object_id, detail)
        In the order the rows are to be numbered.
    """
    if not entries:
        return
    at = utcnow()
    session.execute(
        insert(AuditEntry),
        [
            {"at": at, "user_id": user_id, "action": a, "object_type": t, "object_id": i,
             "detail": d}
            for a, t, i, d in entries
        ],
    )  # fmt: skip
