"""Staff accounts: administrator, clerk (会务), chair (主持人), scrutineer (监票人)."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from .clock import utcnow
from .models import ROLES, User

# Who may do what. The administrator may do everything.
PERMISSIONS = {
    "prepare": {"admin", "clerk"},  # meetings, groups, items, codes
    "conduct": {"admin", "chair"},  # 实到, open, close
    "observe": {"admin", "clerk", "chair", "scrutineer", "teller"},  # read-only views, audit log
    "enter_paper": {"admin", "clerk", "teller"},  # paper ballots: batches and entries (计票人)
    "settle_paper": {"admin", "scrutineer"},  # paper ballots: settle differences, declare done (监票人)
    "manage_users": {"admin"},
}

# A real hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


class UserError(ValueError):
    pass


def may(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def create_user(session: Session, username: str, password: str, role: str, display_name: str = "") -> User:
    username = username.strip()
    if not username or len(username) > 64:
        raise UserError("用户名不能为空，且不超过 64 个字符")
    if role not in ROLES:
        raise UserError("角色无效")
    if len(password) < 10:
        raise UserError("密码至少 10 个字符")
    if session.execute(select(User).where(User.username == username)).scalar_one_or_none():
        raise UserError(f"用户名“{username}”已存在")
    user = User(
        username=username,
        display_name=display_name.strip()[:64],
        role=role,
        active=True,
        password_hash=generate_password_hash(password, method="scrypt"),
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def new_password() -> str:
    return secrets.token_urlsafe(12)
