"""Property prediction for a batch of SMILES (researchers and admins).

Every served molecular-property model predicts every row; a SMILES that cannot be read is
reported on its row (``error``, naming ``smiles[i]`` and why) and the other rows are predicted.
A batch with no readable SMILES at all is refused with 422 naming each bad row. The request is
audited (counts and model names only).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException

from precisionmed.service.audit import audit
from precisionmed.service.deps import CatalogDep, SessionDep, require_roles
from precisionmed.service.jobs import PROPERTY_KIND
from precisionmed.service.models import User
from precisionmed.service.schemas import MoleculePredictions, MoleculeRequest, MoleculeRow

router = APIRouter(prefix="/molecules", tags=["molecules"])
#: Molecule work is research: researchers and admins (clinicians are refused).
Researcher = Annotated[User, Depends(require_roles("researcher", "admin"))]
NOT_PREDICTED = "not predicted: "


@router.post("/properties", response_model=MoleculePredictions)
def predict_properties(
    body: MoleculeRequest, user: Researcher, session: SessionDep, catalog: CatalogDep
) -> MoleculePredictions:
    """Each production property model's prediction (value, interval, applicability domain) for
    each SMILES; bad rows reported, the rest predicted."""
    models = [m for m in catalog.scan() if m.kind == PROPERTY_KIND]
    if not models:
        raise HTTPException(
            422,
            "smiles: no production molecular-property model is served",
        )
    rows = [MoleculeRow(row=i, smiles=s) for i, s in enumerate(body.smiles)]
    for model in models:
        records = catalog.predict(model, list(body.smiles))
        for row, record in zip(rows, records, strict=True):
            if record.values:
                row.predictions[model.name] = record.to_dict()
            elif row.error is None:
                text = "; ".join(record.warnings)
                why = text.split(NOT_PREDICTED, 1)[-1] if NOT_PREDICTED in text else text
                row.error = f"smiles[{row.row}]: {why or 'cannot be read'}"
    for row in rows:
        if row.error is not None:
            row.predictions.clear()  # a row one model could not read is read by none
    failed = [r for r in rows if r.error is not None]
    names = ", ".join(m.name for m in models)
    detail = f"{len(rows)} SMILES, {len(failed)} bad; models {names}"
    audit(session, user.id, "create", "molecule-predictions", None, detail)
    session.commit()
    if len(failed) == len(rows):
        raise HTTPException(
            422,
            "no SMILES could be read: " + "; ".join(r.error or "" for r in failed[:10]),
        )
    return MoleculePredictions(
        models=[m.name for m in models],
        n_predicted=len(rows) - len(failed),
        n_failed=len(failed),
        rows=rows,
    )
