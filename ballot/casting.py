"""Cast = check + spend + store, in one write transaction.

The spend is a conditional insert into `spends` whose row count decides the winner, so any
number of concurrent submits of one code for one item yield exactly one ballot. The ballot
row carries no trace of the credential. The caller acknowledges only after commit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import and_, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .codes import new_id
from .models import Ballot, Credential, Item, ItemGroup, Spend


class NotOpen(Exception):
    pass


class NotEligible(Exception):
    pass


class AlreadyCast(Exception):
    pass


@dataclass(frozen=True)
class Cast:
    item_id: int
    receipt: str


def locked(session: Session, stmt, exclusive: bool = True):
    """Rows read fresh and locked until commit on PostgreSQL (SQLite's BEGIN IMMEDIATE already
    serialises writers). populate_existing: an object already in the session is re-read."""
    if session.bind.dialect.name == "postgresql":
        stmt = stmt.with_for_update(read=not exclusive)
    return session.execute(stmt.execution_options(populate_existing=True))


def lock_item(session: Session, item_id: int, exclusive: bool = False) -> Item | None:
    """Read the item, locked against a concurrent open/close/edit."""
    return locked(session, select(Item).where(Item.id == item_id), exclusive).scalar_one_or_none()


def spend_insert(session: Session, credential_id: str, item_id: int) -> bool:
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    stmt = (
        dialect.insert(Spend)
        .values(credential_id=credential_id, item_id=item_id)
        .on_conflict_do_nothing()
        .returning(Spend.item_id)
    )
    # RETURNING tells the winner reliably (rowcount of an upsert is not reported by every driver).
    return session.execute(stmt).first() is not None


def cast_ballot(session: Session, credential_id: str, item_id: int, choices: dict, receipt: str) -> Cast:
    # The hot path of a meeting hall: a handful of small Core statements, no ORM objects.
    status = locked(session, select(Item.status).where(Item.id == item_id), exclusive=False).scalar_one_or_none()
    if status != "open":
        raise NotOpen()
    group_id = session.execute(
        select(Credential.group_id)
        .join(Item, Item.meeting_id == Credential.meeting_id)
        .join(ItemGroup, and_(ItemGroup.item_id == Item.id, ItemGroup.group_id == Credential.group_id))
        .where(Credential.id == credential_id, Credential.voided.is_(False), Item.id == item_id)
    ).scalar_one_or_none()
    if group_id is None:
        raise NotEligible()
    if not spend_insert(session, credential_id, item_id):
        raise AlreadyCast()
    session.execute(
        insert(Ballot).values(
            id=new_id(),
            item_id=item_id,
            group_id=group_id,
            valid=True,
            choices_json=json.dumps(choices, sort_keys=True, ensure_ascii=False),
            receipt=receipt,
        )
    )
    return Cast(item_id, receipt)


def receipt_counted(session: Session, item_id: int, receipt: str) -> bool:
    """Is a ballot with this receipt among the item's ballots? (inclusion, never content)"""
    return (
        session.execute(select(Ballot.id).where(Ballot.item_id == item_id, Ballot.receipt == receipt)).first()
        is not None
    )


def has_spent(session: Session, credential_id: str, item_id: int) -> bool:
    return (
        session.execute(
            select(Spend.item_id).where(Spend.credential_id == credential_id, Spend.item_id == item_id)
        ).first()
        is not None
    )
