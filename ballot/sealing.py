"""Sealing a closed item so that no copy of the database links a ballot to a code.

Inside the closing transaction the API's idempotency records of the item (casting.Idempotency)
are deleted, and the item's ballots and spend records are deleted and written back in a random
order with fresh random keys, so every row carries the same transaction
(PostgreSQL `xmin`) and no row's position tells when it was cast. After commit the storage
is compacted (compact_pending): PostgreSQL rewrites both tables and the idempotency records (VACUUM FULL, so `ctid` follows the shuffled
order and dead tuples are gone), and the paper entries, whose readings are overwritten once counted; SQLite (secure_delete on every connection) checkpoints and
truncates the WAL, vacuums, and truncates the WAL again.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from .codes import new_id
from .db import Database, StorageFailure, storage_failure
from .models import ApiIdempotency, Ballot, Item, Spend

log = logging.getLogger("ballot")

_rng = random.SystemRandom()


def rewrite_shuffled(session: Session, item_id: int) -> int:
    # An idempotency record ties a code to a receipt while the item is open; none survives the seal.
    session.execute(
        delete(ApiIdempotency).where(ApiIdempotency.item_id == item_id).execution_options(synchronize_session=False)
    )
    # Plain rows, not ORM objects, so nothing of the old rows stays in the session.
    cols_b = (
        Ballot.item_id,
        Ballot.group_id,
        Ballot.valid,
        Ballot.choices_json,
        Ballot.receipt,
        Ballot.channel,
        Ballot.invalid_reason,
    )
    rows_b = [row._asdict() for row in session.execute(select(*cols_b).where(Ballot.item_id == item_id))]
    rows_s = [
        row._asdict()
        for row in session.execute(select(Spend.credential_id, Spend.item_id).where(Spend.item_id == item_id))
    ]
    session.execute(delete(Ballot).where(Ballot.item_id == item_id).execution_options(synchronize_session=False))
    session.execute(delete(Spend).where(Spend.item_id == item_id).execution_options(synchronize_session=False))
    _rng.shuffle(rows_b)
    _rng.shuffle(rows_s)
    for row in rows_b:
        session.add(Ballot(id=new_id(), **row))
        session.flush()  # one INSERT at a time, in the shuffled order
    for row in rows_s:
        session.add(Spend(**row))
        session.flush()
    return len(rows_b)


@dataclass(frozen=True)
class Postponed:
    """compact_pending's answer when it gave up: false, and why (for the chair, the API and the log)."""

    failure: StorageFailure

    def __bool__(self) -> bool:
        return False

    @property
    def reason(self) -> str:
        return self.failure.text

    @property
    def message(self) -> str:
        if self.failure.kind == "busy":
            return f"数据库整理因{self.reason}推迟，将在下次结束表决或重启服务时自动完成。"
        return (
            f"数据库整理未能完成：{self.reason}。请技术人员处理后运行 ballot db compact（或重启服务）；"
            "完成前，数据库文件里可能仍留有投票先后的痕迹。"
        )


def compact_pending(db: Database) -> bool | Postponed:
    """Compact storage if any closed item still waits for it; True when nothing is left to do.

    Runs after every close, when `ballot serve` starts and from `ballot db compact`. Short lock
    waits: if other connections are busy it gives up quickly and leaves the items marked, so a
    later call finishes the job instead of a request hanging. Gives up with a (false) Postponed
    that names the reason: busy, a full disk, …
    """
    with db.read() as s:
        pending = list(
            s.execute(select(Item.id).where(Item.closed_at.is_not(None), Item.compacted.is_(False))).scalars()
        )
    if not pending:
        return True
    try:
        _compact_storage(db)
    except (OperationalError, DBAPIError, sqlite3.OperationalError, RuntimeError) as exc:
        failure = storage_failure(exc)
        log.warning("storage compaction postponed (%s)", failure)
        return Postponed(failure)
    with db.write() as s:
        s.execute(update(Item).where(Item.id.in_(pending)).values(compacted=True))
    if db.sqlite:
        with _sqlite_cursor(db) as cur:
            try:
                _checkpoint(cur)
            except RuntimeError:
                pass  # only the flag update is left in the WAL
    return True


@contextmanager
def _sqlite_cursor(db: Database):
    """A raw cursor under the writer lock, with short lock waits (restored before it returns
    to the pool) so that compaction gives up rather than hangs."""
    with db.write_lock:
        raw = db.write_engine.raw_connection()
        cur = raw.cursor()
        cur.execute("PRAGMA busy_timeout=200")
        try:
            yield cur
        finally:
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()
            raw.close()


def _compact_storage(db: Database) -> None:
    if db.sqlite:
        with _sqlite_cursor(db) as cur:
            _checkpoint(cur)
            cur.execute("VACUUM")
            _checkpoint(cur)
    else:
        with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET lock_timeout = '5s'"))
            conn.execute(text("VACUUM FULL ballots"))
            conn.execute(text("VACUUM FULL spends"))
            conn.execute(text("VACUUM FULL api_idempotency"))
            conn.execute(text("VACUUM FULL paper_entries"))  # readings overwritten once counted
            conn.execute(text("RESET lock_timeout"))


def _checkpoint(cur, attempts: int = 20) -> None:
    for _ in range(attempts):
        busy, _log, _done = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return
        time.sleep(0.1)
    raise RuntimeError("WAL checkpoint stayed busy")
