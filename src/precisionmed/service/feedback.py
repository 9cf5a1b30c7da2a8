"""Feedback for training: an admin's review, the per-user cap and the hold-out split.

Training sees only feedback an admin accepted. One user's share of the training feedback is
capped (``cap_per_user``): a user with many rows keeps only their first (oldest) ``t`` rows,
where ``t`` is the largest count with ``t <= cap * sum(min(n_u, t))`` over users ``u`` -- so
that after capping no user holds more than ``cap`` of the feedback kept. A user alone can
therefore never train a model on their own (``t = 0`` for ``cap < 1``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from precisionmed.errors import ConfigError
from precisionmed.service.models import Feedback, Prediction, utcnow

STATUSES = ("pending", "accepted", "rejected")


def list_feedback(session: Session, status: str | None = None) -> list[Feedback]:
    """Feedback rows (``pending``, ``accepted``, ``rejected``, or all), oldest first."""
    query = select(Feedback).order_by(Feedback.id)
    if status is not None:
        if status not in STATUSES:
            raise ConfigError(f"status: expected one of {', '.join(STATUSES)}; got {status!r}")
        query = query.where(
            Feedback.accepted.is_(None)
            if status == "pending"
            else Feedback.accepted.is_(status == "accepted")
        )
    return list(session.scalars(query))


def review_feedback(
    session: Session, feedback_id: int, accepted: bool, admin_id: int | None
) -> Feedback:
    """Accept or reject one feedback row (the caller audits and commits); ``admin_id`` None
    is the command line.

    Raises
    ------
    ConfigError
        No feedback with that id.
    """
    row = session.get(Feedback, feedback_id)
    if row is None:
        raise ConfigError(f"feedback: no feedback with id {feedback_id}")
    row.accepted = accepted
    row.reviewed_by = admin_id
    row.reviewed_at = utcnow()
    return row


def accepted_for_model(session: Session, model_name: str) -> list[Feedback]:
    """Accepted feedback on predictions of ``model_name``, oldest first."""
    query = (
        select(Feedback)
        .join(Prediction, Feedback.prediction_id == Prediction.id)
        .where(Feedback.accepted.is_(True), Prediction.model_name == model_name)
        .order_by(Feedback.id)
    )
    return list(session.scalars(query))


def cap_count(counts: Sequence[int], cap: float) -> int:
    """The most rows each user may keep so that none holds more than ``cap`` of those kept.

    Parameters
    ----------
    counts : sequence of int
        Rows per user.
    cap : float in (0, 1]
        Largest share of one user.

    Returns
    -------
    int
        ``t``, the largest with ``t <= cap * sum(min(n, t) for n in counts)`` (0 if none).
    """
    if not 0 < cap <= 1:
        raise ConfigError(f"cap: expected a share in (0, 1]; got {cap}")
    # a plain search over t: counts are feedback rows (thousands at most), and the condition
    # is not monotone in t in general, so bisection would not be exact
    for t in range(max(counts, default=0), 0, -1):
        if t <= cap * sum(min(n, t) for n in counts) + 1e-9:
            return t
    return 0


def cap_per_user(rows: Sequence[Any], cap: float) -> tuple[list[Any], dict[int, int]]:
    """The rows kept under the cap (each user's oldest first) and the rows dropped per user id."""
    counts = Counter(r.user_id for r in rows)
    limit = cap_count(list(counts.values()), cap)
    kept: list[Any] = []
    seen: Counter[int] = Counter()
    for row in rows:
        seen[row.user_id] += 1
        if seen[row.user_id] <= limit:
            kept.append(row)
    dropped = {u: n - min(n, limit) for u, n in counts.items() if n > limit}
    return kept, dropped


def holdout_split(
    rows: Sequence[Any], fraction: float, seed: int = 0
) -> tuple[list[Any], list[Any]]:
    """Split rows into (training, hold-out): a seeded random ``fraction`` held out."""
    if not 0 < fraction < 1:
        raise ConfigError(f"holdout_fraction: expected a share in (0, 1); got {fraction}")
    order = np.random.default_rng(seed).permutation(len(rows))
    n_hold = int(np.ceil(fraction * len(rows))) if rows else 0
    held = set(order[:n_hold].tolist())
    return (
        [r for i, r in enumerate(rows) if i not in held],
        [r for i, r in enumerate(rows) if i in held],
    )
