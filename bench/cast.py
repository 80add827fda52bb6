"""Load through the real `ballot serve` on loopback (bounded; every load stops by itself).

    .venv/bin/python bench/cast.py [--voters 3000] [--seconds 60] [--database-url URL]

1. hall: N voters arriving evenly over S seconds, each doing the whole flow (open the slip URL,
   list, ballot, review, confirm, receipt); per-request p50/p99 and errors. Aim: p99 < 250 ms.
2. flat out: 50 voters at a time until N have voted; full-flow ballots/s. Aim: >= 100/s.
3. cast request alone vs. a floor measured in the same run: bare Flask + one committed SQLite
   insert with the same durability, same server (gunicorn + ballot's buffering worker) and
   concurrency. Aim: ratio >= 0.5.
4. slow clients: one client holds --slow-connections sockets that trickle partial requests or
   stay idle (bench/slowclients.py) while voters load pages. Aim: p99 < 250 ms, 0 errors.
Every receipt is shown only after its ballot is committed (synchronous=FULL on SQLite).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from rawhttp import Client  # noqa: E402
from server import free_port, process_tree_cpu_seconds, running_server  # noqa: E402
from slowclients import run_slow_clients  # noqa: E402

from ballot.config import Settings  # noqa: E402
from ballot.meetings import meetingfile  # noqa: E402
from ballot.meetings.sittings import open_item  # noqa: E402
from ballot.storage import audit  # noqa: E402
from ballot.storage.db import Database  # noqa: E402
from ballot.storage.migrate import upgrade  # noqa: E402
from ballot.voting import credentials  # noqa: E402

ACTOR = audit.Actor("bench", "admin")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
WORKERS, THREADS = int(os.environ.get("BENCH_WORKERS", 2)), int(os.environ.get("BENCH_THREADS", 4))
CHOICES = {"n0": "yes", "n1": "no", "n2": "abstain", "n3": "yes", "n4": "yes"}


def prepare(url: str, tmp: Path, voters: int):
    upgrade(url)
    settings = Settings(instance_path=tmp, database_url=url, master_secret=b"bench-secret-0123456789")
    db = Database(url)
    with db.write() as s:
        m = meetingfile.load(
            s,
            ACTOR,
            f"""
