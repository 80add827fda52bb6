"""Sealing a closed item so that no copy of the database links a ballot to a code.

Inside the closing transaction the item's ballots and spend records are deleted and written
back in a random order with fresh random keys, so every row carries the same transaction
(PostgreSQL `xmin`) and no row's position tells when it was cast. After commit the storage
is compacted: PostgreSQL rewrites both tables (VACUUM FULL, so `ctid` follows the shuffled
order and dead tuples are gone); SQLite (secure_delete on every connection) checkpoints and
truncates the WAL, vacuums, and truncates the WAL again.
"""

from __future__ import annotations

import random
import time

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from .codes import new_id
from .db import Database
from .models import Ballot, Spend

_rng = random.SystemRandom()


def rewrite_shuffled(session: Session, item_id: int) -> int:
    # Plain rows, not ORM objects, so nothing of the old rows stays in the session.
    cols_b = (Ballot.item_id, Ballot.group_id, Ballot.valid, Ballot.choices_json, Ballot.receipt)
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


def compact(db: Database) -> None:
    """Remove physical traces of the old rows (run after the sealing commit)."""
    if db.sqlite:
        raw = db.write_engine.raw_connection()
        try:
            cur = raw.cursor()
            _checkpoint(cur)
            cur.execute("VACUUM")
            _checkpoint(cur)
            cur.close()
        finally:
            raw.close()
    else:
        with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM FULL ballots"))
            conn.execute(text("VACUUM FULL spends"))


def _checkpoint(cur, attempts: int = 50) -> None:
    for _ in range(attempts):
        busy, _log, _done = cur.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if not busy:
            return
        time.sleep(0.1)
    raise RuntimeError("WAL checkpoint stayed busy; sealing incomplete")
