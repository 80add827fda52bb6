"""Server-Sent Events for projector screens, one watcher thread per process.

The watcher polls a cheap fingerprint of each watched meeting (state version + ballots cast) every
quarter second – that reaches changes made by any worker or any app server on the same database –
and renders the screen's live part once per change, never once per viewer. Events are
state-based: the id is the fingerprint, a (re)connecting screen gets the current state at once,
and a comment keeps idle streams alive. A refused screen falls back to polling.

Two caps. Per process (`max_streams`, BALLOT_SCREEN_STREAMS): a stream holds one of the threads
added for screens, so screens can never take a thread that votes need. Across every worker of
every app server (StreamLeases, BALLOT_SCREEN_STREAMS_TOTAL): a screen link needs no login, so
whoever holds one could otherwise open streams on every worker of every server, each a held
connection through the proxy and a watcher polling (and LISTENing on) the shared database; the
total bounds what screens can make the whole deployment do. Its leases are rows that the
watcher renews; a worker that dies stops renewing and its leases lapse.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from datetime import timedelta
from typing import Callable, Iterator

from sqlalchemy import delete, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ballot.archive.signing import PublicKey
from ballot.live import screen
from ballot.storage.models import Item, Meeting, ScreenLease
from ballot.voting.casting import SCREEN_CHANNEL

from ..clock import utcnow

log = logging.getLogger("ballot")
POLL_SECONDS = 0.25
KEEPALIVE_SECONDS = 15
LEASE_SECONDS = 30  # a stream's lease not renewed for this long lapses: its worker died
RENEW_SECONDS = 10  # the watcher renews its process's leases this often


class TooBusy(Exception):
    pass


class StreamLeases:
    """At most `total` projector streams at once across every worker and app server: slot numbers
    0 … total − 1 are the primary key, so two servers taking the last free slot at the same moment
    cannot both succeed (one insert fails and that screen polls instead)."""

    def __init__(self, database, total: int):
        self.db = database
        self.total = total

    def acquire(self) -> tuple[int, str] | None:
        """(slot, lease), or None when every slot is held."""
        for _attempt in range(3):
            lease = secrets.token_hex(16)
            now = utcnow()
            try:
                with self.db.write() as s:
                    s.execute(delete(ScreenLease).where(ScreenLease.expires_at < now))
                    used = set(s.execute(select(ScreenLease.slot)).scalars())
                    free = next((n for n in range(self.total) if n not in used), None)
                    if free is None:
                        return None
                    s.add(ScreenLease(slot=free, lease=lease, expires_at=now + timedelta(seconds=LEASE_SECONDS)))
                return free, lease
            except IntegrityError:  # another worker or server took that slot first: look again
                continue
        return None

    def renew(self, leases: set[str]) -> set[str]:
        """Push back the expiry of `leases`; those no longer held (lapsed and taken) are returned."""
        if not leases:
            return set()
        with self.db.write() as s:
            renewed = s.execute(
                update(ScreenLease)
                .where(ScreenLease.lease.in_(leases))
                .values(expires_at=utcnow() + timedelta(seconds=LEASE_SECONDS))
            ).rowcount
            if renewed == len(leases):
                return set()
            held = set(s.execute(select(ScreenLease.lease).where(ScreenLease.lease.in_(leases))).scalars())
        return leases - held

    def release(self, slot: int, lease: str) -> None:
        try:
            with self.db.write() as s:
                s.execute(delete(ScreenLease).where(ScreenLease.slot == slot, ScreenLease.lease == lease))
        except Exception:  # the lease lapses by itself
            log.exception("screen lease release failed")


def key_label(key: PublicKey | None) -> str | None:
    return f"签名密钥 {key.id_hex} · 指纹 {key.fingerprint}" if key else None


class ScreenHub:
    def __init__(
        self,
        database,
        render: Callable[[dict], str],
        max_streams: int,
        current_key: Callable[[Session], PublicKey | None] = lambda s: None,
        total_streams: int = 0,
    ):
        self.db = database
        self.render = render
        self.current_key = current_key  # read per refresh: a rotation shows at once on every server
        self.max_streams = max_streams
        self.leases = StreamLeases(database, total_streams) if total_streams else None
        self.cond = threading.Condition()
        self.latest: dict[int, tuple[str, str]] = {}  # meeting id -> (event id, html)
        self.watchers: dict[int, int] = {}
        self.streams = 0
        self.held: set[str] = set()  # this process's leases
        self.lost: set[str] = set()  # leases found lapsed: their streams end (the screen reconnects)
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
        next_renewal = time.monotonic() + RENEW_SECONDS
        while True:
            if self.leases and time.monotonic() >= next_renewal:
                next_renewal = time.monotonic() + RENEW_SECONDS
                self._renew()
            with self.cond:
                watched = [m for m, n in self.watchers.items() if n > 0]
            for meeting_id in watched:
                try:
                    self.publish_due(meeting_id)
                    self.refresh(meeting_id)
                except Exception:  # a database hiccup must not end the watcher
                    log.exception("screen refresh failed")
            wait()

    def _renew(self) -> None:
        with self.cond:
            held = set(self.held)
        try:
            lost = self.leases.renew(held)
        except Exception:  # a database hiccup: try again at the next renewal, well before expiry
            log.exception("screen lease renewal failed")
            return
        if lost:
            with self.cond:
                self.lost |= lost
                self.cond.notify_all()

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
            key = self.current_key(s)
            eid = screen.event_id(sig + ((key.id_hex,) if key else ()))  # a new key is a new event
            current = self.latest.get(meeting_id)
            if current and current[0] == eid:
                return current
            state = screen.state(s, s.get(Meeting, meeting_id), key_label=key_label(key))
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
        lease = None
        try:
            if self.leases:
                lease = self.leases.acquire()
                if lease is None:
                    raise TooBusy()
        except BaseException:
            with self.cond:
                self.streams -= 1
            raise
        with self.cond:
            self.watchers[meeting_id] = self.watchers.get(meeting_id, 0) + 1
            if lease:
                self.held.add(lease[1])
        self._ensure_watcher()
        return _StartedStream(self._events(meeting_id, last_id, lease))

    def _events(self, meeting_id: int, last_id: str | None, lease: tuple[int, str] | None) -> Iterator[str]:
        lease_id = lease[1] if lease else None
        try:
            yield f"retry: 3000\n: {' ' * 2048}\n\n"  # padding gets the headers through buffers
            current = self.refresh(meeting_id)
            sent = last_id
            while True:
                if current and current[0] != sent:
                    sent = current[0]
                    yield f"id: {sent}\nevent: screen\ndata: {json.dumps({'html': current[1]}, ensure_ascii=False)}\n\n"
                with self.cond:
                    self.cond.wait_for(
                        lambda: self.latest.get(meeting_id, (sent,))[0] != sent or lease_id in self.lost,
                        KEEPALIVE_SECONDS,
                    )
                    current = self.latest.get(meeting_id)
                    if lease_id in self.lost:  # lapsed (a long database outage): the screen reconnects
                        return
                if current is None or current[0] == sent:
                    yield ": keepalive\n\n"
        finally:
            with self.cond:
                self.streams -= 1
                self.watchers[meeting_id] -= 1
                self.held.discard(lease_id)
                self.lost.discard(lease_id)
            if lease:
                self.leases.release(*lease)


class _StartedStream:
    """A stream's generator, already started: closing a generator that never ran skips its
    `finally`, which would leak the stream's thread count and keep renewing its lease for ever
    (a client gone before the first byte). Started, close() always runs it."""

    def __init__(self, events: Iterator[str]):
        self.events = events
        self.first = next(events)

    def __iter__(self) -> Iterator[str]:
        yield self.first
        yield from self.events

    def close(self) -> None:
        self.events.close()
