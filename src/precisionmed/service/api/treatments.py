"""Treatment ranking for one patient record (clinicians and admins).

The production treatment recommenders whose covariates the record gives rank the candidate
treatments by expected outcome, with intervals, or abstain with their reasons (outside the
common support, intervals that overlap...). The record (only the fields a recommender uses) and
the predictions are stored as a case, audited like ``POST /cases``.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import APIRouter, HTTPException, status

from precisionmed.errors import DataFormatError
from precisionmed.service.audit import audit
from precisionmed.service.deps import CatalogDep, Clinician, SessionDep
from precisionmed.service.models import Case, Prediction
from precisionmed.service.schemas import (
    CasePublic,
    TreatmentCasePublic,
    TreatmentOption,
    TreatmentRanking,
    TreatmentRequest,
)

router = APIRouter(prefix="/treatments", tags=["treatments"])


@router.post("", response_model=TreatmentCasePublic, status_code=status.HTTP_201_CREATED)
def rank_treatments(
    body: TreatmentRequest, user: Clinician, session: SessionDep, catalog: CatalogDep
) -> TreatmentCasePublic:
    """Rank the therapies for one patient: each recommender's expected outcomes with
    intervals, its recommendation or its abstention with the reasons."""
    import pandas as pd

    record = body.record
    models = [m for m in catalog.applicable("record") if "treatment" in m.kind]
    if not models:
        raise HTTPException(422, "record: no production treatment model is served")
    usable = [m for m in models if set(m.columns) <= set(record)]
    if not usable:
        needs = "; ".join(f"{m.name} needs {sorted(set(m.columns) - set(record))}" for m in models)
        raise HTTPException(
            422,
            f"record: lacks fields every treatment model needs ({needs})",
        )
    used = {c for m in usable for c in m.columns}
    kept = {k: v for k, v in record.items() if k in used}
    data = json.dumps(kept, sort_keys=True, default=str).encode()
    case = Case(owner_id=user.id, input_kind="record", input_format="json", record=kept,
                sha256=hashlib.sha256(data).hexdigest(), deidentified=False)  # fmt: skip
    session.add(case)
    session.flush()
    for model in usable:
        table = pd.DataFrame([{c: kept[c] for c in model.columns}])
        try:
            records = catalog.predict(model, table)
        except DataFormatError as exc:  # a covariate that is not a number, named
            raise HTTPException(422, f"record: model {model.name}: {exc}") from exc
        for rec in records:
            body_ = rec.to_dict() | {"input": f"case {case.id}"}
            case.predictions.append(
                Prediction(model_name=model.name, model_version=rec.model_version,
                           model_kind=rec.kind, prediction=body_["prediction"], record=body_)
            )  # fmt: skip
    audit(session, user.id, "create", "case", case.id, "treatment ranking")
    session.flush()
    for prediction in case.predictions:
        audit(session, user.id, "create", "prediction", prediction.id, prediction.model_name)
    session.commit()
    public = CasePublic.model_validate(case).model_dump()
    return TreatmentCasePublic(
        **public | {"dropped_fields": sorted(set(record) - used)},
        rankings=[_ranking(p) for p in case.predictions],
    )


def _ranking(prediction: Prediction) -> TreatmentRanking:
    """A recommender's record as a ranking, best expected outcome first."""
    rec: dict[str, Any] = prediction.record
    details = rec.get("details") or {}
    better = details.get("better")
    options = [
        TreatmentOption(
            treatment=str(c["treatment"]),
            expected_outcome=float(c["expected_outcome"]),
            interval=[float(x) for x in c["interval"]] if c.get("interval") is not None else None,
        )
        for c in details.get("candidates", [])
    ]
    options.sort(key=lambda o: o.expected_outcome, reverse=better == "higher")
    interval = rec.get("interval") or {}
    effect = (rec.get("values") or {}).get("effect")
    return TreatmentRanking(
        prediction_id=prediction.id,
        model_name=prediction.model_name,
        model_version=prediction.model_version,
        recommendation=rec.get("prediction"),
        abstained=bool(rec.get("abstained")),
        reasons=[str(r) for r in details.get("reasons", [])],
        better=better,
        ranking=options,
        effect=None if effect is None else float(effect),
        effect_interval=interval.get("effect"),
        interval_level=rec.get("interval_level"),
    )
