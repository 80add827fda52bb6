"""Cast = check + spend + store, in one write transaction.

The spend is a conditional insert into `spends` whose row count decides the winner, so any
number of concurrent submits of one code for one item yield exactly one ballot. The ballot
row carries no trace of the credential. The caller acknowledges only after commit.

An API cast may carry an idempotency key, so that a client whose response was lost can retry and
learn its receipt: the record is written in the same transaction as the spend and deleted when the
item closes (sealing.py); every column but the item is keyed by the client's key, which is never stored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from sqlalchemy import and_, bindparam, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ballot.counting.errors import Refused
from ballot.storage.models import (
    ApiIdempotency,
    Credential,
    GroupState,
    Item,
    ItemGroup,
    ItemStatus,
    LiveBallot,
    LiveSpend,
)

from .codes import new_id
from .sealing import ballot_store_of, spent


class NotOpen(Refused):
    status, code = 409, "item_not_open"


class NotEligible(Refused):
    status, code = 403, "code_unusable"


class AlreadyCast(Refused):
    status, code = 409, "already_cast"


class IdempotencyMismatch(Refused):
    """The idempotency key was used by this code for this item with a different request."""

    status, code = 422, "idempotency_key_reused"


MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True)
class Idempotency:
    """What an API cast with an idempotency key stores, derived from (instance key, credential,
    item, the client's key): the row id, a digest of the request, and a pad that hides the receipt.
    A copy of the database, even with the instance secret, cannot tell which code a row belongs to
    or which receipt it holds without the client's key."""

    record_id: str
    request_digest: str
    pad: bytes

    @classmethod
    def derive(cls, secret: bytes, credential_id: str, item_id: int, key: str, request: bytes) -> "Idempotency":
        base = hmac.new(secret, f"{credential_id}\n{item_id}\n{key}".encode(), hashlib.sha256).digest()

        def part(label: bytes, data: bytes = b"") -> bytes:
            return hmac.new(base, label + b"\n" + data, hashlib.sha256).digest()

        return cls(part(b"id").hex(), part(b"request", request).hex(), part(b"receipt"))

    def seal(self, receipt: str) -> str:
        data = receipt.encode()
        return bytes(a ^ b for a, b in zip(data, self.pad, strict=False)).hex()

    def unseal(self, sealed: str) -> str:
        return bytes(a ^ b for a, b in zip(bytes.fromhex(sealed), self.pad, strict=False)).decode()


def earlier_receipt(session, idempotency: Idempotency) -> str | None:
    """The receipt of the earlier cast with this key, or None if there was none (or it is sealed);
    IdempotencyMismatch when the key came with a different request."""
    row = session.execute(
        select(ApiIdempotency.request_digest, ApiIdempotency.sealed_receipt).where(
            ApiIdempotency.id == idempotency.record_id
        )
    ).first()
    if row is None:
        return None
    if not hmac.compare_digest(row.request_digest, idempotency.request_digest):
        raise IdempotencyMismatch()
    return idempotency.unseal(row.sealed_receipt)


@dataclass(frozen=True)
class Cast:
    item_id: int
    receipt: str


def _dialect_name(executor) -> str:
    """For a Session or a Core Connection."""
    dialect = getattr(executor, "dialect", None) or executor.bind.dialect
    return dialect.name


def locked(session, stmt, exclusive: bool = True, of=None):
    """Rows read fresh and locked until commit on PostgreSQL (SQLite's BEGIN IMMEDIATE already
    serialises writers). populate_existing: an object already in the session is re-read."""
    if _dialect_name(session) == "postgresql":
        stmt = stmt.with_for_update(read=not exclusive, of=of)
    return session.execute(stmt.execution_options(populate_existing=True))


def lock_item(session: Session, item_id: int, exclusive: bool = False) -> Item | None:
    """Read the item, locked against a concurrent open/close/edit."""
    return locked(session, select(Item).where(Item.id == item_id), exclusive).scalar_one_or_none()


# The cast's statements are built once: a hall runs them thousands of times a minute, and
# building and keying a statement costs more than executing it on SQLite.
_ELIGIBLE = (
    select(Credential.group_id, Item.status, ItemGroup.state)
    .join(Item, Item.meeting_id == Credential.meeting_id)
    .join(ItemGroup, and_(ItemGroup.item_id == Item.id, ItemGroup.group_id == Credential.group_id))
    .where(Credential.id == bindparam("cred"), Credential.voided.is_(False), Item.id == bindparam("item"))
)
# PostgreSQL: hold the item row against a concurrent close until this transaction ends.
_ELIGIBLE_LOCKED = _ELIGIBLE.with_for_update(read=True, of=Item)
_SPEND = {
    name: dialect.insert(LiveSpend).on_conflict_do_nothing().returning(LiveSpend.item_id)
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}
_BALLOT = insert(LiveBallot)  # an open item's rows live in the live store until it closes
_IDEMPOTENCY = insert(ApiIdempotency)
# PostgreSQL: wake the projector watchers of every app server when this ballot commits
# (a NOTIFY is delivered at commit, never before; the payload says nothing about the ballot).
SCREEN_CHANNEL = "ballot_screen"
_NOTIFY = text(f"SELECT pg_notify('{SCREEN_CHANNEL}', '')")


def spend_insert(session, credential_id: str, item_id: int) -> bool:
    stmt = _SPEND["postgresql" if _dialect_name(session) == "postgresql" else "sqlite"]
    # RETURNING tells the winner reliably (rowcount of an upsert is not reported by every driver).
    return session.execute(stmt, {"credential_id": credential_id, "item_id": item_id}).first() is not None


def cast_ballot(
    session, credential_id: str, item_id: int, choices: dict, receipt: str, idempotency: Idempotency | None = None
) -> Cast:
    """`session` is a Session or a Core Connection in a write transaction (the hot path of a
    meeting hall uses a bare connection: a few small Core statements, no ORM)."""
    eligible = _ELIGIBLE_LOCKED if _dialect_name(session) == "postgresql" else _ELIGIBLE
    row = session.execute(eligible, {"cred": credential_id, "item": item_id}).first()
    if row is None:
        status = session.execute(select(Item.status).where(Item.id == item_id)).scalar_one_or_none()
        raise NotOpen() if status != ItemStatus.OPEN else NotEligible()
    if row.status != ItemStatus.OPEN or row.state != GroupState.OPEN:
        raise NotOpen()
    if not spend_insert(session, credential_id, item_id):
        raise AlreadyCast()
    session.execute(
        _BALLOT,
        {
            "id": new_id(),
            "item_id": item_id,
            "group_id": row.group_id,
            "valid": True,
            "choices_json": json.dumps(choices, sort_keys=True, ensure_ascii=False),
            "receipt": receipt,
        },
    )
    if idempotency is not None:  # in the spend's transaction: stored exactly when the ballot is
        session.execute(
            _IDEMPOTENCY,
            {
                "id": idempotency.record_id,
                "item_id": item_id,
                "request_digest": idempotency.request_digest,
                "sealed_receipt": idempotency.seal(receipt),
            },
        )
    if _dialect_name(session) == "postgresql":
        session.execute(_NOTIFY)
    return Cast(item_id, receipt)


def receipt_counted(session: Session, item_id: int, receipt: str) -> bool:
    """Is a ballot with this receipt among the item's ballots? (inclusion, never content)"""
    store = ballot_store_of(session, item_id)
    return session.execute(select(store.id).where(store.item_id == item_id, store.receipt == receipt)).first() is not None


def has_spent(session: Session, credential_id: str, item_id: int) -> bool:
    return bool(session.execute(select(spent(credential_id, item_id))).scalar())
