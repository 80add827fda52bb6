"""Crash runs: voters with retries against `ballot serve` while its workers, the whole server and
(PostgreSQL) the database server are killed, then the durability checks.

Shared by tests/integration/test_crash.py (a few hundred voters) and bench/faults.py (thousands, several
bursts, a full disk). The server is assumed to be a master process whose children are the
workers it restarts; nothing else about it is relied on.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from server import proc_stats
from sqlalchemy import func, select

ROOT = Path(__file__).resolve().parents[2]
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
RECEIPT_RE = re.compile(r'id="receipt">([0-9A-Z-]+)<')
RECEIPT_LIST_RE = re.compile(r"\b([0-9A-Z]{4}(?:-[0-9A-Z]{4})+)\b")
NOMINEES = ["甲", "乙", "丙", "丁", "戊"]


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children_of(pid: int) -> list[int]:
    """Live (not zombie) child processes of `pid`, from /proc."""
    return [child for child, fields in proc_stats() if fields[1] == str(pid) and fields[0] != "Z"]


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Server:
    """`ballot serve` on one loopback port that survives kill -9 and restarts: the same port, so
    clients simply retry. Started in its own session, so the whole tree can be killed at once."""

    def __init__(self, settings, log_path: Path, workers: int = 2, threads: int = 4, extra_env: dict | None = None):
        self.settings = settings
        self.log_path = log_path
        self.workers, self.threads = workers, threads
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ, BALLOT_DATABASE_URL=settings.database_url, **(extra_env or {}))
        self.env.pop("BALLOT_SECRET_KEY", None)
        self.proc: subprocess.Popen | None = None
        (settings.instance_path / "secret.key").write_bytes(settings.master_secret)

    def start(self, timeout: float = 90) -> None:
        command = [
            sys.executable, "-m", "ballot.cli", "serve",
            "--instance", str(self.settings.instance_path),
            "--port", str(self.port),
            "--workers", str(self.workers),
            "--threads", str(self.threads),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.base + "/", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {self.log_path.read_text()[-3000:]}")
            time.sleep(0.1)

    @property
    def master(self) -> int:
        return self.proc.pid

    def worker_pids(self) -> list[int]:
        return children_of(self.master)

    def kill_worker(self) -> int | None:
        """kill -9 one worker (the master starts another)."""
        workers = self.worker_pids()
        if not workers:
            return None
        victim = random.choice(workers)
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return victim

    def kill_all(self) -> None:
        """kill -9 of the master and every worker at once, then wait until they are gone."""
        tree = [self.master, *self.worker_pids()]
        try:
            os.killpg(self.master, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        deadline = time.monotonic() + 30
        while any(alive(p) for p in tree) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill_all()
        # workers a killed master left behind
        try:
            os.killpg(self.master, signal.SIGKILL)
        except ProcessLookupError:
            pass


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own (scripts/pg.sh), so it can be restarted with `-m immediate`
    without disturbing anything else."""

    def __init__(self):
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="ballot-crash-pg-"))
        os.chmod(self.dir, 0o755)
        self.url = None

    @staticmethod
    def available() -> bool:
        return any(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))

    def start(self) -> str:
        out = subprocess.run(
            [str(ROOT / "scripts" / "pg.sh"), "start", str(self.dir)],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.url = out.stdout.strip().splitlines()[-1]
        return self.url

    def restart_immediate(self) -> None:
        """pg_ctl -m immediate: no checkpoint, backends killed; recovery replays the WAL on start."""
        pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parts[-3])[-1]
        as_user = ["runuser", "-u", "ballotpg", "--"] if os.geteuid() == 0 else []
        # -l: the restarted server must not inherit our pipes (we would wait for them forever)
        subprocess.run(
            [*as_user, str(pg_ctl), "-D", str(self.dir / "data"), "-l", str(self.dir / "server.log")]
            + ["-m", "immediate", "-w", "-t", "60", "restart"],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )

    def stop(self) -> None:
        subprocess.run([str(ROOT / "scripts" / "pg.sh"), "stop", str(self.dir)], capture_output=True, timeout=120)


