"""Sealing a closed item so that no copy of the database links a ballot to a code, at a cost
that follows the item, not the history.

Two stores. The ballots, spends and API idempotency records of OPEN items live in the live store
(schema `live`: a PostgreSQL schema, or on SQLite a second file attached as `live`, with its own
WAL); sealed ones in `ballots` and `spends`, which only ever grow. A cast writes the live store
alone, in one transaction (casting.py). Closing is three steps:

1. seal_item, inside the closing transaction: the item's live ballots and spends are read, shuffled
   and inserted into the sealed tables in ONE batch, with fresh random ballot keys, so every row
   carries the closing transaction (PostgreSQL `xmin`) and physical order is the shuffled order.
   The live rows are not touched: on SQLite this transaction writes the main file only, so it is
   atomic. From its commit on, readers take a closed item's rows from the sealed store only.
2. purge_live (compact_pending): the live rows of closed items are deleted (a transaction on the
   live store only; secure_delete on SQLite).
3. the live store, small, is compacted: PostgreSQL VACUUM FULL of the live tables (short lock
   waits, retried), SQLite `VACUUM live` and both WALs truncated. Nothing of the sealed history is
   rewritten.

A crash between 1 and 2 leaves the item closed and sealed with stale live rows nobody reads; the
item stays `compacted = false`, so the next close, start or `ballot db compact` finishes 2 and 3.
No ballot is lost (the sealed copy committed first) or counted twice (readers pick the store by
the item's status), and no credential can be spent again (the item is closed).

Paper ballots carry no code: they go straight into the sealed table, shuffled per stack, so an
open item's ballots are its live ones and its paper ones (item_ballots).
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import delete, exists, func, insert, or_, select, text, union_all, update
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session

from ballot.storage.db import Database, StorageFailure, storage_failure
from ballot.storage.models import (
    ApiIdempotency,
    Ballot,
    BatchStatus,
    Item,
    ItemStatus,
    LiveBallot,
    LiveSpend,
    PaperBatch,
    Spend,
)

from .codes import new_id

log = logging.getLogger("ballot")

_rng = random.SystemRandom()
BALLOT_FIELDS = ("item_id", "group_id", "valid", "choices_json", "receipt", "channel", "invalid_reason")
LIVE_TABLES = ("live.ballots", "live.spends", "live.api_idempotency")


# --- reading: which store holds an item's rows -------------------------------------------------


def _status(session, item_id: int) -> str | None:
    return session.execute(select(Item.status).where(Item.id == item_id)).scalar_one_or_none()


def ballot_store_of(session, item_id: int):
    """The table of the item's phone ballots (receipts): live while open, sealed afterwards."""
    return LiveBallot if _status(session, item_id) == "open" else Ballot


def item_ballots(session, item_id: int, status: str | None = None):
    """The item's ballots as one subquery with the columns of `ballots`: sealed only once closed
    (stale live rows of a close not yet purged are never read); while open, the live ones and the
    paper ones already counted."""
    status = _status(session, item_id) if status is None else status
    sealed = select(Ballot.id, *(getattr(Ballot, f) for f in BALLOT_FIELDS)).where(Ballot.item_id == item_id)
    if status != ItemStatus.OPEN:
        return sealed.subquery("item_ballots")
    live = select(LiveBallot.id, *(getattr(LiveBallot, f) for f in BALLOT_FIELDS)).where(
        LiveBallot.item_id == item_id
    )
    return union_all(live, sealed).subquery("item_ballots")


def open_items_ballot_count(session, item_ids) -> int:
    """Ballots cast so far in these open items (a list or a select of ids): live, plus paper."""
    live = session.execute(select(func.count()).where(LiveBallot.item_id.in_(item_ids))).scalar_one()
    sealed = session.execute(select(func.count()).where(Ballot.item_id.in_(item_ids))).scalar_one()
    return live + sealed


def spent(credential_id, item_id):
    """SQL truth value: the credential was used for the item (open: live; closed: sealed)."""
    return or_(
        exists().where(LiveSpend.credential_id == credential_id, LiveSpend.item_id == item_id),
        exists().where(Spend.credential_id == credential_id, Spend.item_id == item_id),
    )


def spent_credentials(meeting_id: int):
    """Every credential used for some item of the meeting (one may appear more than once): read
    through the spends' item keys, so the cost follows the meeting, not the history."""
    items = select(Item.id).where(Item.meeting_id == meeting_id)
    return union_all(
        select(LiveSpend.credential_id).where(LiveSpend.item_id.in_(items)),
        select(Spend.credential_id).where(Spend.item_id.in_(items)),
    ).subquery("spent")


# --- step 1: sealing inside the closing transaction --------------------------------------------


