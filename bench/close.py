"""Closing an item while another meeting votes: the close's time, and the other voters' wait,
at several sizes of sealed history (sealing.py: the close's cost must follow the item alone).

    .venv/bin/python bench/close.py [--quick] [--database sqlite,postgresql] [--ballots 3000]

For each history size, a fresh database: the history (sealed ballots and spends of closed items)
is seeded with bulk SQL, an item with --ballots ballots waits to be closed, and another meeting's
item is open. `ballot serve` (2 workers) runs; a steady ~20 casts/s go into the other meeting
through the JSON API, while this process closes the big item (close_item + compact_pending, as
the chair's request does). Printed per size: close time, and the other meeting's cast latency
(worst before the close, worst during it). PostgreSQL: history 0, 100k, 1M (--quick 0, 20k,
100k), in BALLOT_BENCH_PG_URL, else the cluster at /tmp/hpg/url, else a throwaway one
(scripts/pg.sh). SQLite: 0 and 300k (--quick 0 and 50k).

Last line: `close: worst-stall-ms=<n> history-ratio=<r>`: the other meeting's worst cast latency
during any close, and the close time at the largest history over the close time at none (the
larger of the two databases). Aim: < 100 ms and < 1.5.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from crashkit import Server, ThrowawayPostgres, _choices, prepare  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402

from ballot.config import Settings  # noqa: E402
from ballot.meetings.sittings import close_item  # noqa: E402
from ballot.storage import audit  # noqa: E402
from ballot.storage.db import Database  # noqa: E402
from ballot.voting.sealing import compact_pending  # noqa: E402

ACTOR = audit.Actor("bench", "admin")
RATE = 20  # casts per second into the other meeting
CHUNK = 50_000  # history rows per INSERT


def seed_history(db: Database, ballots: int) -> None:
    """`ballots` sealed ballots and as many spends of 100 closed items (ids past any real one)."""
    done = 0
    with db.write_engine.connect() as conn:
        while done < ballots:
            n = min(CHUNK, ballots - done)
            if db.sqlite:
                rand = "lower(hex(randomblob(16)))"
                series = f"WITH RECURSIVE s(i) AS (SELECT {done} UNION ALL SELECT i + 1 FROM s WHERE i < {done + n - 1})"
                source, i = "FROM s", "i"
            else:
                rand = "md5(random()::text || i::text)"
                series, source, i = "", f"FROM generate_series({done}, {done + n - 1}) AS i", "i"
            conn.execute(
                text(
                    f"{series} INSERT INTO ballots (id, item_id, group_id, valid, choices_json, receipt, channel) "
                    f"SELECT {rand}, 1000000 + {i} % 100, 1, true, '{{\"n0\": \"yes\"}}', "
                    f"upper(substr({rand}, 1, 9)), 'phone' {source}"
                )
            )
            conn.execute(
                text(f"{series} INSERT INTO spends (credential_id, item_id) SELECT {rand}, 1000000 + {i} % 100 {source}")
            )
            conn.commit()
            done += n
    # an old history is vacuumed, analysed and checkpointed, not still being written
    if db.sqlite:
        raw = db.write_engine.raw_connection()
        raw.cursor().execute("PRAGMA main.wal_checkpoint(TRUNCATE)")
        raw.close()
    else:
        with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE ballots, spends"))
            conn.execute(text("CHECKPOINT"))


def fill_item(db: Database, item_id: int, ballots: int) -> None:
    """The closing item's ballots and spends, as casts leave them (the live store)."""
    rng = random.SystemRandom()
    rows_b = [
        {
            "id": uuid.uuid4().hex,
            "item_id": item_id,
            "group_id": 1,
            "valid": True,
            "choices_json": '{"n0": "yes"}',
            "receipt": f"R{n:08d}",
            "channel": "phone",
        }
        for n in range(ballots)
    ]
    rows_s = [{"credential_id": uuid.uuid4().hex, "item_id": item_id} for _ in range(ballots)]
    rng.shuffle(rows_b)
    with db.write_engine.connect() as conn:
        conn.execute(
            text(
                "INSERT INTO live.ballots (id, item_id, group_id, valid, choices_json, receipt, channel) "
                "VALUES (:id, :item_id, :group_id, :valid, :choices_json, :receipt, :channel)"
            ),
            rows_b,
        )
        conn.execute(text("INSERT INTO live.spends (credential_id, item_id) VALUES (:credential_id, :item_id)"), rows_s)
        conn.commit()


class SteadyCasts:
    """~RATE casts/s through the API, each timed; (start, latency) pairs."""

    def __init__(self, base: str, item_id: int, codes: list[str]):
        self.base, self.item_id, self.codes = base, item_id, codes
        self.samples: list[tuple[float, float]] = []
        self.errors = 0
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(k,), daemon=True) for k in range(4)]

    def _run(self, k: int) -> None:
        rng = random.Random(k)
        period = 4 / RATE  # four senders, each every period: RATE per second in all
        with httpx.Client(base_url=self.base, timeout=30) as client:
            next_at = time.monotonic() + k * period / 4
            for code in self.codes[k::4]:
                if self.stop.is_set():
                    return
                time.sleep(max(0.0, next_at - time.monotonic()))
                next_at += period
                started = time.monotonic()
                body = {"code": code, "item_id": self.item_id, "choices": _choices(rng)}
                r = client.post("/api/v1/ballots", json=body)
                self.samples.append((started, time.monotonic() - started))
                if r.status_code != 201:
                    self.errors += 1

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()

    def worst(self, start: float, end: float) -> float:
        """The worst latency of casts in flight at any time in [start, end]."""
        return max((lat for at, lat in self.samples if at <= end and at + lat >= start), default=0.0)


