"""``POST /auth/token``: the OAuth2 password flow, issuing a JWT bearer token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import OAuth2PasswordRequestForm
from sqlalchemy import select

from precisionmed.service.audit import audit
from precisionmed.service.deps import LimiterDep, SessionDep, SettingsDep, rate_limited
from precisionmed.service.models import User
from precisionmed.service.schemas import Token
from precisionmed.service.security import create_token, verify_password

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/token", response_model=Token)
def issue_token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
    limiter: LimiterDep,
) -> Token:
    """Exchange a user name and password for a bearer token (``Authorization: Bearer ...``)."""
    rate_limited(limiter, ("login", form.username))  # slows down password guessing per account
    user = session.scalar(select(User).where(User.username == form.username))
    if not verify_password(form.password, user.password_hash if user else None) or user is None:
        audit(session, user.id if user else None, "login-failed", "user", user.id if user else None)
        session.commit()
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="Wrong user name or password.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not user.is_active:
        raise HTTPException(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="This account is disabled; ask an admin.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    audit(session, user.id, "login", "user", user.id)
    session.commit()
    token = create_token(
        user.username,
        user.role,
        settings.secret_key.get_secret_value(),
        settings.token_expire_minutes,
    )
    return Token(access_token=token, expires_in=settings.token_expire_minutes * 60)
