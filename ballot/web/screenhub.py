"""Server-Sent Events for projector screens, one watcher thread per process.

The watcher polls a cheap fingerprint of each watched meeting (state version + ballots cast) every
quarter second – that reaches changes made by any worker or any app server on the same database –
and renders the screen's live part once per change, never once per viewer. Events are
state-based: the id is the fingerprint, a (re)connecting screen gets the current state at once,
and a comment keeps idle streams alive. Each process serves only a few streams at a time, so
screens can never take the threads that votes need; a refused screen falls back to polling.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Callable, Iterator

from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from .. import screen
from ..casting import SCREEN_CHANNEL
from ..models import Item, Meeting

log = logging.getLogger("ballot")
POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15


class TooBusy(Exception):
    pass


class ScreenHub:
    def __init__(self, database, render: Callable[[dict], str], max_streams: int, key_label: str | None = None):
        self.db = database
        self.render = render
        self.key_label = key_label
        self.max_streams = max_streams
        self.cond = threading.Condition()
        self.latest: dict[int, tuple[str, str]] = {}  # meeting id -> (event id, html)
        self.watchers: dict[int, int] = {}
        self.streams = 0
        self.thread: threading.Thread | None = None
        self.thread_pid = None

    def _ensure_watcher(self) -> None:
        import os

        with self.cond:  # started lazily in each worker process (gunicorn forks after the app loads)
            if self.thread is None or self.thread_pid != os.getpid() or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._watch, name="screen-watcher", daemon=True)
                self.thread_pid = os.getpid()
                self.thread.start()

    def _watch(self) -> None:
        wait = self._listener() or (lambda: time.sleep(POLL_SECONDS))
        while True:
            with self.cond:
                watched = [m for m, n in self.watchers.items() if n > 0]
            for meeting_id in watched:
                try:
                    self.publish_due(meeting_id)
                    self.refresh(meeting_id)
                except Exception:  # a database hiccup must not end the watcher
                    log.exception("screen refresh failed")
            wait()

    def _listener(self):
        """On PostgreSQL: a wait that ends at once when any app server commits a ballot (LISTEN),
        else after the polling interval; None elsewhere (SQLite polls)."""
        url = make_url(self.db.url)
        if not url.drivername.startswith("postgresql"):
            return None
        try:
            import psycopg

            conn = psycopg.connect(
                url.set(drivername="postgresql").render_as_string(hide_password=False), autocommit=True
            )
            conn.execute(f"LISTEN {SCREEN_CHANNEL}")
        except Exception:
            log.exception("LISTEN failed; the projector polls instead")
            return None

        def wait():
            try:
                for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                    pass
            except Exception:
                time.sleep(POLL_SECONDS)

        return wait

    def publish_due(self, meeting_id: int) -> None:
        """Publish live batches that are due (a write only when one is, at most once a batch)."""
        with self.db.read() as s:
            due = screen.due_live_items(s, meeting_id)
        if not due:
            return
        try:
            with self.db.write() as s:
                for item_id in due:
                    screen.publish_live(s, s.get(Item, item_id))
        except IntegrityError:  # another worker or server published this batch first
            pass

    def refresh(self, meeting_id: int) -> tuple[str, str] | None:
        """The current (event id, html), rendered again only if the fingerprint moved."""
        with self.db.read() as s:
            sig = screen.signature(s, meeting_id)
            if sig is None:
                return None
            eid = screen.event_id(sig)
            current = self.latest.get(meeting_id)
            if current and current[0] == eid:
                return current
            state = screen.state(s, s.get(Meeting, meeting_id), key_label=self.key_label)
        html = self.render(state)
        with self.cond:
            self.latest[meeting_id] = (eid, html)
            self.cond.notify_all()
        return eid, html

    def stream(self, meeting_id: int, last_id: str | None) -> Iterator[str]:
        with self.cond:
            if self.streams >= self.max_streams:
                raise TooBusy()
            self.streams += 1
            self.watchers[meeting_id] = self.watchers.get(meeting_id, 0) + 1
        self._ensure_watcher()
        return self._events(meeting_id, last_id)

    def _events(self, meeting_id: int, last_id: str | None) -> Iterator[str]:
        try:
            yield f"retry: 3000\n: {' ' * 2048}\n\n"  # padding gets the headers through buffers
            current = self.refresh(meeting_id)
            sent = last_id
            while True:
                if current and current[0] != sent:
                    sent = current[0]
                    yield f"id: {sent}\nevent: screen\ndata: {json.dumps({'html': current[1]}, ensure_ascii=False)}\n\n"
                with self.cond:
                    self.cond.wait_for(lambda: self.latest.get(meeting_id, (sent,))[0] != sent, KEEPALIVE_SECONDS)
                    current = self.latest.get(meeting_id)
                if current is None or current[0] == sent:
                    yield ": keepalive\n\n"
        finally:
            with self.cond:
                self.streams -= 1
                self.watchers[meeting_id] -= 1
