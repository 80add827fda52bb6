"""Online, consistent backup of the SQLite instance while the service runs.

Uses SQLite's backup API, which copies a consistent snapshot page by page while other
connections keep reading and writing (unlike copying the file, which can catch a half-written
WAL). For PostgreSQL use pg_dump.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path


class BackupError(RuntimeError):
    pass


def backup_sqlite(database_url: str, destination: Path) -> int:
    """Copy the database to `destination` (a new file); returns its size in bytes."""
    if not database_url.startswith("sqlite:///"):
        raise BackupError("在线备份只用于 SQLite 实例；PostgreSQL 请使用 pg_dump")
    source_path = database_url.removeprefix("sqlite:///")
    destination = Path(destination)
    if destination.exists():
        raise BackupError(f"{destination} 已存在，请换一个文件名")
    # Created private from the start; a failed backup leaves nothing behind.
    os.close(os.open(destination, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    source = sqlite3.connect(f"file:{source_path}?mode=ro", uri=True, timeout=30)
    target = sqlite3.connect(destination)
    try:
        source.execute("PRAGMA busy_timeout=10000")
        # One step from one read snapshot: writers go on meanwhile (WAL), and a step-wise copy
        # would restart on every write and might never finish during a busy vote.
        source.backup(target, pages=-1)
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"备份校验失败：{check}")
        target.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
    except BaseException:
        target.close()
        destination.unlink(missing_ok=True)
        raise
    finally:
        target.close()
        source.close()
    return destination.stat().st_size
