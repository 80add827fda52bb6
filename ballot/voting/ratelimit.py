"""Rate limits on *failed* attempts (wrong codes, wrong passwords), shared by every worker.

Per client: a client may have at most N attempts checked and failed in the window. Globally: a
ceiling on failures across all clients that, once reached, refuses only clients that have failed
themselves in the window, so a distributed guesser can never lock out a hall of honest voters
who type their code right the first time.

Count first, then decide: an attempt is recorded (and committed) before it is checked, and
forgiven (its row deleted) when it succeeds. Every attempt counts the rows committed before its
own, so N parallel wrong passwords check at most the allowance, however many arrive at once.
Attempts live in the database (`failed_attempts`), so every gunicorn worker and every app server
sees one allowance; failures are rare, and a row holds only the limiter's name, a keyed hash of
the client address and the time – never the code or username typed.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, delete, event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from ballot.clock import utcnow
from ballot.storage.db import Database, _make_sqlite_engine, storage_failure
from ballot.storage.models import FailedAttempt

log = logging.getLogger("ballot")

# Failed attempts need no fsync: a power cut loses at most the last few, which only forgives them.
# Every code entered writes twice (counted, then forgiven), so on SQLite they go through their own
# engine whose commits do not wait for the disk (WAL, synchronous=NORMAL), queued with the other
# writers; on PostgreSQL the transaction does not wait for its WAL flush.
_LIGHT_WRITERS: "weakref.WeakKeyDictionary[Database, sessionmaker]" = weakref.WeakKeyDictionary()


def _light_writer(database: Database) -> sessionmaker:
    writer = _LIGHT_WRITERS.get(database)
    if writer is None:
        engine = _make_sqlite_engine(database.url, immediate=True)

        @event.listens_for(engine, "connect")
        def _no_fsync(dbapi_conn, _record):  # runs after db.py's settings
            dbapi_conn.execute("PRAGMA synchronous=NORMAL")

        writer = _LIGHT_WRITERS[database] = sessionmaker(engine, expire_on_commit=False)
    return writer


@contextmanager
def _light_write(database: Database) -> Iterator[Session]:
    if not database.sqlite:
        with database.write() as s:
            s.execute(text("SET LOCAL synchronous_commit = off"))
            yield s
        return
    with database.write_lock, _light_writer(database)() as s, s.begin():
        yield s


@dataclass(frozen=True)
class Attempt:
    """An attempt that was counted and may be checked; `forgive` it when it succeeds."""

    row_id: int | None  # None: storage could not count it (nothing to forgive)


@dataclass
class FailureLimiter:
    name: str
    per_client: int
    global_ceiling: int | None
    window_seconds: int
    database: Database
    key: bytes  # hashes client addresses, so the table holds none in clear
    clock: Callable[[], datetime] = field(default=utcnow)
    # rows of successful attempts whose deletion failed (full disk, outage): deleted with the next
    # attempt this process counts, so a storage failure never leaves honest voters counted as failures
    _owed: set[int] = field(default_factory=set, init=False, repr=False)
    _owed_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def _client(self, client: str) -> str:
        return hmac.new(self.key, client.encode(), hashlib.sha256).hexdigest()[:32]

    def _counts(self, client_hash: str) -> tuple[int, int]:
        """This client's attempts in the window, and everyone's: one statement, one read."""
        since = self.clock() - timedelta(seconds=self.window_seconds)
        mine = func.coalesce(func.sum(case((FailedAttempt.client == client_hash, 1), else_=0)), 0)
        query = select(mine, func.count()).where(FailedAttempt.limiter == self.name, FailedAttempt.at > since)
        with self.database.read() as s:
            counted_mine, everyone = s.execute(query).one()
        return int(counted_mine), everyone

    def _over(self, mine: int, everyone: int) -> bool:
        """`mine` and `everyone` count this attempt: refused beyond the allowance, or when the
        ceiling is passed and this client had failed before."""
        if mine > self.per_client:
            return True
        return bool(self.global_ceiling) and mine > 1 and everyone > self.global_ceiling

    def attempt(self, client: str) -> Attempt | None:
        """Count an attempt, then decide: None means refused (and nothing was checked)."""
        client_hash = self._client(client)
        # a client already over its allowance is refused with no write: a flood costs only reads
        if self._over(*(n + 1 for n in self._counts(client_hash))):
            return None
        now = self.clock()
        with self._owed_lock:
            owed = set(self._owed)
        try:
            with _light_write(self.database) as s:
                self._forget_expired(s, now)
                if owed:
                    s.execute(delete(FailedAttempt).where(FailedAttempt.id.in_(owed)))
                row = FailedAttempt(limiter=self.name, client=client_hash, at=now)
                s.add(row)
                s.flush()
                row_id = row.id
        except DBAPIError as exc:
            # Storage cannot count (a full disk, an outage): let the attempt be checked uncounted
            # rather than refuse every voter. Checking a code only reads, nothing can be cast
            # until storage is back, and a few more guesses at a 60-bit code change nothing.
            log.warning("failed-attempt count skipped (%s)", storage_failure(exc))
            return Attempt(None)
        with self._owed_lock:
            self._owed -= owed
        # committed: an attempt counted after this one sees it, whichever worker or server runs it
        if self._over(*self._counts(client_hash)):
            self._drop_or_owe(row_id)  # refused, not checked: it does not count against the client
            return None
        return Attempt(row_id)

    def _forget_expired(self, s: Session, now: datetime) -> None:
        # On PostgreSQL one transaction at a time cleans (the others skip it): two deleting the
        # same expired rows in different orders could deadlock.
        if s.bind.dialect.name == "postgresql" and not s.execute(
            text("SELECT pg_try_advisory_xact_lock(7462)")
        ).scalar_one():
            return
        s.execute(
            delete(FailedAttempt).where(
                FailedAttempt.limiter == self.name,
                FailedAttempt.at <= now - timedelta(seconds=self.window_seconds),
            )
        )

    def forgive(self, attempt: Attempt) -> None:
        """The attempt succeeded: it is no failure (if the deletion fails, it is owed)."""
        if attempt.row_id is not None:
            self._drop_or_owe(attempt.row_id)

    def _drop_or_owe(self, row_id: int) -> None:
        try:
            self._drop(row_id)
        except DBAPIError as exc:
            log.warning("forgiving an attempt postponed (%s)", storage_failure(exc))
            with self._owed_lock:
                self._owed.add(row_id)

    def _drop(self, row_id: int) -> None:
        with _light_write(self.database) as s:
            s.execute(delete(FailedAttempt).where(FailedAttempt.id == row_id))

    def failures(self, client: str) -> int:
        """The client's attempts counted in the window (failed, or still being checked)."""
        return self._counts(self._client(client))[0]
