"""Bench: projector screens during a voting burst (bounded; stops by itself).

    .venv/bin/python bench/screen.py [--voters 3000] [--screens 20]

Two bursts of N voters (whole flow, 50 at a time) through real gunicorn on SQLite: one with no
screen, one with S screens streaming the meeting (SSE). Prints the burst's ballots/s both times
(and their ratio), and the cast→screen latency: from the moment a confirm request returns to
the moment a screen first shows a turnout that includes it, p50/p95 over every ballot and screen.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cast import ACTOR, CHOICES, CSRF, THREADS, WORKERS, prepare  # noqa: E402
from rawhttp import Client  # noqa: E402
from server import running_server  # noqa: E402

from ballot.live import screen  # noqa: E402
from ballot.storage.db import Database  # noqa: E402
from ballot.storage.models import Meeting, VoterGroup  # noqa: E402

CAST = re.compile(r'id="cast">(\d+)<')


async def voter(base: str, code: str, item_id: int, done: list[float]) -> None:
    c = Client(base)
    try:
        await c.request("GET", f"/V/{code}")
        form = await c.request("GET", f"/ballot/{item_id}")
        await c.request("POST", f"/ballot/{item_id}/review", {**CHOICES, "csrf_token": CSRF.search(form.text).group(1)})
        review = await c.request("GET", f"/ballot/{item_id}/review")
        r = await c.request("POST", f"/ballot/{item_id}/cast", {"csrf_token": CSRF.search(review.text).group(1)})
        assert r.status == 303, r.status
        done.append(time.perf_counter())
    finally:
        await c.close()


async def burst(base: str, codes: list[str], item_id: int, concurrency: int = 50) -> tuple[float, list[float]]:
    queue, done = list(codes), []

    async def worker():
        while queue:
            await voter(base, queue.pop(), item_id, done)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(codes) / (time.perf_counter() - start), sorted(done)


async def watch(base: str, path: str, seen: list[tuple[float, int]], stop: asyncio.Event) -> None:
    """One screen: an SSE stream; records (time, turnout shown) for every event."""
    host, port = base.split("//")[1].split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n".encode())
    await writer.drain()
    try:
        while not stop.is_set():
            try:
                line = await asyncio.wait_for(reader.readline(), 0.5)
            except asyncio.TimeoutError:
                continue
            if not line:
                break
            if line.startswith(b"data: "):
                match = CAST.search(json.loads(line[6:])["html"])
                if match:
                    seen.append((time.perf_counter(), int(match.group(1))))
    finally:
        writer.close()


def run(url: str, tmp: Path, voters: int, screens: int) -> tuple[float, list[float]]:
    settings, item_id, codes = prepare(url, tmp, voters)
    db = Database(url)
    with db.write() as s:
        meeting = s.query(Meeting).one()
        key = screen.new_key(s, ACTOR, meeting, settings.derived_key("screen"))
        group = s.query(VoterGroup).one()
        group.present = voters
    db.dispose()
    env = {"BALLOT_SCREEN_STREAMS": str(max(4, screens))}
    with running_server(settings, tmp / "server.log", workers=WORKERS, threads=THREADS, extra_env=env) as base:

        async def main():
            stop, views = asyncio.Event(), [[] for _ in range(screens)]
            watchers = [asyncio.create_task(watch(base, f"/screen/{key}/events", v, stop)) for v in views]
            await asyncio.sleep(1.0)  # every screen connected and showing 0
            rate, done = await burst(base, codes, item_id)
            await asyncio.sleep(1.5)
            stop.set()
            await asyncio.gather(*watchers, return_exceptions=True)
            latencies = []
            for view in views:
                counts = [n for _, n in view]  # non-decreasing: the turnout only grows
                for k, at in enumerate(done, start=1):  # the k-th confirm returned at `at`
                    i = bisect.bisect_left(counts, k)
                    if i < len(view):  # shown at once if the screen was faster than the voter's reply
                        latencies.append(max(0.0, view[i][0] - at))
            return rate, latencies

        return asyncio.run(main())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voters", type=int, default=3000)
    ap.add_argument("--screens", type=int, default=20)
    args = ap.parse_args()
    print(f"ballot SQLite, gunicorn gthread {WORKERS}x{THREADS} (+ screen threads), load generator on the same cores")
    base_dir = Path(tempfile.mkdtemp(prefix="ballot-bench-screen-"))
    (base_dir / "a").mkdir()
    without, _ = run(f"sqlite:///{base_dir / 'a.db'}", base_dir / "a", args.voters, 0)
    (base_dir / "b").mkdir()
    with_screens, latencies = run(f"sqlite:///{base_dir / 'b.db'}", base_dir / "b", args.voters, args.screens)
    q = statistics.quantiles(latencies, n=100)
    print(
        f"burst of {args.voters} voters, 50 at a time: {without:.0f} ballots/s without screens, "
        f"{with_screens:.0f} ballots/s with {args.screens} screens streaming: ratio {with_screens / without:.2f}"
    )
    print(
        f"cast -> screen latency over {len(latencies)} (ballot, screen) pairs: p50 {q[49] * 1000:.0f} ms, "
        f"p95 {q[94] * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
