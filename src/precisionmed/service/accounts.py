"""User accounts: add, list, disable, and the first admin (used by the API and the CLI)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from precisionmed.errors import ConfigError
from precisionmed.service.audit import audit
from precisionmed.service.models import ROLES, User
from precisionmed.service.security import hash_password, new_password

FIRST_ADMIN = "admin"
MIN_PASSWORD = 12


def add_user(
    session: Session,
    username: str,
    role: str,
    password: str | None = None,
    *,
    by: int | None = None,
) -> tuple[User, str | None]:
    """Add a user (committed); returns it and the generated password (None when one was given).

    Raises
    ------
    ConfigError
        An unknown role, a taken name, or a password shorter than 12 characters.
    """
    if role not in ROLES:
        raise ConfigError(f"role: expected one of {', '.join(ROLES)}; got {role!r}")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise ConfigError(f"username: a user {username!r} already exists")
    if password is not None and len(password) < MIN_PASSWORD:
        raise ConfigError(
            f"password: expected at least {MIN_PASSWORD} characters; got {len(password)}"
        )
    generated = None if password is not None else new_password()
    user = User(
        username=username, role=role, password_hash=hash_password(password or str(generated))
    )
    session.add(user)
    session.flush()
    audit(session, by, "create", "user", user.id, role)
    session.commit()
    return user, generated


def disable_user(session: Session, username: str, *, by: int | None = None) -> User:
    """Disable ``username`` (committed): sign-in and existing tokens stop working.

    Raises
    ------
    ConfigError
        No such user.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise ConfigError(f"username: no user {username!r}")
    user.is_active = False
    audit(session, by, "disable", "user", user.id)
    session.commit()
    return user


def list_users(session: Session) -> list[User]:
    """Every user, by id."""
    return list(session.scalars(select(User).order_by(User.id)))


def ensure_admin(session: Session) -> str | None:
    """Create the user ``admin`` when no admin exists; returns its one-time password (else None)."""
    if session.scalar(select(User).where(User.role == "admin")) is not None:
        return None
    _, password = add_user(session, FIRST_ADMIN, "admin")
    return password
