"""Failed-attempt limits: counted before the check, shared by every worker and app server, never
holding back an honest voter, and warning when a proxy hides every client's address."""

import logging
import threading
from datetime import datetime, timedelta

import httpx
from conftest import PASSWORD, csrf_of, login
from server import running_server
from sqlalchemy import select

from ballot.storage.models import FailedAttempt
from ballot.voting.ratelimit import FailureLimiter
from ballot.web import create_app

PARALLEL = 24


def _in_parallel(n: int, work) -> list:
    """Run work(i) on n threads released at once; their results in order."""
    start = threading.Barrier(n)
    results = [None] * n

    def run(i):
        start.wait(timeout=30)
        results[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    return results


class Counting:
    """Wraps the check an attempt is refused before (the password, the code) and counts calls."""

    def __init__(self, check):
        self.check, self.calls, self.lock = check, 0, threading.Lock()

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.calls += 1
        return self.check(*args, **kwargs)


def test_parallel_wrong_passwords_check_at_most_the_allowance(app, world, settings, monkeypatch):
    import ballot.web.staff.account as admin

    world.staff("clerk")
    checked = Counting(admin.authenticate)
    monkeypatch.setattr(admin, "authenticate", checked)
    clients = [app.test_client() for _ in range(PARALLEL)]
    tokens = [csrf_of(c.get("/admin/login").get_data(as_text=True)) for c in clients]

    def wrong(i):
        form = {"username": "clerk1", "password": f"wrong-{i}", "csrf_token": tokens[i]}
        return clients[i].post("/admin/login", data=form).status_code

    codes = _in_parallel(PARALLEL, wrong)
    allowance = settings.login_failures_per_client
    assert checked.calls <= allowance
    # (in a crowd, attempts may refuse one another: fewer than the allowance is fine, more never)
    assert set(codes) <= {401, 429} and codes.count(401) == checked.calls
    # attempts refused in the crowd left nothing behind: what was checked is what counts
    assert app.extensions["ballot.login_limiter"].failures("127.0.0.1") == checked.calls


def test_parallel_wrong_codes_check_at_most_the_allowance(app, world, settings, monkeypatch):
    import ballot.web.voter.vote as vote

    world.ready(codes=1)
    checked = Counting(vote.find_usable)
    monkeypatch.setattr(vote, "find_usable", checked)
    clients = [app.test_client() for _ in range(PARALLEL)]
    tokens = [csrf_of(c.get("/").get_data(as_text=True)) for c in clients]
    def wrong(i):
        return clients[i].post("/enter", data={"code": f"WRONG{i:04d}", "csrf_token": tokens[i]}).status_code

    codes = _in_parallel(PARALLEL, wrong)
    assert checked.calls <= settings.code_failures_per_client
    assert set(codes) <= {400, 429} and codes.count(400) == checked.calls and codes.count(429) == PARALLEL - checked.calls


def test_parallel_wrong_codes_through_the_api_check_at_most_the_allowance(app, world, settings, monkeypatch):
    from ballot.voting import credentials

    m, item, _ = world.ready(codes=1)
    checked = Counting(credentials.find_usable)
    monkeypatch.setattr(credentials, "find_usable", checked)
    clients = [app.test_client() for _ in range(PARALLEL)]

    def wrong(i):
        payload = {"code": f"WRONG{i:04d}", "item_id": item.id, "choices": {}}
        return clients[i].post("/api/v1/ballots", json=payload).status_code

    codes = _in_parallel(PARALLEL, wrong)
    assert checked.calls <= settings.code_failures_per_client
    assert set(codes) <= {403, 429} and codes.count(403) == checked.calls


def test_a_right_password_or_code_is_forgiven(app, world, settings):
    m, item, codes = world.ready(codes=3)
    world.staff("clerk")
    client = app.test_client()
    for _ in range(settings.login_failures_per_client - 1):
        assert login(client, "clerk1", "wrong-password").status_code == 401
    for _ in range(5):  # right passwords never add to the count
        assert login(app.test_client(), "clerk1").status_code == 303
    assert login(client, "clerk1", "wrong-password").status_code == 401  # the last one allowed
    assert login(client, "clerk1").status_code == 429
    phones = app.extensions["ballot.code_limiter"]
    for code in codes:
        assert app.test_client().get(f"/v/{code}").status_code == 303
    assert phones.failures("127.0.0.1") == 0


def test_two_workers_share_one_allowance(settings, database, world):
    """Two apps on one database stand for two gunicorn workers, or two app servers."""
    world.staff("clerk")
    first, second = create_app(settings, database), create_app(settings, database)
    allowance = settings.login_failures_per_client
    for i in range(allowance):
        assert login((first if i % 2 else second).test_client(), "clerk1", "wrong-password").status_code == 401
    assert login(first.test_client(), "clerk1").status_code == 429
    assert login(second.test_client(), "clerk1").status_code == 429


def test_honest_voters_pass_while_a_guesser_fails_from_fifty_addresses(settings, database, world):
    app = create_app(settings.with_overrides(code_failures_global=40), database)
    m = world.standard(expected=60)
    codes = world.codes(m.groups[0].id, 30)
    world.present(m.groups[0].id, 60)
    world.open(m.items[0].id)
    guessers = [app.test_client() for _ in range(50)]
    refused = 0
    for round_ in range(2):
        for i, guesser in enumerate(guessers):
            r = guesser.get(f"/v/GUESS{round_}{i:03d}", environ_base={"REMOTE_ADDR": f"10.9.0.{i}"})
            assert r.status_code in (400, 429)
            refused += r.status_code == 429
        for j in range(15):  # honest voters, each on their own phone, typing their code right
            voter = app.test_client()
            code = codes[round_ * 15 + j]
            r = voter.get(f"/v/{code}", environ_base={"REMOTE_ADDR": f"10.8.{round_}.{j}"})
            assert r.status_code == 303, "an honest voter was held back"
    assert refused > 0  # past the ceiling, guessers who had failed before waited
    # and a voter whose one typo came after the ceiling was reached may still try again once more
    typo = app.test_client()
    assert typo.get("/v/TYPO0000", environ_base={"REMOTE_ADDR": "10.7.0.1"}).status_code == 400


def test_failed_attempts_expire_hold_no_code_and_no_address(database, settings):
    now = [datetime(2026, 12, 2, 9, 0, 0)]
    limiter = FailureLimiter("code", 3, None, 300, database, settings.derived_key("ratelimit-client"), lambda: now[0])
    for _ in range(3):
        assert limiter.attempt("192.0.2.7") is not None
    assert limiter.attempt("192.0.2.7") is None
    assert limiter.attempt("192.0.2.8") is not None  # another client has its own allowance
    with database.read() as s:
        rows = s.execute(select(FailedAttempt)).scalars().all()
    assert len(rows) == 4  # the refused attempt left nothing
    assert all(r.client not in ("192.0.2.7", "192.0.2.8") and len(r.client) == 32 for r in rows)
    assert {c.name for c in FailedAttempt.__table__.columns} == {"id", "limiter", "client", "at"}
    now[0] += timedelta(seconds=301)
    assert limiter.attempt("192.0.2.7") is not None  # the window moved on
    with database.read() as s:
        assert len(s.execute(select(FailedAttempt)).scalars().all()) == 1  # expired rows are gone


def test_forwarded_requests_without_a_trusted_proxy_warn(settings, database, world, caplog):
    world.staff("clerk")
    app = create_app(settings, database)
    client = app.test_client()
    login(client, "clerk1")
    assert 'id="proxy-warning"' not in client.get("/admin/").get_data(as_text=True)
    with caplog.at_level(logging.WARNING, logger="ballot"):
        client.get("/", headers={"X-Forwarded-For": "10.0.0.5"})
    assert any("BALLOT_TRUSTED_PROXIES" in r.getMessage() for r in caplog.records)
    page = client.get("/admin/").get_data(as_text=True)
    assert 'id="proxy-warning"' in page and "BALLOT_TRUSTED_PROXIES" in page
    trusting = create_app(settings.with_overrides(trusted_proxies=1), database)
    proxied = trusting.test_client()
    login(proxied, "clerk1")
    assert 'id="proxy-warning"' not in proxied.get("/admin/", headers={"X-Forwarded-For": "10.0.0.5"}).get_data(
        as_text=True
    )


def test_a_live_server_with_two_workers_checks_at_most_the_allowance(settings, world, tmp_path):
    world.staff("clerk")
    with running_server(settings, tmp_path / "server.log", workers=2, threads=8) as base:
        with httpx.Client(base_url=base, timeout=60) as c:
            page = c.get("/admin/login").text
            token, cookies = csrf_of(page), dict(c.cookies)

        def wrong(i):
            with httpx.Client(base_url=base, timeout=60, cookies=cookies) as c:
                form = {"username": "clerk1", "password": f"wrong-{i}", "csrf_token": token}
                return c.post("/admin/login", data=form).status_code

        codes = _in_parallel(PARALLEL, wrong)
        allowance = settings.login_failures_per_client
        assert codes.count(401) <= allowance, codes
        assert codes.count(401) + codes.count(429) == PARALLEL
        # one after the other, on whichever worker: the rest of the one allowance, then no more
        checked = codes.count(401) + sum(wrong(i) == 401 for i in range(allowance + 2))
        assert checked == allowance
        with httpx.Client(base_url=base, timeout=60, cookies=cookies) as c:
            form = {"username": "clerk1", "password": PASSWORD, "csrf_token": token}
            assert c.post("/admin/login", data=form).status_code == 429


def test_a_storage_failure_never_leaves_honest_voters_counted(database, settings, monkeypatch, caplog):
    """A full disk made every right code's forgiveness fail: the rows stayed, and a hall behind one
    address was locked out for the whole window once the disk was free (bench/faults.py)."""
    import sqlite3

    from sqlalchemy.exc import OperationalError

    limiter = FailureLimiter("code", 3, None, 300, database, b"k" * 32)
    full = OperationalError("DELETE", {}, sqlite3.OperationalError("database or disk is full"))
    real_drop = limiter._drop

    def failing_drop(row_id):
        raise full

    monkeypatch.setattr(limiter, "_drop", failing_drop)
    for _ in range(3):  # three right codes while the disk is full: each forgiveness fails
        attempt = limiter.attempt("10.0.0.1")
        assert attempt is not None
        limiter.forgive(attempt)
    assert "forgiving an attempt postponed (" in caplog.text
    monkeypatch.setattr(limiter, "_drop", real_drop)
    attempt = limiter.attempt("10.0.0.1")  # the disk is free again: the owed rows go first
    assert attempt is not None
    limiter.forgive(attempt)
    assert limiter.failures("10.0.0.1") == 0

    def failing_write(database):
        raise full

    monkeypatch.setattr("ballot.voting.ratelimit._light_write", failing_write)
    attempt = limiter.attempt("10.0.0.1")  # storage cannot count: checked uncounted, never a 500
    assert attempt is not None and attempt.row_id is None
    limiter.forgive(attempt)
