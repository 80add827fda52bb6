"""Faults while a hall votes: crash bursts and a full disk (loopback only, bounded, cleans up).

    .venv/bin/python bench/faults.py [--voters 3000] [--bursts 4] [--database sqlite,postgresql]

Voters (two in three through the phone flow, one in three through the API) retry whatever lost
its answer, as phones and scripts do. Meanwhile, at even marks of the voters done, each burst
kills (-9) one worker, then the whole server (master and workers) and starts it again; on
PostgreSQL (a throwaway cluster of its own, scripts/pg.sh) every other burst also restarts the
database server with `pg_ctl -m immediate`. On SQLite, when run as root, the database lives on
a small tmpfs that is filled up mid-run (writes fail with SQLITE_FULL) and freed again.

After close it prints: acknowledged ballots, lost (an acknowledged receipt missing from the
published list: must be 0), codes spent twice (0), ballots = spends, recount = result, and the
errors clients saw by kind. Exits non-zero if anything was lost or spent twice.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "support"))

from crashkit import Burst, Server, ThrowawayPostgres, close_and_check, prepare, run_crash, standard_actions  # noqa: E402

from ballot.config import Settings  # noqa: E402

DISK_MB = 64  # the tmpfs: room for 3,000 ballots and their WAL, then filled up on purpose


class SmallDisk:
    """A tmpfs of its own for the SQLite database (root only), filled up and freed on demand."""

    def __init__(self, path: Path):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m,mode=0700", "tmpfs", str(path)], check=True)
        self.filler = path / "filler"
        self.full_since = None

    def fill(self, database: Path) -> str:
        # Empty the WAL first (as any client may), so the next commits must grow it on a full disk.
        conn = sqlite3.connect(database, timeout=30)
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            conn.close()
        written = 0
        with open(self.filler, "wb", buffering=0) as f:
            for chunk in (1 << 20, 1 << 12, 1 << 9):
                block = b"\0" * chunk
                try:
                    while True:
                        written += f.write(block)
                except OSError:
                    pass
        self.full_since = time.monotonic()
        free = shutil.disk_usage(self.path).free
        return f"{written / 1e6:.0f} MB filler, {free} bytes free"

    def free(self) -> str:
        self.filler.unlink(missing_ok=True)
        held = time.monotonic() - (self.full_since or time.monotonic())
        return f"after {held:.1f} s full; {shutil.disk_usage(self.path).free / 1e6:.0f} MB free"

    def unmount(self) -> None:
        subprocess.run(["umount", "-l", str(self.path)], check=False)
        try:
            self.path.rmdir()
        except OSError:
            pass


def burst_plan(bursts: int, database: str, disk: bool) -> list[Burst]:
    """`bursts` crash bursts at even marks between 10 % and 90 % of voters done; the disk fills up
    between the first two and is freed `--full-seconds` later."""
    marks = [0.1 + 0.8 * i / max(bursts - 1, 1) for i in range(bursts)]
    plan = []
    for n, mark in enumerate(marks):
        plan += [Burst(mark, "worker"), Burst(mark + 0.02, "server")]
        if database == "postgresql" and n % 2 == 0:
            plan.append(Burst(mark + 0.05, "postgres"))
    if disk:
        start = (marks[0] + marks[1]) / 2 if len(marks) > 1 else 0.5
        plan.append(Burst(start, "disk-full"))
    return plan


def run(database: str, voters: int, bursts: int, seconds: float, threads: int, args_hold: float) -> bool:
    tmp = Path(tempfile.mkdtemp(prefix="ballot-faults-"))
    instance = tmp / "instance"
    instance.mkdir()
    postgres = disk = None
    disk_note = ""
    try:
        if database == "postgresql":
            if not ThrowawayPostgres.available():
                print("PostgreSQL: skipped (no server binaries under /usr/lib/postgresql)")
                return True
            postgres = ThrowawayPostgres()
            url = postgres.start()
        else:
            if os.geteuid() == 0:
                disk = SmallDisk(tmp / "disk")
                url = f"sqlite:///{disk.path / 'ballot.db'}"
                disk_note = f", database on a {DISK_MB} MB tmpfs filled up mid-run"
            else:
                url = f"sqlite:///{tmp / 'ballot.db'}"
                disk_note = ", full disk skipped (needs root to mount a tmpfs)"
        settings = Settings(instance_path=instance, database_url=url, master_secret=b"faults-secret-" + b"x" * 20)
        item_id, codes = prepare(settings, voters)
        server = Server(settings, tmp / "server.log", workers=2, threads=4)
        actions = standard_actions(server, postgres)
        if disk:
            # freed by the clock, not by progress: while the disk is full nobody gets through
            def disk_full():
                note = disk.fill(disk.path / "ballot.db")
                timer = threading.Timer(args_hold, lambda: print(f"  disk freed {disk.free()}", flush=True))
                timer.daemon = True
                timer.start()
                return note

            actions["disk-full"] = disk_full
        plan = burst_plan(bursts, database, disk is not None)
        name = "PostgreSQL" if postgres else "SQLite (WAL, synchronous=FULL)"
        print(f"{name}: {voters} voters, {threads} at a time, {bursts} crash bursts{disk_note}")
        try:
            server.start()
            tally = run_crash(server, item_id, codes, plan, actions, threads=threads, seconds=seconds)
        finally:
            server.stop()
            if disk:
                disk.free()
        verdict = close_and_check(settings, item_id, tally)
        errors = ", ".join(f"{kind} {n}" for kind, n in sorted(tally.errors.items())) or "none"
        print(
            f"  {tally.elapsed:.0f} s: {len(tally.acknowledged)} acknowledged, "
            f"{len(tally.unacknowledged)} answered 'already used' after a lost answer (their ballot counted), "
            f"{len(tally.unfinished)} unfinished, {len(tally.anomalies)} anomalies"
        )
        for anomaly in tally.anomalies[:5]:
            print(f"    anomaly: {anomaly}")
        print(f"  {verdict.line()}")
        print(f"  errors seen by clients: {errors}")
        ok = (
            not verdict.lost
            and verdict.double_spends == 0
            and verdict.ballots == verdict.spends
            and verdict.recount_ok
            and not tally.anomalies
            and not tally.unfinished
        )
        print(
            f"faults {database}: voters={voters} acknowledged={verdict.acknowledged} lost={len(verdict.lost)} "
            f"double={verdict.double_spends} recount={'ok' if verdict.recount_ok else 'DIFFERS'} "
            f"{'OK' if ok else 'FAILED'}"
        )
        return ok
    finally:
        if postgres:
            postgres.stop()
        if disk:
            disk.unmount()
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--voters", type=int, default=3000)
    ap.add_argument("--bursts", type=int, default=4)
    ap.add_argument("--database", default="sqlite,postgresql", help="sqlite, postgresql or both (comma)")
    ap.add_argument("--threads", type=int, default=24, help="voters at a time")
    ap.add_argument("--seconds", type=float, default=600, help="time limit per database")
    ap.add_argument("--full-seconds", type=float, default=5, help="how long the disk stays full")
    args = ap.parse_args()
    # a terminated run still stops its server and unmounts its tmpfs (the finally blocks)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results = [
        run(db.strip(), args.voters, args.bursts, args.seconds, args.threads, args.full_seconds)
        for db in args.database.split(",")
    ]
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