# ---------------------------------------------------------------- the meeting


def prepare(settings, voters: int, extra_codes: int = 0):
    """A meeting with one 逐人表态 item open and `voters` (+ extra) codes; (item id, codes)."""
    from ballot.meetings import meetingfile
    from ballot.meetings.sittings import open_item, set_present
    from ballot.storage import audit
    from ballot.storage.db import Database
    from ballot.storage.migrate import upgrade
    from ballot.voting import credentials

    upgrade(settings.database_url)
    actor = audit.Actor("crash", "admin")
    db = Database(settings.database_url)
    total = voters + extra_codes
    names = ", ".join(f'"{n}"' for n in NOMINEES)
    try:
        with db.write() as s:
            m = meetingfile.load(
                s,
                actor,
                f"""
[meeting]
title = "崩溃测试大会"
[[groups]]
name = "全体"
expected = {total}
[[items]]
title = "逐人表态"
rule = {{ preset = "custom", pass_op = ">", pass_fraction = "1/2", denominator = "cast", basis = "测试" }}
nominees = [{names}]
""",
            )
            group, item_id = m.groups[0], m.items[0].id
            codes = []
            for start in range(0, total, credentials.MAX_BATCH):
                count = min(credentials.MAX_BATCH, total - start)
                codes += credentials.issue_codes(s, settings.derived_key("credential"), group, count, actor)
            set_present(s, actor, group, total)
        with db.write() as s:
            open_item(s, actor, item_id)
    finally:
        db.dispose()
    return item_id, codes


# ---------------------------------------------------------------- voters with retries


class NoAnswer(Exception):
    """The request got no usable answer (connection refused or cut, timeout, a server error)."""


@dataclass
class Tally:
    """What the clients saw, shared by every voter thread."""

    acknowledged: dict = field(default_factory=dict)  # code -> receipt shown to us
    unacknowledged: list = field(default_factory=list)  # "already used" after a lost answer
    unfinished: list = field(default_factory=list)  # ran out of time
    anomalies: list = field(default_factory=list)  # answers that should never happen
    errors: Counter = field(default_factory=Counter)  # by kind
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, kind: str) -> None:
        with self.lock:
            self.errors[kind] += 1

    def done(self) -> int:
        return len(self.acknowledged) + len(self.unacknowledged) + len(self.unfinished) + len(self.anomalies)


def _choices(rng: random.Random) -> dict:
    return {f"n{i}": rng.choice(["yes", "no", "abstain"]) for i in range(len(NOMINEES))}


class Voter:
    def __init__(self, base: str, tally: Tally, deadline: float):
        self.http = httpx.Client(
            base_url=base, follow_redirects=False, timeout=20, verify=False, limits=httpx.Limits(keepalive_expiry=1)
        )
        self.tally, self.deadline = tally, deadline
        self.lost = False  # some request of this client lost its answer and was sent again

    def send(self, method: str, path: str, ok: tuple[int, ...], **kw) -> httpx.Response:
        """One request, repeated until it is answered with a status in `ok` or a final refusal
        (4xx other than 429). Lost answers (connection errors, timeouts, 5xx) are retried."""
        pause = 0.05
        while True:
            if time.monotonic() > self.deadline:
                raise TimeoutError
            try:
                response = self.http.request(method, path, **kw)
            except httpx.ConnectError:
                self.tally.error("connection refused")
            except httpx.TimeoutException:
                self.tally.error("timeout")
            except httpx.TransportError:  # reset, or closed before the answer: a lost response
                self.tally.error("connection cut")
            else:
                if response.status_code in ok:
                    return response
                if response.status_code >= 500:
                    self.tally.error(f"HTTP {response.status_code}")
                elif response.status_code == 429:
                    self.tally.error("HTTP 429")
                else:
                    return response
            self.lost = True
            time.sleep(pause * (0.5 + random.random()))
            pause = min(pause * 2, 1.0)

    def close(self):
        self.http.close()


