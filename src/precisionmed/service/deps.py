"""Typed dependencies of the routes (the full-stack template's ``api/deps.py``).

``SessionDep``: a database session per request, committed by the route; ``CurrentUser``: the
active user of a valid bearer token, after the per-user rate limit; ``require_roles(...)``:
refuses other roles with 403 and an audit row.

The dependencies that do no blocking work are ``async def``: FastAPI runs a plain ``def``
dependency in its thread pool, and each such hop (a thread switch, and a wait for a core on a
busy machine) cost a request more than the work itself. Creating and closing a session does no
I/O here (the route commits; closing a committed session only returns its connection to the
pool); the user lookup and the routes' own bodies stay in the thread pool.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from precisionmed.service.audit import audit
from precisionmed.service.config import ServiceSettings
from precisionmed.service.db import WriteLock
from precisionmed.service.inference import ModelCatalog
from precisionmed.service.models import User
from precisionmed.service.ratelimit import TokenBucketLimiter
from precisionmed.service.security import decode_token
from precisionmed.service.uploads import UploadStore

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token")


async def get_db(request: Request) -> AsyncIterator[Session]:
    """A session of the app's database, closed (rolled back unless committed) after use."""
    with request.app.state.sessions() as session:
        yield session


async def get_settings(request: Request) -> ServiceSettings:
    """The settings the app was created with."""
    return request.app.state.settings


async def get_catalog(request: Request) -> ModelCatalog:
    """The app's model catalog."""
    return request.app.state.catalog


async def get_write_lock(request: Request) -> WriteLock:
    """The app's lock around write transactions (SQLite: one writer at a time)."""
    return request.app.state.write_lock


async def get_uploads(request: Request) -> UploadStore:
    """Where the app keeps uploaded files."""
    return request.app.state.uploads


async def get_limiter(request: Request) -> TokenBucketLimiter:
    """The app's rate limiter."""
    return request.app.state.limiter


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
CatalogDep = Annotated[ModelCatalog, Depends(get_catalog)]
LimiterDep = Annotated[TokenBucketLimiter, Depends(get_limiter)]
WriteLockDep = Annotated[WriteLock, Depends(get_write_lock)]
UploadsDep = Annotated[UploadStore, Depends(get_uploads)]
TokenDep = Annotated[str, Depends(oauth2_scheme)]

UNAUTHORIZED = HTTPException(
    status_code=status.HTTP_401_UNAUTHORIZED,
    detail="Not signed in: the bearer token is missing, invalid or expired.",
    headers={"WWW-Authenticate": "Bearer"},
)


def rate_limited(limiter: TokenBucketLimiter, key: object) -> None:
    """Raise HTTP 429 with Retry-After when ``key`` has used up its requests."""
    wait = limiter.acquire(key)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many requests: try again in {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )


def get_current_user(
    session: SessionDep, settings: SettingsDep, limiter: LimiterDep, token: TokenDep
) -> User:
    """The active user the bearer token was issued to (HTTP 401 otherwise, 429 over the limit)."""
    username = decode_token(token, settings.secret_key.get_secret_value())
    if username is None:
        raise UNAUTHORIZED
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        raise UNAUTHORIZED
    rate_limited(limiter, ("user", user.id))
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


def require_roles(*roles: str) -> Callable[..., Awaitable[User]]:
    """A dependency admitting only users of ``roles`` (HTTP 403, audited, for the others)."""

    async def dependency(request: Request, user: CurrentUser, session: SessionDep) -> User:
        if user.role not in roles:
            await run_in_threadpool(
                _audit_denied, session, user.id, f"{request.method} {_route(request)}"
            )
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"This needs the role {' or '.join(roles)}; you are a {user.role}.",
            )
        return user

    return dependency


def _audit_denied(session: Session, user_id: int, endpoint: str) -> None:
    audit(session, user_id, "denied", "endpoint", None, endpoint)
    session.commit()


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "") or request.url.path


Clinician = Annotated[User, Depends(require_roles("clinician", "admin"))]
Admin = Annotated[User, Depends(require_roles("admin"))]
