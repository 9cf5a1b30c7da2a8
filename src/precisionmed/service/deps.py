"""Typed dependencies of the routes (the full-stack template's ``api/deps.py``).

``SessionDep``: a database session per request, committed by the route; ``CurrentUser``: the
active user of a valid bearer token, after the per-user rate limit; ``require_roles(...)``:
refuses other roles with 403 and an audit row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy import select
from sqlalchemy.orm import Session

from precisionmed.service.audit import audit
from precisionmed.service.config import ServiceSettings
from precisionmed.service.inference import ModelCatalog
from precisionmed.service.models import User
from precisionmed.service.ratelimit import TokenBucketLimiter
from precisionmed.service.security import decode_token

oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/auth/token")


def get_db(request: Request) -> Iterator[Session]:
    """A session of the app's database, closed (rolled back unless committed) after use."""
    with request.app.state.sessions() as session:
        yield session


def get_settings(request: Request) -> ServiceSettings:
    """The settings the app was created with."""
    return request.app.state.settings


def get_catalog(request: Request) -> ModelCatalog:
    """The app's model catalog."""
    return request.app.state.catalog


def get_limiter(request: Request) -> TokenBucketLimiter:
    """The app's rate limiter."""
    return request.app.state.limiter


SessionDep = Annotated[Session, Depends(get_db)]
SettingsDep = Annotated[ServiceSettings, Depends(get_settings)]
CatalogDep = Annotated[ModelCatalog, Depends(get_catalog)]
LimiterDep = Annotated[TokenBucketLimiter, Depends(get_limiter)]
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
        raise HTTPException(
            status_code=status.HTTP_429_TOO_MANY_REQUESTS,
            detail=f"Too many requests: try again in {wait:.0f} s.",
            headers={"Retry-After": str(max(1, round(wait)))},
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


def require_roles(*roles: str) -> Callable[..., User]:
    """A dependency admitting only users of ``roles`` (HTTP 403, audited, for the others)."""

    def dependency(request: Request, user: CurrentUser, session: SessionDep) -> User:
        if user.role not in roles:
            audit(
                session, user.id, "denied", "endpoint", None, f"{request.method} {_route(request)}"
            )
            session.commit()
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"This needs the role {' or '.join(roles)}; you are a {user.role}.",
            )
        return user

    return dependency


def _route(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", "") or request.url.path


Clinician = Annotated[User, Depends(require_roles("clinician", "admin"))]
Admin = Annotated[User, Depends(require_roles("admin"))]
