"""Through real gunicorn on loopback, on both databases: the atomic spend under a burst of
concurrent submits, and a whole voting run whose server log holds no code and no choice."""

import threading

import pytest
from httpvoter import Phone
from server import running_server
from sqlalchemy import func, select

from ballot.storage.models import LiveBallot, LiveSpend

pytestmark = pytest.mark.server


def test_hundred_simultaneous_submits_of_one_code(world, settings, tmp_path):
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    code = world.codes(gid, 1)[0]
    world.present(gid, 11)
    world.open(item.id)
    with running_server(settings, tmp_path / "server.log") as base:
        phones = [Phone(base) for _ in range(100)]
        for i, phone in enumerate(phones):  # 100 devices that all hold the same slip
            assert phone.enter(code) == 303
            assert phone.review(item.id, {"n0": ["yes", "no", "abstain"][i % 3]}).status_code == 200
        barrier = threading.Barrier(len(phones))
        results = [None] * len(phones)

        def submit(i):
            barrier.wait()
            results[i] = phones[i].cast(item.id, {"n0": ["yes", "no", "abstain"][i % 3]})

        threads = [threading.Thread(target=submit, args=(i,)) for i in range(len(phones))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [i for i, r in enumerate(results) if r.status_code == 303]
        refused = [r for r in results if r.status_code == 409 and "本票码已投过本议题" in r.text]
        assert len(winners) == 1, [r.status_code for r in results]
        assert len(refused) == 99  # "already used", never a rate-limit or server error
        receipt = phones[winners[0]].receipt(results[winners[0]])
        for phone in phones:
            phone.close()
    with world.db.read() as s:
        ballots = list(s.execute(select(LiveBallot)).scalars())  # the item is open: the live store
        assert [b.receipt for b in ballots] == [receipt]
        assert s.execute(select(func.count()).select_from(LiveSpend)).scalar_one() == 1


def test_server_log_of_a_voting_run_holds_no_code_and_no_choice(world, settings, tmp_path):
    m = world.standard(nominees=("张三", "李四"))
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 8)
    world.present(gid, 11)
    world.open(item.id)
    log = tmp_path / "server.log"
    with running_server(settings, log) as base:
        for i, code in enumerate(codes[:6]):
            phone = Phone(base)
            assert phone.enter(code.lower() if i % 2 else code) == 303
            phone.vote(item.id, {"n0": "yes", "n1": ["no", "abstain"][i % 2]})
            phone.close()
        stranger = Phone(base)
        assert stranger.enter("ZZZZ-ZZZZ-ZZZZ") == 400
        stranger.http.get(f"/v/{codes[6]}/extra")  # a 404 whose URL carries a code
        stranger.http.post("/ballot/1/cast", data={"n0": "yes"})  # no session, no CSRF
        stranger.close()
        world.close(item.id)
    text = log.read_text()
    assert "Booting worker" in text  # the log was captured
    for code in codes:
        for form in (code, code.replace("-", ""), code.lower(), code.replace("-", "").lower()):
            assert form not in text
    for choice in ("yes", "abstain", "同意", "弃权", "n0=", "n1="):
        assert choice not in text
    assert "GET /" not in text and "POST /" not in text  # no access log on voting paths


def test_a_worker_killed_mid_vote_is_replaced_and_acknowledged_ballots_stay(world, settings, tmp_path):
    """kill -9 of a worker process: gunicorn's arbiter starts another; every receipt shown was committed."""
    import os
    import signal
    import time
    from pathlib import Path

    import httpx

    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 4)
    world.present(gid, 11)
    world.open(item.id)

    def workers(master: int) -> set[int]:
        return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == master}

    def _parent(p: Path) -> int | None:
        try:
            return int((p / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            return None

    receipts = []
    with running_server(settings, tmp_path / "server.log", workers=1) as base:
        for code in codes[:2]:
            phone = Phone(base)
            assert phone.enter(code) == 303
            receipts.append(phone.vote(item.id, {"n0": "yes"}))
            phone.close()
        (killed,) = workers(base.pid)
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while not workers(base.pid) or killed in workers(base.pid):
            assert time.monotonic() < deadline, "no new worker"
            time.sleep(0.1)
        for code in codes[2:]:
            phone = Phone(base)
            deadline = time.monotonic() + 30
            while True:  # the new worker may still be loading the app
                try:
                    status = phone.enter(code)
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            assert status == 303
            receipts.append(phone.vote(item.id, {"n0": "yes"}))
            phone.close()
    with world.db.read() as s:
        assert sorted(b.receipt for b in s.execute(select(LiveBallot)).scalars()) == sorted(receipts)
