"""Cast throughput through real gunicorn on loopback, against a floor measured in the same run.

    .venv/bin/python bench/cast_throughput.py [--voters 600] [--concurrency 32] [--database-url URL]

Prepares N phones (code entered, ballot reviewed: untimed), then times N concurrent
confirmations (spend + ballot, durable commit). The floor is the same number of requests
for the start page (no database) through the same server with the same concurrency.
Loopback only; bounded in count; the load generator shares the machine's cores.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from httpvoter import Phone  # noqa: E402
from server import running_server  # noqa: E402

from ballot import audit, credentials, meetingfile  # noqa: E402
from ballot.config import Settings  # noqa: E402
from ballot.db import Database  # noqa: E402
from ballot.meetings import open_item  # noqa: E402
from ballot.migrate import upgrade  # noqa: E402

ACTOR = audit.Actor("bench", "admin")


def timed(pool, fn, items):
    latencies = []

    def one(x):
        t0 = time.perf_counter()
        fn(x)
        latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    list(pool.map(one, items))
    elapsed = time.perf_counter() - start
    return len(items) / elapsed, latencies


def pct(values, q):
    return statistics.quantiles(values, n=100)[q - 1] * 1000


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--voters", type=int, default=600)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--database-url", default=None)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ballot-bench-"))
    url = args.database_url or f"sqlite:///{tmp / 'ballot.db'}"
    upgrade(url)
    settings = Settings(instance_path=tmp, database_url=url, master_secret=b"bench-secret-0123456789")
    db = Database(url)
    with db.write() as s:
        m = meetingfile.load(
            s,
            ACTOR,
            f"""
[meeting]
title = "基准测试"
[[groups]]
name = "全体"
expected = {args.voters}
[[items]]
title = "逐人表态"
rule = {{ preset = "custom", pass_op = ">", pass_fraction = "1/2", denominator = "cast", basis = "基准" }}
nominees = ["甲", "乙", "丙", "丁", "戊"]
""",
        )
        group, item_id = m.groups[0], m.items[0].id
        codes = credentials.issue_codes(s, settings.derived_key("credential"), group, args.voters, ACTOR)
    with db.write() as s:
        open_item(s, ACTOR, item_id)
    db.dispose()
    with running_server(settings, tmp / "server.log", workers=2, threads=16) as base:
        phones = [Phone(base) for _ in codes]
        for phone, code in zip(phones, codes):
            phone.enter(code)
            phone.review(item_id, {"n0": "yes", "n1": "no", "n2": "abstain"})
        with ThreadPoolExecutor(args.concurrency) as pool:
            floor_rate, floor_lat = timed(pool, lambda p: p.http.get("/"), phones)
            results = []
            cast_rate, cast_lat = timed(pool, lambda p: results.append(p.cast(item_id).status_code), phones)
        for phone in phones:
            phone.close()
    ok = results.count(303)
    backend = "postgresql" if url.startswith("postgresql") else "sqlite (WAL, synchronous=FULL)"
    print(f"database: {backend}; voters: {args.voters}; concurrency: {args.concurrency}; gunicorn gthread 2x16")
    print(f"{'':24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    print(f"{'floor: GET / (no DB)':24}{floor_rate:10.0f}{pct(floor_lat, 50):10.1f}{pct(floor_lat, 99):10.1f}")
    print(f"{'cast: spend + ballot':24}{cast_rate:10.0f}{pct(cast_lat, 50):10.1f}{pct(cast_lat, 99):10.1f}")
    print(f"cast / floor throughput ratio: {cast_rate / floor_rate:.2f}; accepted {ok}/{len(results)}")
    if ok != len(results):
        raise SystemExit("some casts were refused")


if __name__ == "__main__":
    main()
