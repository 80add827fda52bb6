"""Online, consistent backup of the SQLite instance while the service runs.

Uses SQLite's backup API, which copies a consistent snapshot page by page while other
connections keep reading and writing (unlike copying the file, which can catch a half-written
WAL). For PostgreSQL use pg_dump.

The instance is two files: the database and its live store (`<database>-live`, the rows of open
items, sealing.py). The backup is two files likewise, `<destination>` and `<destination>-live`,
copied from one read snapshot of both, taken while no writer runs, so no close falls between them.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ballot.counting.errors import Refused

from .db import LIVE_SCHEMA, LIVE_SUFFIX, Database


class BackupError(Refused, RuntimeError):
    pass


def backup_sqlite(database_url: str, destination: Path) -> int:
    """Copy the database to `destination` (a new file); returns its size in bytes."""
    if not database_url.startswith("sqlite:///"):
        raise BackupError("在线备份只用于 SQLite 实例；PostgreSQL 请使用 pg_dump")
    source_path = database_url.removeprefix("sqlite:///")
    destination = Path(destination)
    if destination.exists():
        raise BackupError(f"{destination} 已存在，请换一个文件名")
    live_destination = Path(str(destination) + LIVE_SUFFIX)
    if live_destination.exists():
        raise BackupError(f"{live_destination} 已存在，请换一个文件名")
    # Created private from the start; a failed backup leaves nothing behind.
    for path in (destination, live_destination):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30, isolation_level=None)
    targets = []
    try:
        source.execute("PRAGMA busy_timeout=10000")
        source.execute(f"ATTACH DATABASE ? AS {LIVE_SCHEMA}", (f"file:{source_path}{LIVE_SUFFIX}?mode=ro",))
        # One read snapshot of both files, begun under the writer lock (a close writes one file,
        # then the other): both copies come from it, one step each, while writers go on (WAL).
        source.execute("BEGIN")
        with Database.writer_lock_of(source_path):
            for schema in ("main", LIVE_SCHEMA):
                source.execute(f"SELECT count(*) FROM {schema}.sqlite_master").fetchone()
        for schema, path in (("main", destination), (LIVE_SCHEMA, live_destination)):
            target = sqlite3.connect(path)
            targets.append(target)
            source.backup(target, pages=-1, name=schema)
            check = target.execute("PRAGMA integrity_check").fetchone()[0]
            if check != "ok":
                raise BackupError(f"备份校验失败：{check}")
            target.execute("PRAGMA journal_mode=DELETE")  # a self-contained file
        source.execute("COMMIT")
    except BaseException:
        for target in targets:
            target.close()
        destination.unlink(missing_ok=True)
        live_destination.unlink(missing_ok=True)
        raise
    finally:
        for target in targets:
            target.close()
        source.close()
    return destination.stat().st_size + live_destination.stat().st_size