def web_voter(base: str, code: str, item_id: int, tally: Tally, deadline: float, rng: random.Random) -> None:
    """The phone's whole flow. The pending ballot and its receipt wait in the session cookie, so a
    confirm repeated after a lost answer shows the receipt of the ballot that did commit."""
    v = Voter(base, tally, deadline)
    try:
        slip = v.send("GET", f"/V/{code}", (303,))
        if slip.status_code != 303:
            raise AssertionError(f"slip {slip.status_code}")
        while True:  # until the session holds checked choices
            form = v.send("GET", f"/ballot/{item_id}", (200,))
            if form.status_code != 200:
                raise AssertionError(f"ballot page {form.status_code}")
            token = CSRF_RE.search(form.text).group(1)
            posted = v.send("POST", f"/ballot/{item_id}/review", (303,), data={**_choices(rng), "csrf_token": token})
            if posted.status_code != 303:
                raise AssertionError(f"review {posted.status_code}")
            review = v.send("GET", f"/ballot/{item_id}/review", (200,))
            if review.status_code == 200 and 'name="csrf_token"' in review.text:
                break
        token = CSRF_RE.search(review.text).group(1)
        cast = v.send("POST", f"/ballot/{item_id}/cast", (303,), data={"csrf_token": token})
        if cast.status_code != 303:  # even after a lost answer the session's receipt is recognised
            raise AssertionError(f"cast {cast.status_code}")
        page = v.send("GET", cast.headers["location"], (200,))
        receipt = RECEIPT_RE.search(page.text)
        if not receipt:
            raise AssertionError(f"receipt page {page.status_code}")
        with tally.lock:
            tally.acknowledged[code] = receipt.group(1)
    except TimeoutError:
        with tally.lock:
            tally.unfinished.append(code)
    except Exception as exc:  # noqa: BLE001 - recorded and asserted on, never swallowed
        with tally.lock:
            tally.anomalies.append(f"web {type(exc).__name__}: {exc}")
    finally:
        v.close()


def api_voter(base: str, code: str, item_id: int, tally: Tally, deadline: float, rng: random.Random) -> None:
    """POST /api/v1/ballots, repeated when the answer is lost; "already cast" on a repeat means the
    first attempt did commit but its receipt never reached us (not acknowledged to us)."""
    v = Voter(base, tally, deadline)
    payload = {"code": code, "item_id": item_id, "choices": _choices(rng)}
    try:
        response = v.send("POST", "/api/v1/ballots", (201, 409), json=payload)
        if response.status_code == 201:
            with tally.lock:
                tally.acknowledged[code] = response.json()["receipt"]
            return
        error = response.json().get("error", {}).get("code") if response.status_code == 409 else None
        if error == "already_cast" and v.lost:
            with tally.lock:
                tally.unacknowledged.append(code)
            return
        raise AssertionError(f"api {response.status_code} {response.text[:200]}")
    except TimeoutError:
        with tally.lock:
            tally.unfinished.append(code)
    except Exception as exc:  # noqa: BLE001
        with tally.lock:
            tally.anomalies.append(f"api {type(exc).__name__}: {exc}")
    finally:
        v.close()


def run_voters(base: str, item_id: int, codes: list[str], tally: Tally, threads: int, seconds: float, api_share=3):
    """Voters in `threads` threads (every `api_share`-th through the API, the rest the phone flow),
    until all are done or `seconds` pass. Returns the threads (started)."""
    deadline = time.monotonic() + seconds
    queue = list(enumerate(codes))
    queue_lock = threading.Lock()

    def worker(n):
        rng = random.Random(n)
        while True:
            with queue_lock:
                if not queue:
                    return
                i, code = queue.pop()
            flow = api_voter if api_share and i % api_share == 0 else web_voter
            flow(base, code, item_id, tally, deadline, rng)

    started = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(threads)]
    for t in started:
        t.start()
    return started


# ---------------------------------------------------------------- checks after close


