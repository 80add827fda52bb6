"""What every worker and app server must agree on lives in the database: the projector stream
cap (leases), the current signing key, and slip-job progress. In process against both databases,
then with two real app servers on one PostgreSQL."""

import json
import re
import threading
import time
from datetime import timedelta

import httpx
import pytest
from conftest import ACTOR, PASSWORD, csrf_of
from server import running_server
from sqlalchemy import delete, select, update

from ballot.archive import keyring, signing
from ballot.clock import utcnow
from ballot.live import screen
from ballot.storage.db import Database
from ballot.storage.models import Meeting, ScreenLease, SlipJob
from ballot.web.screenhub import ScreenHub, StreamLeases, TooBusy


def _other_server(settings):
    """A second connection pool on the same database: what another worker or app server has."""
    return Database(settings.database_url)


def test_stream_leases_cap_every_server_and_lapse_when_not_renewed(settings, database):
    other = _other_server(settings)
    try:
        here, there = StreamLeases(database, 2), StreamLeases(other, 2)
        first, second = here.acquire(), there.acquire()
        assert first and second and first[0] != second[0]
        assert here.acquire() is None and there.acquire() is None  # two in all, wherever they are
        assert there.renew({second[1]}) == set()
        here.release(*first)
        third = there.acquire()
        assert third is not None and here.acquire() is None
        # the worker holding `second` dies: nothing renews it, and once it lapses its slot is free
        with database.write() as s:
            s.execute(update(ScreenLease).where(ScreenLease.lease == second[1]).values(expires_at=utcnow() - timedelta(seconds=1)))
        fourth = here.acquire()
        assert fourth is not None and fourth[0] == second[0]
        assert there.renew({second[1], third[1]}) == {second[1]}  # a lapsed lease is reported lost
    finally:
        other.dispose()


def test_the_hub_refuses_a_screen_beyond_the_shared_cap_and_frees_it_on_close(world, settings, database):
    m = world.standard()
    other = _other_server(settings)
    try:
        hubs = [ScreenHub(db, lambda state: "<p>screen</p>", max_streams=4, total_streams=2) for db in (database, other)]
        held = [hubs[0].stream(m.id, None), hubs[1].stream(m.id, None)]  # (a dropped stream is closed)
        with pytest.raises(TooBusy):
            hubs[1].stream(m.id, None)
        assert hubs[1].streams == 1  # a refused stream holds no thread of its process either
        held[0].close()  # the screen went away, even before its first byte was sent
        assert hubs[0].streams == 0
        held.append(hubs[1].stream(m.id, None))
        # the per-process cap still protects threads when the shared cap would allow more
        single = ScreenHub(database, lambda state: "", max_streams=1, total_streams=0)
        held.append(single.stream(m.id, None))
        with pytest.raises(TooBusy):
            single.stream(m.id, None)
        # a lease lost (lapsed in a long outage, and its slot taken): the stream ends, the screen reconnects
        with database.write() as s:
            s.execute(delete(ScreenLease))
        hubs[1]._renew()
        assert len(list(held[1])) <= 2  # the padding, perhaps one event, then the end: no waiting
        assert hubs[1].streams == 1 and len(hubs[1].lost) == 1  # the other stream's, until it ends too
        for stream in held:
            stream.close()
    finally:
        other.dispose()


def test_a_rotated_key_is_shown_and_used_by_every_server_without_restart(world, settings, database, tmp_path):
    m = world.standard()
    with database.write() as s:
        key = screen.new_key(s, ACTOR, s.get(Meeting, m.id), settings.derived_key("screen"))
        before = keyring.rotate(s, settings.instance_path)
    from ballot.web import create_app

    other = _other_server(settings)
    try:
        servers = [create_app(settings, database).test_client(), create_app(settings, other).test_client()]
        for client in servers:
            assert before.id_hex in client.get(f"/screen/{key}/snapshot").get_json()["html"]
        with database.write() as s:  # `ballot keys rotate`, run anywhere
            after = keyring.rotate(s, settings.instance_path)
        for client in servers:
            snapshot = client.get(f"/screen/{key}/snapshot").get_json()
            assert after.id_hex in snapshot["html"] and before.id_hex not in snapshot["html"]
            assert snapshot["id"].endswith(after.id_hex)  # a new event: open streams redraw
        with database.read() as s:
            assert keyring.signing_key(s, settings.instance_path).public == after
            assert [k.id_hex for k in keyring.public_keys(s, settings.instance_path)][:2] == [after.id_hex, before.id_hex]
    finally:
        other.dispose()


def test_keys_only_in_files_are_adopted_once_and_a_missing_private_key_is_named(settings, database, tmp_path):
    old = signing.create_key(settings.instance_path)
    with database.read() as s:
        assert keyring.current(s, settings.instance_path) == old  # an older instance: its files
    with database.write() as s:
        assert keyring.adopt_files(s, settings.instance_path) == old
    # an app server whose own (unshared) instance folder holds another key does not take over
    lone = tmp_path / "lone"
    signing.create_key(lone)
    with database.write() as s:
        assert keyring.adopt_files(s, lone) == old
    with database.read() as s:
        with pytest.raises(signing.SigningError, match="共享卷"):
            keyring.signing_key(s, lone)


