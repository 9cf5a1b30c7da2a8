"""``GET /health`` (no token needed) and ``GET /metrics`` (Prometheus text, admins only)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from precisionmed import __version__
from precisionmed.service.deps import Admin
from precisionmed.service.schemas import Health

router = APIRouter(tags=["system"])


@router.get("/health", response_model=Health)
def health(request: Request) -> Health:
    """Liveness: ``ok`` when the database answers, ``degraded`` when it does not."""
    try:
        with request.app.state.sessions() as session:
            session.execute(text("SELECT 1"))
        database = True
    except Exception:  # any database failure means degraded, never a 500 from /health
        database = False
    return Health(status="ok" if database else "degraded", database=database, version=__version__)


@router.get("/metrics", response_class=Response)
def metrics(request: Request, admin: Admin) -> Response:
    """Request counts and latencies, predictions and feedback, in Prometheus text format."""
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    # every worker's metrics when several serve (see precisionmed.service.drift)
    registry = request.app.state.drift.exposition_registry()
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
