"""Passwords (argon2id) and bearer tokens (JWT, HS256, with expiry)."""

from __future__ import annotations

import functools
import secrets
from datetime import timedelta

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from precisionmed.service.models import utcnow

ALGORITHM = "HS256"
_HASHER = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters


@functools.cache
def _dummy_hash() -> str:
    """A valid hash of a random password, verified against when the user does not exist, so
    that a wrong user name and a wrong password take the same time (no user enumeration)."""
    return _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (with its salt and parameters)."""
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    """Whether ``password`` matches ``password_hash``; False for a missing or malformed hash."""
    try:
        matches = _HASHER.verify(password_hash or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return matches and password_hash is not None


def new_password() -> str:
    """A random password of 20 URL-safe characters (about 120 bits)."""
    return secrets.token_urlsafe(15)


def create_token(username: str, role: str, secret: str, expire_minutes: int) -> str:
    """A signed bearer token for ``username`` that expires in ``expire_minutes``."""
    now = utcnow()
    claims = {
        "sub": username,
        "role": role,
        "iat": now,
        "exp": now + timedelta(minutes=expire_minutes),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str) -> str | None:
    """The user name a valid, unexpired token was issued to; None for any other token."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.PyJWTError:
        return None
    sub = claims.get("sub")
    return sub if isinstance(sub, str) else None