def test_a_slip_job_whose_worker_died_is_reported_failed(world, client, database):
    from conftest import login

    m = world.standard()
    login(client, world.staff("admin"))
    long_ago = utcnow() - timedelta(minutes=10)
    with database.write() as s:
        for token, updated in (("a" * 32, long_ago), ("b" * 32, utcnow())):
            s.add(SlipJob(token=token, group_id=m.groups[0].id, pages_total=3, pages_done=1, status="running", created_at=long_ago, updated_at=updated))
    dead, alive = client.get(f"/admin/slip-jobs/{'a' * 32}").get_json(), client.get(f"/admin/slip-jobs/{'b' * 32}").get_json()
    assert dead == {"status": "failed", "stalled": True, "pages_done": 1, "pages_total": 3}
    assert alive["status"] == "running" and not alive["stalled"]


def _leases(database) -> int:
    with database.read() as s:
        return len(s.execute(select(ScreenLease.slot)).all())


def _staff_client(base: str, username: str) -> httpx.Client:
    http = httpx.Client(base_url=base, timeout=30)
    page = http.get("/admin/login").text
    r = http.post("/admin/login", data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(page)})
    assert r.status_code == 303, r.text
    return http


@pytest.mark.server
def test_two_app_servers_share_stream_cap_signing_key_and_slip_progress(world, settings, backend, tmp_path):
    if backend != "postgresql":
        pytest.skip("several app servers need PostgreSQL")
    m = world.standard()
    gid = m.groups[0].id
    admin = world.staff("admin")
    with world.db.write() as s:
        key = screen.new_key(s, ACTOR, s.get(Meeting, m.id), settings.derived_key("screen"))
        before = keyring.rotate(s, settings.instance_path)
    env = {"BALLOT_SCREEN_STREAMS": "4", "BALLOT_SCREEN_STREAMS_TOTAL": "2"}
    with (
        running_server(settings, tmp_path / "a.log", workers=1, threads=4, extra_env=env) as a,
        running_server(settings, tmp_path / "b.log", workers=1, threads=4, extra_env=env) as b,
    ):
        # the stream cap counts both servers' streams: one on each, and a third is refused on either
        seen: list[str] = []
        opened = threading.Event()

        def watch(base):
            with httpx.stream("GET", f"{base}/screen/{key}/events", timeout=30) as r:
                assert r.status_code == 200
                for line in r.iter_lines():
                    if line.startswith("data: "):
                        seen.append(json.loads(line[6:])["html"])
                        opened.set()
                        shown = re.search(r"签名密钥 ([0-9A-F]{16})", seen[-1])
                        if shown and shown.group(1) != before.id_hex:
                            return

        watchers = [threading.Thread(target=watch, args=(base,), daemon=True) for base in (a, b)]
        for watcher in watchers:
            opened.clear()
            watcher.start()
            assert opened.wait(15)
        for base in (a, b):
            refused = httpx.get(f"{base}/screen/{key}/events", timeout=10)
            assert refused.status_code == 503 and refused.json()["error"]["code"] == "busy"
        # a key rotated from outside both servers: both show it at once, open streams redraw
        assert all(before.id_hex in h for h in seen)
        with world.db.write() as s:
            after = keyring.rotate(s, settings.instance_path)
        for base in (a, b):
            assert after.id_hex in httpx.get(f"{base}/screen/{key}/snapshot", timeout=10).json()["html"]
        for watcher in watchers:
            watcher.join(timeout=10)
            assert not watcher.is_alive()
        assert sum(after.id_hex in h for h in seen) == 2
        # the screens are gone; a server learns it when writing to them (the first write after a
        # close still succeeds, the next fails), then frees the lease (a dead server's lapses)
        deadline = time.monotonic() + 10
        while _leases(world.db) and time.monotonic() < deadline:
            with world.db.write() as s:
                s.get(Meeting, m.id).state_version += 1
            time.sleep(0.4)
        assert _leases(world.db) == 0
        # slip sheets made on one server, their progress read on the other
        on_a, on_b = _staff_client(a, admin), _staff_client(b, admin)
        token = "c" * 32
        page = on_a.get(f"/admin/meetings/{m.id}").text
        assert after.id_hex in page or after.fingerprint in page
        with on_a.stream(
            "POST", f"/admin/groups/{gid}/slips", data={"count": "25", "token": token, "csrf_token": csrf_of(page)}
        ) as pdf:
            assert pdf.status_code == 200
            body = pdf.read()
        assert body.startswith(b"%PDF")
        deadline = time.monotonic() + 10
        while (job := on_b.get(f"/admin/slip-jobs/{token}").json())["status"] == "running" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert job == {"status": "done", "stalled": False, "pages_done": 3, "pages_total": 3}
        on_a.close()
        on_b.close()
    assert "Traceback" not in (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