def one_run(url: str, tmp: Path, history: int, ballots: int) -> dict:
    instance = tmp / f"instance-{history}"
    instance.mkdir()
    settings = Settings(instance_path=instance, database_url=url, master_secret=b"close-secret-" + b"x" * 20)
    closing_item, _ = prepare(settings, 1)
    other_item, other_codes = prepare(settings, 40 * RATE)
    db = Database(url)
    server = None
    try:
        started = time.monotonic()
        seed_history(db, history)
        fill_item(db, closing_item, ballots)
        seeded = time.monotonic() - started
        server = Server(settings, tmp / f"server-{history}.log", workers=2, threads=4)
        server.start()
        with SteadyCasts(server.base, other_item, other_codes) as casts:
            time.sleep(3)
            before = casts.worst(0, time.monotonic())
            t0 = time.monotonic()
            with db.write() as s:
                close_item(s, ACTOR, closing_item)
            t1 = time.monotonic()
            compacted = compact_pending(db)
            t2 = time.monotonic()
            time.sleep(2)
        during = casts.worst(t0, t2)
        return {
            "history": history,
            "seed_s": seeded,
            "seal_s": t1 - t0,
            "close_s": t2 - t0,
            "compacted": bool(compacted),
            "before_ms": before * 1000,
            "during_ms": during * 1000,
            "casts": len(casts.samples),
            "errors": casts.errors,
        }
    finally:
        if server:
            server.stop()
        db.dispose()


def pg_cluster():
    """(admin URL, stop function)."""
    url = os.environ.get("BALLOT_BENCH_PG_URL")
    if not url and Path("/tmp/hpg/url").exists():
        url = Path("/tmp/hpg/url").read_text().strip()
    if url:
        return url, lambda: None
    if not ThrowawayPostgres.available():
        return None, lambda: None
    pg = ThrowawayPostgres()
    return pg.start(), pg.stop


def run_database(database: str, sizes: list[int], ballots: int) -> list[dict]:
    tmp = Path(tempfile.mkdtemp(prefix="ballot-close-"))
    results = []
    admin_url, stop = pg_cluster() if database == "postgresql" else (None, lambda: None)
    try:
        if database == "postgresql" and not admin_url:
            print("PostgreSQL: skipped (no cluster)")
            return []
        for history in sizes:
            if database == "sqlite":
                url = f"sqlite:///{tmp / f'ballot-{history}.db'}"
            else:
                name = f"bench_close_{uuid.uuid4().hex[:10]}"
                admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
                with admin.connect() as conn:
                    conn.execute(text(f"CREATE DATABASE {name}"))
                url = re.sub(r"/[^/]*$", f"/{name}", admin_url)
            try:
                r = one_run(url, tmp, history, ballots)
            finally:
                if database == "postgresql":
                    with admin.connect() as conn:
                        conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    admin.dispose()
            print(
                f"  {database} history {history:>9,}: close {r['close_s'] * 1000:7.0f} ms "
                f"(sealing transaction {r['seal_s'] * 1000:.0f} ms), other meeting's worst cast "
                f"{r['before_ms']:.0f} ms before / {r['during_ms']:.0f} ms during the close "
                f"({r['casts']} casts, {r['errors']} errors, history seeded in {r['seed_s']:.1f} s"
                f"{'' if r['compacted'] else ', COMPACTION POSTPONED'})",
                flush=True,
            )
            results.append(r)
    finally:
        stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller histories, same shape (< 2 minutes)")
    ap.add_argument("--database", default="sqlite,postgresql", help="sqlite, postgresql or both (comma)")
    ap.add_argument("--ballots", type=int, default=3000, help="ballots of the item closed")
    args = ap.parse_args()
    sizes = {
        "postgresql": [0, 20_000, 100_000] if args.quick else [0, 100_000, 1_000_000],
        "sqlite": [0, 50_000] if args.quick else [0, 300_000],
    }
    print(f"close of a {args.ballots:,}-ballot item while another meeting casts ~{RATE}/s (2 workers)")
    worst, ratio = 0.0, 0.0
    for database in [d.strip() for d in args.database.split(",")]:
        results = run_database(database, sizes[database], args.ballots)
        if not results:
            continue
        worst = max(worst, *(r["during_ms"] for r in results))
        ratio = max(ratio, results[-1]["close_s"] / results[0]["close_s"])
    print(f"close: worst-stall-ms={worst:.0f} history-ratio={ratio:.2f}")


if __name__ == "__main__":
    main()
