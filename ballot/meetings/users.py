"""Staff accounts: administrator, clerk (会务), chair (主持人), scrutineer (监票人), teller (计票人).

Each account has a session generation that every staff cookie carries: ending a user's sessions
(logout, a new password, deactivation, a new role) bumps it, and every older cookie stops working
at its next request, wherever it was copied to.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ballot.clock import utcnow
from ballot.counting.errors import Refused
from ballot.storage.models import ROLES, User

# Who may do what. The administrator may do everything.
PERMISSIONS = {
    "prepare": {"admin", "clerk"},  # meetings, groups, items, codes
    "conduct": {"admin", "chair"},  # 实到, open, close
    "observe": {"admin", "clerk", "chair", "scrutineer", "teller"},  # read-only views, audit log
    "enter_paper": {"admin", "clerk", "teller"},  # paper ballots: batches and entries (计票人)
    "settle_paper": {"admin", "scrutineer"},  # paper ballots: settle differences, declare done (监票人)
    "publish": {"admin", "chair"},  # reveal results, sign the tally archive with the instance key
    "manage_users": {"admin"},
}
MIN_PASSWORD = 10

# A real hash to compare against when the user does not exist, so timing does not tell.
_DUMMY_HASH = generate_password_hash("not-a-real-password", method="scrypt")


class UserError(Refused, ValueError):
    pass


def may(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


def create_user(
    session: Session, username: str, password: str, role: str, display_name: str = "", unit_id: int | None = None
) -> User:
    """An account of `unit_id` (by default the instance's own unit, the root)."""
    username = username.strip()
    if not username or len(username) > 64:
        raise UserError("用户名不能为空，且不超过 64 个字符")
    if role not in ROLES:
        raise UserError("角色无效")
    check_new_password(password)
    if session.execute(select(User).where(User.username == username)).scalar_one_or_none():
        raise UserError(f"用户名“{username}”已存在")
    if unit_id is None:
        from .units import root  # (units reads this module's PERMISSIONS)

        unit_id = root(session).id
    user = User(
        unit_id=unit_id,
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


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise UserError(f"密码至少 {MIN_PASSWORD} 个字符")
    if len(password) > 256:
        raise UserError("密码不超过 256 个字符")


def end_sessions(user: User) -> int:
    """Every cookie issued to the user before this stops working; returns the new generation."""
    user.session_generation = (user.session_generation or 0) + 1
    return user.session_generation


def _other_active_admins(session: Session, user: User) -> int:
    return len(
        session.execute(select(User.id).where(User.role == "admin", User.active.is_(True), User.id != user.id)).all()
    )


def set_password(user: User, password: str) -> None:
    check_new_password(password)
    user.password_hash = generate_password_hash(password, method="scrypt")
    end_sessions(user)


def change_own_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current):
        raise UserError("当前密码不正确")
    set_password(user, new)


def set_active(session: Session, user: User, active: bool) -> None:
    if not active and user.role == "admin" and _other_active_admins(session, user) == 0:
        raise UserError("不能停用唯一的管理员账号")
    user.active = active
    end_sessions(user)


def set_role(session: Session, user: User, role: str) -> None:
    if role not in ROLES:
        raise UserError("角色无效")
    if user.role == "admin" and role != "admin" and user.active and _other_active_admins(session, user) == 0:
        raise UserError("不能取消唯一的管理员账号的管理员角色")
    user.role = role
    end_sessions(user)


def authenticate(session: Session, username: str, password: str) -> User | None:
    user = session.execute(select(User).where(User.username == username.strip())).scalar_one_or_none()
    if user is None or not user.active:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return user if check_password_hash(user.password_hash, password) else None


def new_password() -> str:
    return secrets.token_urlsafe(12)