@dataclass
class Verdict:
    acknowledged: int
    lost: list
    ballots: int
    spends: int
    distinct_spenders: int
    recount_ok: bool
    receipts_listed: int

    @property
    def double_spends(self) -> int:
        return self.spends - self.distinct_spenders

    def line(self) -> str:
        return (
            f"acknowledged {self.acknowledged}, lost {len(self.lost)}, ballots {self.ballots}, spends {self.spends}, "
            f"double spends {self.double_spends}, receipts listed {self.receipts_listed}, "
            f"recount {'= result' if self.recount_ok else 'DIFFERS'}"
        )


def close_and_check(settings, item_id: int, tally: Tally) -> Verdict:
    """Close the item (server stopped), then: every acknowledged receipt is on the published list,
    no code spent twice, one ballot per spend, and the export recounts to the result."""
    from ballot.counting.export import recount
    from ballot.meetings.results import export_item, item_result
    from ballot.meetings.sittings import close_item
    from ballot.storage import audit
    from ballot.storage.db import Database
    from ballot.storage.models import Ballot, Item, Spend
    from ballot.voting.sealing import compact_pending
    from ballot.web import create_app

    db = Database(settings.database_url)
    try:
        with db.write() as s:
            close_item(s, audit.Actor("crash", "admin"), item_id)
        compact_pending(db)
        with db.read() as s:
            ballots = s.execute(select(func.count()).select_from(Ballot).where(Ballot.item_id == item_id)).scalar_one()
            spends, distinct = s.execute(
                select(func.count(), func.count(func.distinct(Spend.credential_id))).where(Spend.item_id == item_id)
            ).one()
            item = s.get(Item, item_id)
            export = json.loads(json.dumps(export_item(s, item)))  # as written to ballots.json
            recount_ok = recount(export) == json.loads(json.dumps(item_result(s, item)))
        page = create_app(settings, db).test_client().get(f"/receipts/{item_id}")
        listed = set(RECEIPT_LIST_RE.findall(page.get_data(as_text=True)))
    finally:
        db.dispose()
    lost = sorted(r for r in tally.acknowledged.values() if r not in listed)
    return Verdict(len(tally.acknowledged), lost, ballots, spends, distinct, recount_ok, len(listed))


# ---------------------------------------------------------------- a whole crash run


@dataclass
class Burst:
    at: float  # fraction of voters done
    action: str  # a key of the actions: "worker", "server", "postgres", …


def run_crash(
    server: Server,
    item_id: int,
    codes: list[str],
    bursts: list[Burst],
    actions: dict,
    threads: int = 16,
    seconds: float = 300,
    log=print,
) -> Tally:
    """Voters run while `bursts` fire as the share of voters done passes each mark."""
    tally = Tally()
    started = time.monotonic()
    workers = run_voters(server.base, item_id, codes, tally, threads, seconds)
    pending = sorted(bursts, key=lambda b: b.at)
    while any(t.is_alive() for t in workers):
        done = tally.done() / len(codes)
        while pending and done >= pending[0].at:
            burst = pending.pop(0)
            t0 = time.monotonic()
            detail = actions[burst.action]()
            log(
                f"  {time.monotonic() - started:6.1f} s  {done:4.0%} done: {burst.action}"
                f"{' ' + detail if detail else ''} ({time.monotonic() - t0:.1f} s)"
            )
        time.sleep(0.02)
    for t in workers:
        t.join()
    for burst in pending:  # marks never reached (all voters finished first)
        actions[burst.action]()
        log(f"  after the voters: {burst.action}")
    tally.elapsed = time.monotonic() - started
    return tally


def standard_actions(server: Server, postgres: ThrowawayPostgres | None = None) -> dict:
    def worker():
        return f"pid {server.kill_worker()}"

    def whole_server():
        server.kill_all()
        server.start()
        return "restarted"

    def pg_immediate():
        postgres.restart_immediate()
        return "pg_ctl -m immediate restart"

    actions = {"worker": worker, "server": whole_server}
    if postgres is not None:
        actions["postgres"] = pg_immediate
    return actions
