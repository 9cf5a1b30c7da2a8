"""``GET /models``: the production models the service runs, recorded in ``model_versions``."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session

from precisionmed.service.deps import CatalogDep, CurrentUser, SessionDep
from precisionmed.service.inference import ServedModel
from precisionmed.service.models import ModelVersion
from precisionmed.service.schemas import ModelPublic

router = APIRouter(prefix="/models", tags=["models"])


@router.get("", response_model=list[ModelPublic])
def list_models(user: CurrentUser, session: SessionDep, catalog: CatalogDep) -> list[ModelPublic]:
    """The models now served (stage ``production``), with their versions and test metrics."""
    served = catalog.scan()
    record_versions(session, served)
    session.commit()
    return [
        ModelPublic(
            name=m.name,
            version=m.version,
            kind=m.kind,
            pillar=m.pillar,
            input_kind=m.input_kind,
            stage="production",
            input_columns=list(m.columns),
            metrics=m.metrics,
        )
        for m in served
    ]


def record_versions(session: Session, served: list[ServedModel]) -> None:
    """Add a ``model_versions`` row for each served version not seen before; versions no
    longer in the models directory become ``archived``."""
    rows = list(session.scalars(select(ModelVersion)))
    known = {(r.name, r.version): r for r in rows}
    current = {(m.name, m.version) for m in served}
    for m in served:
        row = known.get((m.name, m.version))
        if row is None:
            session.add(
                ModelVersion(
                    name=m.name,
                    version=m.version,
                    kind=m.kind,
                    pillar=m.pillar,
                    input_kind=m.input_kind,
                    stage="production",
                    path=str(m.path),
                    metrics=m.metrics,
                )
            )
        elif row.stage != "production":
            row.stage = "production"
    for key, row in known.items():
        if key not in current and row.stage == "production":
            row.stage = "archived"
