"""Bearer tokens for the JSON API: shown once when created, stored as SHA-256, revocable.

A token acts as the user who created it (same role), and its actions are audited under that
user's name with "(API)". It is scoped to one unit: it sees only that unit's meetings (and of
those only what its user may see).
"""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from ballot.clock import utcnow
from ballot.storage import audit
from ballot.storage.models import ApiToken, User

PREFIX = "blt_"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, user: User, name: str, actor: audit.Actor, unit_id: int | None = None) -> str:
    """A token of `user` scoped to `unit_id` (by default the user's unit; the caller checks that
    the user sees that unit)."""
    name = (name or "").strip()[:100] or "API"
    token = PREFIX + secrets.token_urlsafe(32)
    unit_id = user.unit_id if unit_id is None else unit_id
    row = ApiToken(
        name=name, token_hash=_hash(token), user_id=user.id, created_at=utcnow(), revoked=False, unit_id=unit_id
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "api_token.create", None, in_unit=unit_id, token_id=row.id, name=name, user=user.username
    )
    return token


def token_row(session: Session, token: str) -> ApiToken | None:
    """The live token row of an active user, or None."""
    if not token.startswith(PREFIX) or len(token) > 100:
        return None
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == _hash(token), ApiToken.revoked.is_(False))
    ).scalar_one_or_none()
    if row is None:
        return None
    user = session.get(User, row.user_id)
    return row if user is not None and user.active else None


def user_for_token(session: Session, token: str) -> User | None:
    row = token_row(session, token)
    return session.get(User, row.user_id) if row is not None else None


def revoke(session: Session, token_id: int, actor: audit.Actor, owner_id: int | None = None, allowed=None) -> None:
    """Revoke a token; with owner_id, only a token of that user; with `allowed`, only a token it
    accepts (an administrator's: those of the accounts they manage)."""
    row = session.get(ApiToken, token_id)
    if row is None or row.revoked or (owner_id is not None and row.user_id != owner_id):
        raise ValueError("没有这个有效的令牌")
    if allowed is not None and not allowed(row):
        raise ValueError("没有这个有效的令牌")
    row.revoked = True
    audit.record(session, actor, "api_token.revoke", None, in_unit=row.unit_id, token_id=token_id, name=row.name)


def tokens(session: Session) -> list[tuple[ApiToken, str]]:
    rows = session.execute(select(ApiToken, User.username).join(User, User.id == ApiToken.user_id)).all()
    return [(t, u) for t, u in rows]
