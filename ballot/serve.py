"""Run the app under gunicorn's arbiter with our buffering worker (ballot.httpworker: a request
becomes a thread's work only once it has arrived whole). No access log: it would record codes
and timing."""

from __future__ import annotations

import logging
from pathlib import Path

from gunicorn.app.base import BaseApplication
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("ballot")


class BallotServer(BaseApplication):
    def __init__(self, instance_path: Path, options: dict, overrides: dict | None = None):
        self.instance_path = instance_path
        self.options = options
        self.overrides = overrides or {}  # what `serve` knows that the environment does not
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            if key in self.cfg.settings:  # newer gunicorn options are skipped on older releases
                self.cfg.set(key, value)

    def load(self):
        # Called in each worker after fork, so every worker has its own engine and pool.
        from .config import load_settings
        from .web import create_app

        return create_app(load_settings(self.instance_path).with_overrides(**self.overrides))


def gunicorn_options(host: str, port: int, workers: int, threads: int, screen_streams: int = 4) -> dict:
    """`threads` serve votes and pages; `screen_streams` more threads per worker serve the projector's
    SSE streams, which the app caps at that number (a stream beyond it is refused at once), so at
    most `screen_streams` threads are ever held by long requests and queued votes always get one.
    Connections, idle or slow, cost no thread: the worker's I/O loop holds them until a request is
    complete (limits in ballot.httpworker)."""
    total = threads + screen_streams
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "ballot.httpworker.BufferingWorker",
        "threads": total,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": "info",
        "timeout": 60,
        "graceful_timeout": 10,
        "proc_name": "ballot",
        "control_socket_disable": True,  # no shared runtime-control socket under $HOME
    }


def serve(instance_path: Path, host: str, port: int, workers: int, threads: int, public_url: str | None) -> None:
    from .config import load_settings
    from .publicurl import detected_url

    # Each worker builds its app with these: the address printed on slips and shown to the clerk.
    overrides = {"detected_url": detected_url(host, port), "listen_host": host}
    if public_url:
        overrides["public_url"] = public_url
    _finish_pending_compaction(instance_path)
    _record_signing_keys(instance_path)
    streams = load_settings(instance_path).screen_streams
    BallotServer(instance_path, gunicorn_options(host, port, workers, threads, streams), overrides).run()


def _finish_pending_compaction(instance_path: Path) -> None:
    """A close whose storage compaction was postponed (or cut short by a restart) is finished here."""
    from ballot.storage.db import Database
    from ballot.voting.sealing import compact_pending

    from .config import load_settings

    database = Database(load_settings(instance_path).database_url)
    try:
        compact_pending(database)
    finally:
        database.dispose()


def _record_signing_keys(instance_path: Path) -> None:
    """An instance whose keys are only files (made before keys were recorded in the database)
    gets them recorded once, so that every app server shows and uses the same current key."""
    from ballot.archive import keyring
    from ballot.storage.db import Database

    from .config import load_settings

    database = Database(load_settings(instance_path).database_url)
    try:
        with database.write() as s:
            keyring.adopt_files(s, instance_path)
    except DBAPIError as exc:  # e.g. a schema not yet migrated: the workers' own errors will say so
        log.warning("signing keys not recorded: %s", type(exc).__name__)
    finally:
        database.dispose()
