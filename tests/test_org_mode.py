"""Organization mode: app servers started by the container's entry script, sharing one
PostgreSQL; and the online backup of a running SQLite instance."""

import os
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest
from httpvoter import Phone
from server import ENTRYPOINT, running_server
from sqlalchemy import func, select

from ballot.backup import BackupError, backup_sqlite
from ballot.models import Ballot

pytestmark = pytest.mark.server


def test_two_app_servers_share_one_postgresql(world, settings, backend, tmp_path):
    if backend != "postgresql":
        pytest.skip("several app servers need PostgreSQL")
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 10)
    world.present(gid, 11)
    world.open(item.id)
    with (
        running_server(settings, tmp_path / "a.log", workers=1, entrypoint=True) as a,
        running_server(
            settings, tmp_path / "b.log", workers=1, entrypoint=True, extra_env={"BALLOT_MIGRATE": "0"}
        ) as b,
    ):
        receipts = []
        for i, code in enumerate(codes[:8]):
            phone = Phone(a if i % 2 else b)
            assert phone.enter(code) == 303
            receipts.append(phone.vote(item.id, {"n0": "yes"}))
            phone.close()
        # A code used through one server is spent on the other.
        phone_a, phone_b = Phone(a), Phone(b)
        for phone in (phone_a, phone_b):
            assert phone.enter(codes[8]) == 303
            phone.review(item.id, {"n0": "no"})
        assert phone_a.cast(item.id).status_code == 303
        refused = phone_b.cast(item.id)
        assert refused.status_code == 409 and "本票码已投过本议题" in refused.text
        # A session made on one server is honoured by the other (same instance secret).
        phone_b.http.base_url = a
        assert "本票码已投票" in phone_b.http.get("/ballot").text
        phone_a.close()
        phone_b.close()
    with world.db.read() as s:
        assert s.execute(select(func.count()).select_from(Ballot)).scalar_one() == 9
    assert "Booting worker" in (tmp_path / "a.log").read_text()


def test_entrypoint_refuses_to_start_without_a_secret(tmp_path):
    env = dict(os.environ, BALLOT_DATABASE_URL="sqlite:///x.db", BALLOT_INSTANCE=str(tmp_path))
    env.pop("BALLOT_SECRET_KEY", None)
    result = subprocess.run([str(ENTRYPOINT)], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "no instance secret" in result.stderr


def test_online_backup_while_voting(world, settings, backend, tmp_path):
    if backend != "sqlite":
        with pytest.raises(BackupError, match="pg_dump"):
            backup_sqlite(settings.database_url, tmp_path / "b.db")
        return
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 11)
    world.present(gid, 11)
    world.open(item.id)
    with running_server(settings, tmp_path / "server.log") as base:
        done = []

        def voters():
            for code in codes:
                phone = Phone(base)
                phone.enter(code)
                done.append(phone.vote(item.id, {"n0": "yes"}))
                phone.close()

        thread = threading.Thread(target=voters)
        thread.start()
        copies = []
        while thread.is_alive() or not copies:
            target = tmp_path / f"backup-{len(copies)}.db"
            backup_sqlite(settings.database_url, target)
            copies.append(target)
        thread.join()
        final = tmp_path / "final.db"
        backup_sqlite(settings.database_url, final)
    counts = []
    for copy in copies + [final]:
        conn = sqlite3.connect(copy)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        counts.append(conn.execute("SELECT count(*) FROM ballots").fetchone()[0])
        conn.close()
        assert oct(Path(copy).stat().st_mode)[-3:] == "600"
    assert counts == sorted(counts) and counts[-1] == len(done) == 11  # every snapshot consistent
    with pytest.raises(BackupError, match="已存在"):
        backup_sqlite(settings.database_url, final)


def test_a_screen_on_one_server_shows_a_ballot_cast_through_another_within_a_second(world, settings, backend, tmp_path):
    """Across app servers sharing PostgreSQL (LISTEN/NOTIFY wakes the watcher), through SSE."""
    import json
    import re
    import time

    import httpx
    from conftest import ACTOR

    from ballot import screen
    from ballot.models import Meeting

    if backend != "postgresql":
        pytest.skip("several app servers need PostgreSQL")
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 3)
    world.present(gid, 11)
    world.open(item.id)
    with world.db.write() as s:
        key = screen.new_key(s, ACTOR, s.get(Meeting, m.id), settings.derived_key("screen"))
    seen: list[tuple[float, int]] = []
    with (
        running_server(settings, tmp_path / "a.log", workers=1, entrypoint=True) as a,
        running_server(
            settings, tmp_path / "b.log", workers=1, entrypoint=True, extra_env={"BALLOT_MIGRATE": "0"}
        ) as b,
    ):

        def watch():
            with httpx.stream("GET", f"{a}/screen/{key}/events", timeout=30) as r:
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        count = re.search(r'id="cast">(\d+)<', json.loads(line[6:])["html"])
                        seen.append((time.monotonic(), int(count.group(1))))
                        if count.group(1) == "3":
                            return

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen and seen[0][1] == 0  # the current state at once on connect
        delays = []
        with httpx.Client(base_url=b) as api:
            for n, code in enumerate(codes, start=1):
                started = time.monotonic()
                r = api.post("/api/v1/ballots", json={"code": code, "item_id": item.id, "choices": {"n0": "yes"}})
                assert r.status_code == 201
                while not any(c >= n for _, c in seen) and time.monotonic() < started + 5:
                    time.sleep(0.01)
                delays.append(next(t for t, c in seen if c >= n) - started)
        watcher.join(timeout=5)
    assert max(delays) < 1.0, delays
