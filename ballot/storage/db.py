"""Engines and transactions.

SQLite: WAL, synchronous=FULL (durable before acknowledged), busy_timeout and secure_delete,
and BEGIN IMMEDIATE for every write transaction, so concurrent voters queue for the write
lock instead of failing with "database is locked". Python 3.11's sqlite3 driver defers
BEGIN on its own, so we take over transaction control (SQLAlchemy's documented recipe).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
import stat
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, make_url
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("ballot")


PRIVATE_UMASK = 0o077  # files 0600, folders 0700
# The live store (rows of open items, sealing.py) is a second SQLite file beside the database,
# attached to every connection as schema `live`; it has its own WAL.
LIVE_SCHEMA = "live"
LIVE_SUFFIX = "-live"
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal", "-writer.lock", "-live", "-live-wal", "-live-shm", "-live-journal")
INSTANCE_MARKERS = ("secret.key", "ballot.db")


def keep_files_private() -> None:
    """Everything this process creates from now on (database, WAL, backups, code lists, archives)
    is readable by the service user alone, whatever the shell's umask was."""
    os.umask(PRIVATE_UMASK)


def _tighten(path: str, mode: int) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode) or stat.S_IMODE(st.st_mode) & ~mode == 0:
        return
    try:
        os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
    except OSError as exc:  # not ours (another user's file): say so, do not stop the service
        log.warning("cannot make %s private: %s", path, errno.errorcode.get(exc.errno, type(exc).__name__))


def make_instance_private(folder: Path) -> None:
    """An instance folder made before (or by hand) is tightened at start: the folder and its
    subfolders 0700, files 0600. Only a folder that is an instance (secret.key or ballot.db in it),
    never a home folder named by mistake."""
    folder = Path(folder)
    if not folder.is_dir() or not any((folder / marker).exists() for marker in INSTANCE_MARKERS):
        return
    for root, dirs, files in os.walk(folder):  # symlinks are neither followed nor changed
        _tighten(root, 0o700)
        for name in files:
            _tighten(os.path.join(root, name), 0o600)


class LiveStoreMissing(RuntimeError):
    """The database has an item open but the file with its ballots is gone (a copy of the database
    file alone): making an empty one would drop those ballots without a word, so the service stops."""

    def __init__(self, path: str):
        super().__init__(
            f"数据库 {path} 有正在表决的议题，但存放其已投选票的文件 {path}{LIVE_SUFFIX} 不在：请把这两个文件"
            f"一起放回（备份也总是这两个文件）。确认该文件已无法找回时，可手工建一个空文件 {path}{LIVE_SUFFIX} 后"
            "重新启动，正在表决的议题已投的票将无法计入。"
        )


def _votes_in_progress(path: str) -> bool:
    """Whether an existing database of the live-store era (migration 0013 on) has an item open."""
    if not os.path.isfile(path) or os.path.getsize(path) == 0:
        return False
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if version is None or version[0] < "0013":
                return False  # the migration itself moves open items' rows into a new live file
            return conn.execute("SELECT 1 FROM items WHERE status = 'open' LIMIT 1").fetchone() is not None
        finally:
            conn.close()
    except sqlite3.Error:
        return False  # not (yet) a ballot database: SQLite or the migration reports what is wrong


