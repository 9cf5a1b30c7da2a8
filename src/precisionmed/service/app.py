"""``create_app(settings)``: the FastAPI application of the telemedicine service.

Everything the app holds (engine, sessions, model catalog, rate limiter, metrics registry) is
made here and kept on ``app.state``; nothing is created at import time, so tests build as many
independent apps as they like. ``app_from_environment`` is the factory ``uvicorn`` calls in each
worker (settings from ``PRECISIONMED_*`` variables).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from precisionmed import __version__
from precisionmed.errors import (
    ArtifactError,
    ConfigError,
    DataFormatError,
    DatasetNotFoundError,
    MissingExtraError,
    PrecisionMedError,
)
from precisionmed.service.config import ServiceSettings, load_service_settings
from precisionmed.service.db import (
    WriteLock,
    make_engine,
    session_factory,
    sqlite_path,
    upgrade_database,
)
from precisionmed.service.drift import DriftMonitor
from precisionmed.service.inference import ModelCatalog
from precisionmed.service.ratelimit import TokenBucketLimiter
from precisionmed.service.uploads import UploadRejected, UploadStore

#: Room for the multipart envelope around an upload of the largest accepted size.
MULTIPART_OVERHEAD = 64 * 1024


class ServiceMetrics:
    """The app's Prometheus metrics, in a registry of its own (not the global one)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "precisionmed_http_requests",
            "HTTP requests by method, route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "precisionmed_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["route"],
            registry=self.registry,
        )


def create_app(settings: ServiceSettings, *, migrate: bool = True) -> FastAPI:
    """The service for ``settings``.

    Parameters
    ----------
    settings : ServiceSettings
    migrate : bool
        Bring the database to the newest schema first (``alembic upgrade head``).
    """
    from precisionmed.service.api import (
        admin,
        auth,
        cases,
        explain,
        feedback,
        jobs,
        models,
        molecules,
        reports,
        system,
        treatments,
        users,
        variants,
        web,
    )
    from precisionmed.service.jobs import JobRunner

    url = settings.resolved_database_url
    if migrate:
        upgrade_database(url)
    engine = make_engine(url, sqlite_synchronous=settings.sqlite_synchronous)
    app = FastAPI(
        title="precisionmed telemedicine service",
        version=__version__,
        description="Submit a case, get the platform's analysis, tell us when it is wrong.",
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessions = session_factory(engine)
    app.state.write_lock = WriteLock(sqlite_path(url))
    app.state.uploads = UploadStore(settings.uploads_dir)
    app.state.metrics = ServiceMetrics()
    app.state.drift = DriftMonitor(app.state.metrics.registry, window=settings.drift_window)
    app.state.catalog = ModelCatalog(
        settings.models_dir,
        app.state.sessions,
        app.state.drift,
        onnx_dir=settings.onnx_dir,
        max_batch=settings.batch_max_size,
        max_wait_s=settings.batch_max_wait_ms / 1000,
    )
    app.state.jobs = JobRunner.recovered(app.state.sessions, app.state.catalog, settings)
    app.state.limiter = TokenBucketLimiter(
        settings.rate_limit_per_minute, settings.rate_limit_burst
    )
    for router in (
        system.router,
        auth.router,
        cases.router,
        feedback.router,
        models.router,
        users.router,
        web.router,
        admin.router,
        explain.router,
        jobs.router,
        molecules.router,
        reports.router,
        treatments.router,
        variants.router,
    ):
        app.include_router(router)
    _add_error_handlers(app)
    _add_metrics(app)
    app.add_middleware(BodySizeLimit, limit=settings.max_upload_bytes + MULTIPART_OVERHEAD)
    return app


def app_from_environment() -> FastAPI:
    """The app with settings from the environment (the factory ``uvicorn`` workers call)."""
    return create_app(load_service_settings(), migrate=False)


def error_status(exc: PrecisionMedError) -> int:
    """The HTTP status of one of our errors: the client's fault 4xx, the server's 503."""
    if isinstance(exc, UploadRejected):
        return exc.status_code
    if isinstance(exc, DataFormatError):
        return 422
    if isinstance(exc, DatasetNotFoundError):
        return 404
    if isinstance(exc, ConfigError):
        return 400
    if isinstance(exc, ArtifactError | MissingExtraError):
        return 503  # a damaged model directory or a missing extra: not the request's fault
    return 400


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PrecisionMedError)
    async def _precisionmed_error(request: Request, exc: PrecisionMedError) -> JSONResponse:
        return JSONResponse({"detail": " ".join(str(exc).split())}, status_code=error_status(exc))


def _add_metrics(app: FastAPI) -> None:
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)


class RequestMetrics:
    """ASGI middleware counting requests by method, route and status, and timing them.

    Plain ASGI rather than ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs
    the route in a task of its own and copies the response through a stream, which cost every
    request a noticeable share of the service's time.
    """

    def __init__(self, app: Any, metrics: ServiceMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def observing_send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observing_send)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - start)


class BodySizeLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes with HTTP 413.

    A declared ``Content-Length`` over the limit is refused before the body is read; a body
    sent without one (chunked) is counted as it arrives and cut off at the limit, so that an
    oversized upload is never spooled to disk whole.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counting_receive() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Any) -> None:
        response = JSONResponse(
            {"detail": f"upload: the request body is over the limit of {self.limit:,} bytes"},
            status_code=413,
        )
        await response({"type": "http"}, _no_receive, send)


class _BodyTooLarge(Exception):
    pass


async def _no_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}
