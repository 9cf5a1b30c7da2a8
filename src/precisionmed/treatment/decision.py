"""The recommendation rule: which treatment, or an explicit abstention, and why.

For one patient the recommender has each candidate treatment's expected outcome with its
interval. It recommends the treatment with the better expected outcome (lower or higher, as
the model card says) only when its interval does not overlap the other candidate's, and the
patient lies inside the training data's common support; otherwise it abstains with "no
confident recommendation" and the reasons. The expected outcomes and their intervals are
reported either way: never a recommendation without its uncertainty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

NO_RECOMMENDATION = "no confident recommendation"
DIRECTIONS = ("lower", "higher")


@dataclass(frozen=True)
class Recommendation:
    """The rule's answer for one patient.

    Attributes
    ----------
    treatment : str or None
        The recommended candidate; None when abstaining.
    status : str
        ``"recommended"`` or :data:`NO_RECOMMENDATION`.
    reasons : tuple of str
        Why it abstained (empty when it recommends).
    """

    treatment: str | None
    status: str
    reasons: tuple[str, ...] = field(default_factory=tuple)


def recommend(
    names: Sequence[str],
    outcomes: Sequence[float],
    intervals: Sequence[Sequence[float]],
    *,
    better: str,
    in_support: bool,
    out_of_range: Sequence[str] = (),
    level: float = 0.95,
) -> Recommendation:
    """Apply the rule to one patient.

    Parameters
    ----------
    names : sequence of str
        The candidate treatments.
    outcomes : sequence of float
        Expected outcome under each.
    intervals : sequence of (low, high)
        Their intervals at ``level``.
    better : {"lower", "higher"}
        Which outcome values are better.
    in_support : bool
        Whether the patient's propensity lies in the arms' common support.
    out_of_range : sequence of str
        Covariates of the patient outside their training range.
    """
    if better not in DIRECTIONS:
        raise ValueError(f"better must be one of {DIRECTIONS}; got {better!r}.")
    sign = 1.0 if better == "higher" else -1.0
    order = sorted(range(len(names)), key=lambda i: -sign * outcomes[i])
    best, runner = order[0], order[1]
    reasons = []
    if not in_support:
        reasons.append(
            "the patient is outside the common support of the training data (patients like "
            "them were seen in one arm only)"
        )
    if out_of_range:
        reasons.append(
            "the patient's " + ", ".join(out_of_range) + " lie(s) outside the training range"
        )
    lo_b, hi_b = intervals[best]
    lo_r, hi_r = intervals[runner]
    if lo_b <= hi_r and lo_r <= hi_b:
        reasons.append(
            f"the {level:.0%} intervals of the expected outcome under {names[best]} and "
            f"{names[runner]} overlap"
        )
    if reasons:
        return Recommendation(None, NO_RECOMMENDATION, tuple(reasons))
    return Recommendation(names[best], "recommended")


__all__ = ["DIRECTIONS", "NO_RECOMMENDATION", "Recommendation", "recommend"]