def prepare_sqlite_file(url: str) -> None:
    """SQLite makes a new database 0644 and gives its -wal, -shm and -journal the database's mode:
    create the file 0600 first, and tighten one left readable by an older version."""
    if not Database.sqlite_file(url):
        return
    path = make_url(url).database
    if path.startswith("file:"):
        return  # a URI filename: left to whoever wrote it
    if not os.path.exists(path + LIVE_SUFFIX) and _votes_in_progress(path):
        raise LiveStoreMissing(path)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.close(os.open(path + LIVE_SUFFIX, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError:
        return  # SQLite will report the problem when it opens the file
    for suffix in ("", *SQLITE_COMPANIONS):
        _tighten(path + suffix, 0o600)


# What a failed write says about the storage, from SQLite's extended error name or PostgreSQL's
# SQLSTATE, so the log tells a full disk from an outage from a bug. Never the message: PostgreSQL's
# carries the values (a key, a title), and the statement carries the parameters.
_SQLITE_KINDS = {
    "SQLITE_FULL": "disk_full",
    "SQLITE_IOERR": "io_error",
    "SQLITE_BUSY": "busy",
    "SQLITE_LOCKED": "busy",
    "SQLITE_READONLY": "read_only",
    "SQLITE_CANTOPEN": "unavailable",
    "SQLITE_CORRUPT": "corrupt",
    "SQLITE_NOTADB": "corrupt",
}
_SQLSTATE_KINDS = {
    "53100": "disk_full",
    "53": "out_of_resources",  # memory, connections
    "58": "io_error",
    "55P03": "busy",  # lock_not_available (lock_timeout)
    "40": "busy",  # serialization failure, deadlock
    "25006": "read_only",
    "08": "unavailable",  # connection lost or refused
    "57P": "unavailable",  # server shutting down
    "XX": "corrupt",
}
_ERRNO_KINDS = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EROFS: "read_only", errno.EIO: "io_error"}

FAILURE_TEXT = {
    "disk_full": "磁盘空间不足",
    "out_of_resources": "数据库资源不足",
    "io_error": "磁盘读写出错",
    "busy": "数据库繁忙",
    "read_only": "数据库只读",
    "unavailable": "数据库连接中断",
    "corrupt": "数据库文件损坏",
    "error": "数据库出错",
}


@dataclass(frozen=True)
class StorageFailure:
    kind: str  # a key of FAILURE_TEXT
    name: str  # the driver's exception class, e.g. sqlite3.OperationalError
    code: str  # SQLITE_FULL, SQLSTATE 53100, ENOSPC or ""

    def __str__(self) -> str:
        return f"{self.kind}: {self.name} {self.code}".strip()

    @property
    def text(self) -> str:
        """For the chair: in Chinese, with the code for whoever looks after the server."""
        return f"{FAILURE_TEXT[self.kind]}（{self.code}）" if self.code else FAILURE_TEXT[self.kind]


def storage_failure(exc: BaseException) -> StorageFailure:
    orig = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's exception
    name = f"{type(orig).__module__}.{type(orig).__name__}".removeprefix("builtins.")
    sqlite_name = getattr(orig, "sqlite_errorname", None)  # Python 3.11+
    if isinstance(sqlite_name, str) and sqlite_name:
        primary = "_".join(sqlite_name.split("_")[:2])  # SQLITE_IOERR_WRITE is an SQLITE_IOERR
        kind = _SQLITE_KINDS.get(primary, "error")
        return StorageFailure(kind, name, sqlite_name)
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        kind = next((k for prefix, k in _SQLSTATE_KINDS.items() if sqlstate.startswith(prefix)), "error")
        return StorageFailure(kind, name, f"SQLSTATE {sqlstate}")
    if isinstance(orig, OSError) and orig.errno:
        return StorageFailure(_ERRNO_KINDS.get(orig.errno, "error"), name, errno.errorcode.get(orig.errno, ""))
    if type(orig).__name__ in ("OperationalError", "InterfaceError") and name.startswith("psycopg"):
        return StorageFailure("unavailable", name, "")  # no SQLSTATE: the server was never reached
    if isinstance(orig, RuntimeError) and "checkpoint" in str(orig):
        return StorageFailure("busy", name, "")  # sealing's WAL checkpoint kept finding readers
    return StorageFailure("error", name, "")


def _log_write_failure(exc: BaseException) -> None:
    if isinstance(exc, IntegrityError):
        return  # a constraint doing its job (a lost race the caller handles), not a storage failure
    if isinstance(exc, (DBAPIError, sqlite3.Error, OSError)):
        log.error("database write failed (%s)", storage_failure(exc))


def is_sqlite(url_or_engine) -> bool:
    url = url_or_engine.url if isinstance(url_or_engine, Engine) else str(url_or_engine)
    return str(url).startswith("sqlite")


def live_path(url: str) -> str:
    """The live store's file for an SQLite URL (":memory:" for an in-memory database)."""
    path = make_url(url).database
    return path + LIVE_SUFFIX if Database.sqlite_file(url) and not path.startswith("file:") else ":memory:"


def attach_live(dbapi_conn, url: str) -> None:
    """Attach the live store and give both files the same durability and secure_delete."""
    cur = dbapi_conn.cursor()
    if not any(row[1] == LIVE_SCHEMA for row in cur.execute("PRAGMA database_list")):
        cur.execute(f"ATTACH DATABASE ? AS {LIVE_SCHEMA}", (live_path(url),))
    for schema in ("main", LIVE_SCHEMA):
        cur.execute(f"PRAGMA {schema}.journal_mode=WAL")
        cur.execute(f"PRAGMA {schema}.synchronous=FULL")
        cur.execute(f"PRAGMA {schema}.secure_delete=ON")  # deleted ballots leave no bytes behind
    cur.close()


def attach_live_on_connect(engine: Engine) -> None:
    """For an engine made elsewhere (migrations, tests): every connection sees the live store."""
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", lambda conn, _record: attach_live(conn, str(engine.url)))


def _make_sqlite_engine(url: str, immediate: bool) -> Engine:
    # Every transaction ends in an explicit COMMIT or ROLLBACK, so the pool need not roll back again.
    engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, pool_reset_on_return=None)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=10000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()
        attach_live(dbapi_conn, url)

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class _SQLiteWriterLock:
    """Queue writers fairly: threads of this process on a lock, processes on an flock of a file
    beside the database. A waiter wakes the moment the lock is free, where SQLite's busy
    handler would sleep and retry (1, 2, 5, 10 … ms), which halves a hall's write throughput."""

    def __init__(self, database_path: str):
        self._thread_lock = threading.Lock()
        self._path = database_path + "-writer.lock"
        self._fd = None

    def __enter__(self):
        self._thread_lock.acquire()
        try:
            if self._fd is None:
                self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise
        return self

    def __exit__(self, *exc):
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()