def seal_item(session: Session, item_id: int) -> int:
    """Copy the item's live ballots and spends into the sealed tables, shuffled, in one batch per
    table; returns the item's ballots (paper included). The caller's transaction sets the item
    closed: both commit together, on SQLite in the main file alone."""
    # Plain rows, not ORM objects, so nothing of the live rows stays in the session.
    cols = [getattr(LiveBallot, f) for f in BALLOT_FIELDS]
    rows_b = [
        dict(zip(BALLOT_FIELDS, row, strict=True))
        for row in session.execute(select(*cols).where(LiveBallot.item_id == item_id))
    ]
    credentials = session.execute(select(LiveSpend.credential_id).where(LiveSpend.item_id == item_id)).scalars()
    rows_s = [{"credential_id": credential_id, "item_id": item_id} for credential_id in credentials]
    _rng.shuffle(rows_b)
    _rng.shuffle(rows_s)
    # A fresh key (the live one was written at cast time): the item's id, then 96 random bits.
    # The prefix keeps an item's rows together at the end of the key order (SQLite: WITHOUT
    # ROWID, so file order), so the batch fills fresh pages instead of touching one old page of
    # the history per row; within the item the order is random.
    for row in rows_b:
        row["id"] = f"{item_id:08x}{new_id()[:24]}"
    # One batch each (executemany / multi-row VALUES): the rows land in the shuffled order.
    conn = session.connection()  # Core executemany: no ORM bookkeeping for thousands of rows
    if rows_b:
        conn.execute(insert(Ballot.__table__), rows_b)
    if rows_s:
        conn.execute(insert(Spend.__table__), rows_s)
    paper = session.execute(select(func.count()).where(Ballot.item_id == item_id)).scalar_one() - len(rows_b)
    return len(rows_b) + paper


# --- steps 2 and 3: purge and compact the live store -------------------------------------------


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


def purge_live(db: Database, item_ids: list[int]) -> None:
    """Delete the live rows of these closed items (idempotent: a close interrupted after its
    sealing transaction is finished here). On SQLite a transaction on the live file alone."""
    if not item_ids:
        return
    with db.write() as s:
        for model in (ApiIdempotency, LiveBallot, LiveSpend):
            s.execute(delete(model).where(model.item_id.in_(item_ids)).execution_options(synchronize_session=False))


def compact_pending(db: Database) -> bool | Postponed:
    """Purge and compact the live store if any closed item still waits for it; True when nothing
    is left to do.

    Runs after every close, when `ballot serve` starts and from `ballot db compact`. Short lock
    waits: if other connections are busy it gives up quickly and leaves the items marked, so a
    later call finishes the job instead of a request hanging. Gives up with a (false) Postponed
    that names the reason: busy, a full disk, …
    """
    with db.read() as s:
        pending = list(
            s.execute(select(Item.id).where(Item.closed_at.is_not(None), Item.compacted.is_(False))).scalars()
        )
        # paper readings overwritten since the last compaction (paperentry.finish)
        paper = bool(pending) and s.execute(
            select(exists().where(PaperBatch.item_id.in_(pending), PaperBatch.status == BatchStatus.COUNTED))
        ).scalar()
    if not pending:
        return True
    try:
        purge_live(db, pending)
        _compact_storage(db)
        if paper and not db.sqlite:
            _compact_paper_entries(db)
    except (OperationalError, DBAPIError, sqlite3.OperationalError, RuntimeError) as exc:
        failure = storage_failure(exc)
        log.warning("storage compaction postponed (%s)", failure)
        return Postponed(failure)
    with db.write() as s:
        s.execute(update(Item).where(Item.id.in_(pending)).values(compacted=True))
    if db.sqlite:
        try:
            _checkpoint(db, "main")
        except RuntimeError:
            pass  # only the flag update is left in the WAL
    return True


@contextmanager
def _sqlite_cursor(db: Database, busy_ms: int = 200):
    """A raw cursor under the writer lock, with short lock waits (restored before it returns
    to the pool) so that compaction gives up rather than hangs."""
    with db.write_lock:
        raw = db.write_engine.raw_connection()
        cur = raw.cursor()
        cur.execute(f"PRAGMA busy_timeout={busy_ms}")
        try:
            yield cur
        finally:
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()
            raw.close()


def _compact_storage(db: Database) -> None:
    """Rewrite the live store (open items' rows only); never the sealed tables."""
    if db.sqlite:
        _checkpoint(db, "live")
        with _sqlite_cursor(db) as cur:
            cur.execute("VACUUM live")  # the live file only: its size is the open items'
        _checkpoint(db, "live")
        _checkpoint(db, "main")  # the sealed batch and any overwritten paper readings
        return
    _vacuum_full(db, LIVE_TABLES)


def _compact_paper_entries(db: Database) -> None:
    """PostgreSQL: the readings a count overwrote leave dead tuples; SQLite's secure_delete
    already zeroed them and the WAL truncation removed their frames. The whole (small: one row
    per entry of a stack) table, and only after a paper count; its lock stops no cast."""
    _vacuum_full(db, ["paper_entries"])


def _vacuum_full(db: Database, tables) -> None:
    with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        # A waiting VACUUM FULL queues every cast behind it: wait briefly, retry, else postpone.
        conn.execute(text("SET lock_timeout = '50ms'"))
        try:
            for table in tables:
                for attempt in range(20):
                    try:
                        conn.execute(text(f"VACUUM FULL {table}"))
                        break
                    except OperationalError as exc:
                        if storage_failure(exc).kind != "busy" or attempt == 19:
                            raise
                        time.sleep(0.05)
        finally:
            conn.execute(text("RESET lock_timeout"))


def _checkpoint(db: Database, schema: str, attempts: int = 20) -> None:
    """Copy the WAL of one file into it and truncate it to zero bytes. Each attempt holds the
    writer lock for at most its short busy wait, so casts go on between attempts."""
    for _ in range(attempts):
        with _sqlite_cursor(db, busy_ms=50) as cur:
            busy, _log, _done = cur.execute(f"PRAGMA {schema}.wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return
        time.sleep(0.1)
    raise RuntimeError("WAL checkpoint stayed busy")
