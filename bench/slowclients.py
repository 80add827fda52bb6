"""Slow and idle connections against a server on loopback, and voters' latency meanwhile.

    .venv/bin/python bench/slowclients.py URL [--connections 1000] [--seconds 20]

One client holds `connections` sockets that each send a partial request and then a byte every
`trickle_seconds` (request line, headers or body left unfinished), or nothing at all, while a
few voters keep requesting pages on fresh connections. Bounded in count and time; refuses any
address but loopback.

    run_slow_clients(base_url, connections, seconds) -> {"p50_ms", "p99_ms", "max_ms", "errors",
                                                          "requests", "held", ...}

is synchronous (it runs its own event loops); from async code use `asyncio.to_thread`.
`holding_slow_connections(base_url, connections)` holds the crowd around any other load.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import resource
import statistics
import threading
import time
from contextlib import contextmanager
from urllib.parse import urlsplit

MAX_CONNECTIONS = 5000
MAX_SECONDS = 600
VOTER_TIMEOUT = 10.0  # a voter request slower than this counts as an error

# What a slow connection sends before it starts trickling; a code-shaped path, as an attacker would.
OPENINGS = [
    b"",  # idle: connects and says nothing
    b"GET /v/AAAA-BB",  # unfinished request line
    b"GET /v/AAAA-BBBB-CCCC HTTP/1.1\r\nHost: x\r\nUser-Agent: slo",  # unfinished headers
    b"POST /api/v1/ballots HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 60000\r\n\r\n{\"code\": \"AAAA-",  # unfinished body
]


def _loopback(base_url: str) -> tuple[str, int]:
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"loopback addresses only, not {host!r}")
    return host, parts.port or 80


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


class _Crowd:
    """The slow connections, on an event loop of their own in a background thread."""

    def __init__(self, host: str, port: int, connections: int, trickle_seconds: float):
        self.host, self.port = host, port
        self.connections = min(connections, MAX_CONNECTIONS)
        self.trickle_seconds = trickle_seconds
        self.opened = 0
        self.failed = 0
        self.closed_by_server = 0
        self.ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self, timeout: float = 60) -> None:
        self._thread.start()
        if not self.ready.wait(timeout):
            raise RuntimeError(f"slow connections still opening after {timeout} s ({self.opened} open)")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        writers = []
        opening = asyncio.Semaphore(100)

        async def open_one(i: int):
            async with opening:
                try:
                    _reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), 30)
                except (OSError, TimeoutError):
                    self.failed += 1
                    return
            first = OPENINGS[i % len(OPENINGS)]
            if first:
                writer.write(first)
            writers.append((writer, bool(first)))
            self.opened += 1

        await asyncio.gather(*(open_one(i) for i in range(self.connections)), return_exceptions=True)
        self.ready.set()
        # each connection trickles on its own phase, so the server sees a steady stream of wake-ups
        trickles = [
            asyncio.create_task(self._trickle(writer, i / max(1, len(writers)) * self.trickle_seconds))
            for i, (writer, trickling) in enumerate(writers)
            if trickling
        ]
        await self._stop.wait()
        for task in trickles:
            task.cancel()
        await asyncio.gather(*trickles, return_exceptions=True)
        for writer, trickling in writers:
            if not trickling and writer.transport.is_closing():
                self.closed_by_server += 1
            writer.transport.abort()

    async def _trickle(self, writer: asyncio.StreamWriter, phase: float) -> None:
        await asyncio.sleep(phase)
        while True:
            if writer.transport.is_closing():
                self.closed_by_server += 1
                return
            try:
                writer.write(b"a")  # one more byte of a header value, path or body
            except (ConnectionError, RuntimeError):
                self.closed_by_server += 1
                return
            await asyncio.sleep(self.trickle_seconds)


@contextmanager
def holding_slow_connections(base_url: str, connections: int, trickle_seconds: float = 2.0):
    """Hold `connections` slow or idle sockets against base_url while the block runs."""
    host, port = _loopback(base_url)
    _raise_fd_limit(connections + 200)
    crowd = _Crowd(host, port, connections, trickle_seconds)
    crowd.start()
    try:
        yield crowd
    finally:
        crowd.stop()


async def _voters(host: str, port: int, paths: list[str], seconds: float, concurrency: int) -> tuple[list, int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def one(path: str) -> bool:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            head = await reader.readuntil(b"\r\n\r\n")
            await reader.read()  # to the end: Connection: close
            return int(head.split(b" ", 2)[1]) < 500
        finally:
            writer.transport.abort()

    async def voter(offset: int):
        nonlocal errors
        n = offset
        while time.monotonic() < deadline:
            start = time.perf_counter()
            try:
                ok = await asyncio.wait_for(one(paths[n % len(paths)]), VOTER_TIMEOUT)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError):
                ok = False
            latencies.append(time.perf_counter() - start)
            errors += not ok
            n += 1
            await asyncio.sleep(0.05)  # a phone, not a load generator

    await asyncio.gather(*(voter(i) for i in range(concurrency)))
    return latencies, errors


def run_slow_clients(
    base_url: str,
    connections: int,
    seconds: float,
    *,
    paths: tuple[str, ...] = ("/",),
    voters: int = 4,
    trickle_seconds: float = 2.0,
) -> dict:
    """Hold the slow crowd, then let `voters` phones request `paths` for `seconds`; latencies in ms."""
    host, port = _loopback(base_url)
    seconds = min(seconds, MAX_SECONDS)
    with holding_slow_connections(base_url, connections, trickle_seconds) as crowd:
        latencies, errors = asyncio.run(_voters(host, port, list(paths), seconds, voters))
        dropped = crowd.closed_by_server
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    return {
        "p50_ms": round(q[49], 1),
        "p99_ms": round(q[98], 1),
        "max_ms": round(ms[-1], 1) if ms else None,
        "errors": errors,
        "requests": len(ms),
        "held": crowd.opened,
        "failed_to_open": crowd.failed,
        "closed_by_server": dropped,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="e.g. http://127.0.0.1:8000 (loopback only)")
    ap.add_argument("--connections", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--trickle-seconds", type=float, default=2.0)
    args = ap.parse_args()
    result = run_slow_clients(args.url, args.connections, args.seconds, trickle_seconds=args.trickle_seconds)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