class Database:
    """One reader engine and one writer engine (the same engine on PostgreSQL)."""

    def __init__(self, url: str):
        self.url = url
        prepare_sqlite_file(url)
        if is_sqlite(url):
            self.read_engine = _make_sqlite_engine(url, immediate=False)
            self.write_engine = _make_sqlite_engine(url, immediate=True)
        else:
            self.read_engine = create_engine(url, pool_pre_ping=True)
            self.write_engine = self.read_engine
        # SQLite has one writer at a time anyway: writers queue on a lock instead of SQLite's
        # sleeping busy handler (busy_timeout stays as the safety net for other programs).
        self.write_lock = _SQLiteWriterLock(make_url(url).database) if self.sqlite_file(url) else nullcontext()
        self._reader = sessionmaker(self.read_engine, expire_on_commit=False)
        self._writer = sessionmaker(self.write_engine, expire_on_commit=False)

    @staticmethod
    def writer_lock_of(database_path: str) -> "_SQLiteWriterLock":
        """The writers' lock of a database file, for a process that opens it another way (backup)."""
        return _SQLiteWriterLock(database_path)

    @staticmethod
    def sqlite_file(url: str) -> bool:
        return is_sqlite(url) and make_url(url).database not in (None, "", ":memory:")

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._reader() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A write transaction; it commits (durably) when the block ends without error."""
        try:
            with self.write_lock, self._writer() as session, session.begin():
                yield session
        except BaseException as exc:
            _log_write_failure(exc)
            raise

    @contextmanager
    def write_connection(self):
        """A Core connection in a write transaction: the voters' hot path, without ORM sessions."""
        try:
            with self.write_lock, self.write_engine.begin() as conn:
                yield conn
        except BaseException as exc:
            _log_write_failure(exc)
            raise

    def dispose(self) -> None:
        self.read_engine.dispose()
        if self.write_engine is not self.read_engine:
            self.write_engine.dispose()