[meeting]
title = "基准测试：领导干部大会"
[[groups]]
name = "全体"
expected = {voters}
[[items]]
title = "逐人表态"
rule = {{ preset = "custom", pass_op = ">", pass_fraction = "1/2", denominator = "cast", basis = "基准" }}
nominees = ["甲", "乙", "丙", "丁", "戊"]
""",
        )
        group, item_id = m.groups[0], m.items[0].id
        codes = []
        for start in range(0, voters, credentials.MAX_BATCH):
            count = min(credentials.MAX_BATCH, voters - start)
            codes += credentials.issue_codes(s, settings.derived_key("credential"), group, count, ACTOR)
    with db.write() as s:
        open_item(s, ACTOR, item_id)
    db.dispose()
    return settings, item_id, codes


class Recorder:
    def __init__(self):
        self.latencies: list[float] = []
        self.errors = 0

    async def request(self, client: Client, method: str, path: str, expect: int, form=None):
        start = time.perf_counter()
        try:
            response = await client.request(method, path, form)
        except (OSError, asyncio.IncompleteReadError):
            self.errors += 1
            raise
        self.latencies.append(time.perf_counter() - start)
        if response.status != expect:
            self.errors += 1
            raise RuntimeError(f"{method} {path}: {response.status}")
        return response

    def summary(self) -> str:
        q = statistics.quantiles(self.latencies, n=100)
        return f"{len(self.latencies)} requests, p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, errors {self.errors}"


async def voter_flow(base: str, code: str, item_id: int, rec: Recorder) -> None:
    c = Client(base)
    try:
        slip = await rec.request(c, "GET", f"/V/{code}", 303)  # one item open: straight to its ballot
        assert slip.headers["location"].endswith(f"/ballot/{item_id}")
        form = await rec.request(c, "GET", f"/ballot/{item_id}", 200)
        token = CSRF.search(form.text).group(1)
        await rec.request(c, "POST", f"/ballot/{item_id}/review", 303, {**CHOICES, "csrf_token": token})
        review = await rec.request(c, "GET", f"/ballot/{item_id}/review", 200)
        token = CSRF.search(review.text).group(1)
        await rec.request(c, "POST", f"/ballot/{item_id}/cast", 303, {"csrf_token": token})
        receipt = await rec.request(c, "GET", f"/ballot/{item_id}/receipt", 200)
        assert 'id="receipt"' in receipt.text
    finally:
        await c.close()


async def hall(base, codes, item_id, seconds) -> Recorder:
    rec = Recorder()
    interval = seconds / len(codes)
    start = time.perf_counter()
    tasks = []
    for i, code in enumerate(codes):
        delay = start + i * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(voter_flow(base, code, item_id, rec)))
    results = await asyncio.gather(*tasks, return_exceptions=True)
    rec.failed_voters = sum(isinstance(r, Exception) for r in results)
    return rec


async def flat_out(base, codes, item_id, concurrency) -> tuple[float, Recorder]:
    rec = Recorder()
    queue = list(codes)

    async def worker():
        while queue:
            await voter_flow(base, queue.pop(), item_id, rec)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return len(codes) / (time.perf_counter() - start), rec


async def cast_only(base, codes, item_id, concurrency) -> float:
    """Prepare sessions (untimed), then time only the confirm requests."""
    prepared = []
    for code in codes:
        c = Client(base)
        await c.request("GET", f"/V/{code}")
        form = await c.request("GET", f"/ballot/{item_id}")
        await c.request("POST", f"/ballot/{item_id}/review", {**CHOICES, "csrf_token": CSRF.search(form.text).group(1)})
        review = await c.request("GET", f"/ballot/{item_id}/review")
        await c.close()
        prepared.append((c, CSRF.search(review.text).group(1)))
    sem = asyncio.Semaphore(concurrency)

    async def one(c, token):
        async with sem:
            r = await c.request("POST", f"/ballot/{item_id}/cast", {"csrf_token": token})
            assert r.status == 303, r.status
            await c.close()

    start = time.perf_counter()
    await asyncio.gather(*(one(c, t) for c, t in prepared))
    return len(prepared) / (time.perf_counter() - start)


async def floor(tmp: Path, requests: int, concurrency: int) -> float:
    port = free_port()
    env = dict(os.environ, FLOOR_DB=str(tmp / "floor.db"), PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-k",
            "ballot.httpworker.BufferingWorker",
            "-w",
            str(WORKERS),
            "--threads",
            str(THREADS),
            "-b",
            f"127.0.0.1:{port}",
            "--chdir",
            str(ROOT / "bench"),
            "floor_app:app",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):  # up to 30 s on a loaded machine
            try:
                warm = Client(base)
                if (await warm.request("POST", "/insert", {})).status == 200:
                    await warm.close()
                    break
            except OSError:
                await asyncio.sleep(0.1)
        sem = asyncio.Semaphore(concurrency)

        async def one():
            async with sem:
                c = Client(base)
                assert (await c.request("POST", "/insert", {})).status == 200
                await c.close()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return requests / (time.perf_counter() - start)
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voters", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--concurrency", type=int, default=50)
    ap.add_argument("--database-url", default=None, help="an empty PostgreSQL database; default SQLite")
    ap.add_argument("--slow-connections", type=int, default=1000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ballot-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'ballot.db'}"
    n = args.voters
    settings, item_id, codes = prepare(url, tmp, 3 * n + 1000)
    hall_codes, flat_codes, cast_codes = codes[:n], codes[n : 2 * n], codes[2 * n : 2 * n + 1000]
    backend = "PostgreSQL" if url.startswith("postgresql") else "SQLite (WAL, synchronous=FULL)"
    print(f"ballot {backend}, gunicorn + buffering worker {WORKERS}x{THREADS}, load generator on the same 2 cores")
    with running_server(settings, tmp / "server.log", workers=WORKERS, threads=THREADS) as base:
        rec = asyncio.run(hall(base, hall_codes, item_id, args.seconds))
        print(
            f"1. hall: {n} voters over {args.seconds:.0f} s, whole flow: {rec.summary()}, "
            f"voters failed {rec.failed_voters}"
        )
        server_cpu, own_cpu = process_tree_cpu_seconds(base.pid), time.process_time()
        rate, rec = asyncio.run(flat_out(base, flat_codes, item_id, args.concurrency))
        server_cpu = process_tree_cpu_seconds(base.pid) - server_cpu
        own_cpu = time.process_time() - own_cpu
        print(
            f"2. flat out: {args.concurrency} voters at a time, {n} voters: {rate:.0f} full-flow ballots/s "
            f"({rec.summary()})"
        )
        per_ballot = server_cpu / n * 1000
        print(
            f"   CPU: server {server_cpu:.1f} s ({per_ballot:.1f} ms a ballot: about {2000 / per_ballot:.0f} "
            f"ballots/s on 2 cores without a load generator), load generator {own_cpu:.1f} s"
        )
        cast_rate = asyncio.run(cast_only(base, cast_codes, item_id, args.concurrency))
        slow = run_slow_clients(base, args.slow_connections, 20)
    floor_rate = asyncio.run(floor(tmp, len(cast_codes), args.concurrency))
    print(
        f"3. cast request {cast_rate:.0f}/s vs floor (bare Flask + 1 durable SQLite insert) {floor_rate:.0f}/s: "
        f"ratio {cast_rate / floor_rate:.2f}"
    )
    print(
        f"4. slow clients: {slow['held']} slow or idle connections held, voters meanwhile: {slow['requests']} "
        f"requests, p50 {slow['p50_ms']:.0f} ms, p99 {slow['p99_ms']:.0f} ms, max {slow['max_ms']:.0f} ms, "
        f"errors {slow['errors']}"
    )


if __name__ == "__main__":
    main()
