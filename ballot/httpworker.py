"""A gunicorn worker that reads each request whole before a thread takes it.

gunicorn's own gthread worker hands a connection to a thread as soon as its first bytes arrive,
and that thread then blocks reading the rest: a few hundred sockets trickling a byte every few
seconds hold every thread and no voter is answered. Here waitress's I/O loop (one thread per
process, poll()) buffers the request line, headers and body of every connection, and only a
complete request becomes a task for the thread pool. A slow or idle connection costs a socket
and a small buffer, never a thread. gunicorn's arbiter stays: it forks the workers, restarts one
that dies (kill -9) or stops notifying, and shuts them down gracefully.

Nothing here logs a request line, a path or a header: a slip URL carries a code.
"""

from __future__ import annotations

import logging
import os
import resource
import time

from gunicorn.workers.base import Worker
from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import create_server

LOOP_SECONDS = 1.0  # longest poll() wait: the worker notifies the arbiter at least this often
CONNECTIONS_PER_WORKER = 10_000  # slow or idle sockets cost no thread; bounded by the file limit below
IDLE_SECONDS = 60  # a connection that sends nothing for this long (between requests too) is closed
HEADER_SECONDS = 30  # request line and headers must arrive within this of their first byte
MAX_HEADER_BYTES = 32 * 1024


def raise_open_file_limit() -> int:
    """Every held connection is a file descriptor: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 16
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError):
            pass
    return soft


class _PathlessLog(logging.Filter):
    """waitress names the request path in two messages; the path may be a slip URL with a code."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        for prefix in ("Client disconnected while serving", "Exception while serving"):
            if message.startswith(prefix):
                record.msg, record.args = prefix.replace(" while serving", "") + " (request not named)", ()
                if record.exc_info and record.exc_info[0] is not None:
                    record.msg += f": {record.exc_info[0].__name__}"
                record.exc_info = record.exc_text = None  # an exception's text may quote the request
        return True


class _Channel(HTTPChannel):
    """Remembers when the current request's first byte arrived, for the header deadline."""

    request_started = 0.0

    def received(self, data):
        if self.request is None:
            self.request_started = time.monotonic()
        return super().received(data)

    def headers_overdue(self, now: float) -> bool:
        request = self.request
        return request is not None and not request.headers_finished and now - self.request_started > HEADER_SECONDS


class BufferingWorker(Worker):
    """gunicorn worker class: waitress channels and task threads on gunicorn's listening sockets."""

    def init_process(self):
        raise_open_file_limit()
        self.quiet_waitress_logs()
        super().init_process()

    @staticmethod
    def quiet_waitress_logs() -> None:
        for name in ("waitress", "waitress.queue"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _PathlessLog) for f in logger.filters):
                logger.addFilter(_PathlessLog())
        # "Task queue depth is N" at every burst: a queue is how a busy worker works, not an error.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)

    def run(self):
        from .web.verifypage import MAX_UPLOAD  # the largest upload the app accepts (the /verify archive)

        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        self.socket_map: dict = {}
        create_server(  # its listeners, channels and trigger register themselves in socket_map
            self.wsgi,
            map=self.socket_map,
            sockets=[listener.sock for listener in self.sockets],
            threads=self.cfg.threads,
            connection_limit=max(64, min(CONNECTIONS_PER_WORKER, soft_limit - 64)),
            channel_timeout=IDLE_SECONDS,
            cleanup_interval=5,
            max_request_header_size=MAX_HEADER_BYTES,
            max_request_body_size=MAX_UPLOAD + 64 * 1024,
            asyncore_use_poll=True,  # select() stops at 1,024 descriptors
            expose_tracebacks=False,
            # X-Forwarded-* pass through untouched: the app trusts them per BALLOT_TRUSTED_PROXIES
            # (werkzeug's ProxyFix); waitress would drop them all, since it trusts no proxy itself.
            clear_untrusted_proxy_headers=False,
            ident="",  # no Server header
            backlog=self.cfg.backlog,
        )
        listeners = [d for d in self.socket_map.values() if getattr(d, "accepting", False)]
        for listener in listeners:
            listener.channel_class = _Channel
        dispatcher = listeners[0].task_dispatcher
        next_sweep = 0.0
        while self.alive:
            self.notify()
            if self.ppid != os.getppid():
                self.log.info("Parent changed, shutting down: %s", self)
                break
            wasyncore.loop(timeout=LOOP_SECONDS, map=self.socket_map, use_poll=True, count=1)
            now = time.monotonic()
            if now >= next_sweep:
                next_sweep = now + 1.0
                self._close_overdue(now)
        self._stop(listeners, dispatcher)

    def _close_overdue(self, now: float) -> None:
        for channel in list(self.socket_map.values()):
            if isinstance(channel, _Channel) and channel.headers_overdue(now):
                channel.will_close = True  # the loop closes it on its next pass

    def _stop(self, listeners, dispatcher) -> None:
        """Stop accepting; let requests under way finish (up to graceful_timeout), then leave."""
        for listener in listeners:
            listener.accepting = False
            listener.del_channel()
        deadline = time.monotonic() + self.cfg.graceful_timeout
        while time.monotonic() < deadline:
            busy = any(getattr(ch, "requests", None) for ch in self.socket_map.values())
            if not busy and not dispatcher.queue:
                break
            self.notify()
            wasyncore.loop(timeout=0.1, map=self.socket_map, use_poll=True, count=1)
        dispatcher.shutdown(cancel_pending=True, timeout=0.5)
        wasyncore.close_all(self.socket_map)
