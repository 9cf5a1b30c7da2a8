"""Models: the production models served, the registry's versions, promotion by an admin."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi import Path as PathParam

from precisionmed.service import registry
from precisionmed.service.audit import audit
from precisionmed.service.deps import Admin, CatalogDep, CurrentUser, SessionDep
from precisionmed.service.models import ModelVersion
from precisionmed.service.schemas import ModelPublic, ModelVersionPublic

router = APIRouter(prefix="/models", tags=["models"])
Name = Annotated[str, PathParam(max_length=128, description="The model's name.")]
Version = Annotated[
    str, PathParam(min_length=6, max_length=64, description="The version or its first digits.")
]


@router.get("", response_model=list[ModelPublic])
def list_models(user: CurrentUser, catalog: CatalogDep) -> list[ModelPublic]:
    """The models now served (stage ``production``), with their versions, test metrics and how
    they are run (ONNX Runtime or torch, once first used)."""
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
            backend=backend.name if (backend := catalog.backend(m)) else None,
            backend_reason=backend.reason if backend else None,
        )
        for m in catalog.scan()
    ]


@router.get("/versions", response_model=list[ModelVersionPublic])
def list_versions(
    user: CurrentUser,
    session: SessionDep,
    catalog: CatalogDep,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> list[ModelVersion]:
    """Every registered version (candidates, production, archived) with its evidence."""
    catalog.scan()  # registers what the models directory holds
    return registry.versions(session, name)


@router.post("/{name}/versions/{version}/promote", response_model=ModelVersionPublic)
def promote_version(
    name: Name,
    version: Version,
    user: Admin,
    session: SessionDep,
    force: Annotated[bool, Query(description="Promote without a passed gate.")] = False,
) -> ModelVersion:
    """Make a version production, if the gate passed (served from the next request)."""
    row = registry.promote(session, name, version, force=force)
    audit(session, user.id, "promote", "model", row.id, f"{name} {row.version[:12]}")
    session.commit()
    return row


@router.post("/{name}/versions/{version}/archive", response_model=ModelVersionPublic)
def archive_version(name: Name, version: Version, user: Admin, session: SessionDep) -> ModelVersion:
    """Archive a version (a production version stops being served)."""
    row = registry.archive(session, name, version)
    audit(session, user.id, "archive", "model", row.id, f"{name} {row.version[:12]}")
    session.commit()
    return row
