"""User management: admins list, add and disable users; everyone changes their own password."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, Field
from sqlalchemy import select

from precisionmed.service import accounts
from precisionmed.service.audit import audit
from precisionmed.service.deps import Admin, CurrentUser, SessionDep
from precisionmed.service.models import User
from precisionmed.service.schemas import UserCreate, UserCreated, UserPublic
from precisionmed.service.security import hash_password, verify_password

router = APIRouter(prefix="/users", tags=["users"])


class PasswordChange(BaseModel):
    """The current password and a new one."""

    current_password: str
    new_password: str = Field(min_length=12, max_length=256)


@router.get("", response_model=list[UserPublic])
def list_users(admin: Admin, session: SessionDep) -> list[User]:
    """Every user (admins only)."""
    return accounts.list_users(session)


@router.post("", response_model=UserCreated, status_code=status.HTTP_201_CREATED)
def add_user(body: UserCreate, admin: Admin, session: SessionDep) -> UserCreated:
    """Add a user (admins only); a password is generated and returned once when none is given."""
    if session.scalar(select(User).where(User.username == body.username)) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"User {body.username!r} already exists.")
    user, generated = accounts.add_user(
        session, body.username, body.role, body.password, by=admin.id
    )
    return UserCreated(**UserPublic.model_validate(user).model_dump(), password=generated)


@router.post("/{username}/disable", response_model=UserPublic)
def disable_user(username: str, admin: Admin, session: SessionDep) -> User:
    """Disable a user (admins only): their tokens stop working at once."""
    if session.scalar(select(User).where(User.username == username)) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"No user {username!r}.")
    return accounts.disable_user(session, username, by=admin.id)


@router.post("/me/password", status_code=status.HTTP_204_NO_CONTENT)
def change_password(body: PasswordChange, user: CurrentUser, session: SessionDep) -> None:
    """Replace your password (e.g. the one-time password printed at first start)."""
    if not verify_password(body.current_password, user.password_hash):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "The current password is wrong.")
    user.password_hash = hash_password(body.new_password)
    audit(session, user.id, "change-password", "user", user.id)
    session.commit()
