"""Regressions found in review: HTTPS forms, racing edits, huge ids, control characters,
malformed meeting files, postponed compaction, repeat submit after close, readable cookies."""

import base64
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import ACTOR, csrf_of, login
from sqlalchemy import select
from voting import confirm, enter, receipt_of, review, vote

from ballot.meetings.meetings import OperationError, open_item, update_item
from ballot.storage.models import Item
from ballot.voting.sealing import compact_pending


def test_forms_work_over_https(app, world):
    m = world.standard()
    code = world.codes(m.groups[0].id, 1)[0]
    client = app.test_client()
    page = client.get("/", base_url="https://vote.example.org").get_data(as_text=True)
    r = client.post("/enter", data={"code": code, "csrf_token": csrf_of(page)}, base_url="https://vote.example.org")
    assert r.status_code == 303


def test_edit_racing_an_open_is_refused(world, backend):
    if backend != "postgresql":
        pytest.skip("SQLite serialises write transactions (BEGIN IMMEDIATE): no interleaving")
    m = world.standard()
    world.present(m.groups[0].id, 11)
    with pytest.raises(OperationError, match="已冻结"):
        with world.db.write() as s:
            item = s.get(Item, m.items[0].id)  # read as draft ...
            opener = threading.Thread(target=world.open, args=(item.id,))
            opener.start()
            opener.join()  # ... the chair opens it meanwhile ...
            update_item(s, ACTOR, item, "改", "approval", {"nominees": ["甲"]}, [m.groups[0].id])
    with world.db.read() as s:
        assert s.get(Item, m.items[0].id).status == "open"


def test_open_waits_for_attendance_change(world, backend):
    m = world.standard()
    world.present(m.groups[0].id, 11)
    with world.db.write() as s:
        open_item(s, ACTOR, m.items[0].id)
    with pytest.raises(OperationError, match="正在表决"):
        world.present(m.groups[0].id, 5)


@pytest.mark.parametrize(
    "url",
    [
        "/receipts/1000000000000000000000000000000",
        "/ballot/99999999999999999999",
        "/admin/items/99999999999999999999/result",
    ],
)
def test_huge_ids_are_not_found(client, url):
    r = client.get(url)
    assert r.status_code in (302, 404)


def test_control_characters_are_refused(app, world):
    world.staff("clerk")
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    r = client.post("/admin/login", data={"username": "a\x00b", "password": "x", "csrf_token": csrf_of(page)})
    assert r.status_code == 400 and "请求无效" in r.get_data(as_text=True)
    login(client, "clerk1")
    home = client.get("/admin/").get_data(as_text=True)
    r = client.post("/admin/meetings", data={"title": "会议\x00", "csrf_token": csrf_of(home)})
    assert r.status_code == 400


def test_meeting_file_with_odd_group_entries(world):
    with pytest.raises(OperationError, match="未在 \\[\\[groups\\]\\] 中定义"):
        world.meeting(
            '[meeting]\ntitle="x"\n[[groups]]\nname="A"\nexpected=3\n[[items]]\ntitle="t"\n'
            'groups=[{name="A"}]\nnominees=["甲"]\n'
        )


def test_compaction_is_postponed_not_hung(app, world, backend, settings):
    if backend != "sqlite":
        pytest.skip("SQLite WAL detail")
    m, item, (code,) = world.ready(codes=1)
    phone = app.test_client()
    enter(phone, code)
    vote(phone, item.id, {"n0": "yes"})
    path = settings.database_url.removeprefix("sqlite:///")
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM ballots").fetchone()  # a long read holds the WAL
    from ballot.meetings.meetings import close_item

    with world.db.write() as s:
        close_item(s, ACTOR, item.id)
    started = time.monotonic()
    assert not (postponed := compact_pending(world.db)) and "数据库繁忙" in postponed.message
    assert time.monotonic() - started < 8
    with world.db.read() as s:
        assert s.get(Item, item.id).compacted is False
    reader.rollback()
    reader.close()
    assert compact_pending(world.db) is True
    with world.db.read() as s:
        assert s.get(Item, item.id).compacted is True
    wal = Path(path + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


def test_repeat_submit_after_close_shows_the_receipt(app, world):
    m, item, (code,) = world.ready(codes=1)
    phone = app.test_client()
    enter(phone, code)
    reviewed = review(phone, item.id, {"n0": "yes"})
    before = phone.get_cookie("ballot_session").value
    receipt = receipt_of(phone.get(confirm(phone, item.id, reviewed).headers["Location"]))
    world.close(item.id)
    phone.set_cookie("ballot_session", before)
    again = confirm(phone, item.id, reviewed)
    assert again.status_code == 303 and receipt_of(phone.get(again.headers["Location"])) == receipt


def test_session_cookie_is_encrypted(app, world):
    m, item, (code,) = world.ready(codes=1)
    phone = app.test_client()
    enter(phone, code)
    review(phone, item.id, {"n0": "yes", "n1": "no"})
    cookie = phone.get_cookie("ballot_session").value
    with world.db.read() as s:
        from ballot.storage.models import Credential

        cred_id = s.execute(select(Credential.id)).scalar_one()
    raw = base64.urlsafe_b64decode(cookie + "=" * (-len(cookie) % 4))
    for secret in (cred_id.encode(), b"votes", b"yes", b"receipt"):
        assert secret not in raw and secret.decode() not in cookie
    tampered = cookie[:-6] + ("A" if cookie[-6] != "A" else "B") + cookie[-5:]
    phone.set_cookie("ballot_session", tampered)
    assert phone.get("/ballot").status_code == 401  # a forged or damaged cookie is no session


def _token_page(app, username):
    client = app.test_client()
    login(client, username)
    return client, csrf_of(client.get("/admin/tokens").get_data(as_text=True))


def test_tokens_are_personal_and_only_admins_revoke_others(app, world):
    for role in ("clerk", "chair", "scrutineer"):
        world.staff(role)
    chair, chair_csrf = _token_page(app, "chair1")
    r = chair.post("/admin/tokens", data={"csrf_token": chair_csrf, "name": "主持人平板"})
    assert r.status_code == 200 and "blt_" in r.get_data(as_text=True)  # a chair may make their own
    scrutineer, s_csrf = _token_page(app, "scrutineer1")
    assert scrutineer.post("/admin/tokens", data={"csrf_token": s_csrf, "name": "监票"}).status_code == 200
    clerk, clerk_csrf = _token_page(app, "clerk1")
    page = clerk.get("/admin/tokens").get_data(as_text=True)
    assert "主持人平板" not in page  # others' tokens are not listed ...
    refused = clerk.post("/admin/tokens", data={"csrf_token": clerk_csrf, "revoke": "1"})
    assert refused.status_code == 400  # ... nor revocable
    from ballot.storage.models import ApiToken

    with world.db.read() as s:
        assert not s.get(ApiToken, 1).revoked
    assert clerk.post("/admin/tokens", data={"csrf_token": clerk_csrf, "revoke": "9" * 30}).status_code == 400


def test_huge_batch_id_in_a_form_is_refused(app, world):
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    m = world.standard()
    page = clerk.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    r = clerk.post(f"/admin/meetings/{m.id}/void-batch", data={"csrf_token": csrf_of(page), "batch": "9" * 30})
    assert r.status_code == 400 and "批次无效" in r.get_data(as_text=True)


def test_control_characters_in_api_json_are_refused(client, world):
    world.staff("clerk")
    from ballot.meetings import apitokens
    from ballot.storage.models import User

    with world.db.write() as s:
        token = apitokens.create_token(s, s.query(User).filter_by(username="clerk1").one(), "t", ACTOR)
    body = {"meeting": {"title": "会议\x00"}, "groups": [{"name": "甲", "expected": 3}]}
    r = client.post("/api/v1/meetings", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422 and "控制字符" in r.get_json()["error"]["message"]
    body = {
        "meeting": {"title": "会议"},
        "groups": [{"name": "甲", "expected": 3}],
        "items": [{"title": "t", "nominees": ["张\x00三"]}],
    }
    r = client.post("/api/v1/meetings", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422


def test_slip_sheet_that_cannot_print_issues_nothing(app, world):
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    m = world.meeting('[meeting]\ntitle="会议\U0002b5ae"\n[[groups]]\nname="甲"\nexpected=3\n')
    gid = m.groups[0].id
    page = clerk.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    r = clerk.post(f"/admin/groups/{gid}/slips", data={"csrf_token": csrf_of(page), "count": "5"})
    assert r.status_code == 400 and "字体缺少" in r.get_data(as_text=True)
    from ballot.voting import credentials

    with world.db.read() as s:
        assert credentials.reconciliation(s, gid)["issued"] == 0


def test_broken_slip_download_voids_its_own_batch_only(app, world, monkeypatch):
    from ballot.web.staff import codes as admin_module

    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    m = world.standard()
    gid = m.groups[0].id
    others = []

    def breaking_stream(sheet, codes, progress=None):
        yield b"%PDF-1.4\n"
        others.extend(world.codes(gid, 2))  # another clerk issues codes meanwhile
        raise RuntimeError("disk full")

    monkeypatch.setattr(admin_module, "stream_slips", breaking_stream)
    page = clerk.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    with pytest.raises(RuntimeError, match="disk full"):
        clerk.post(f"/admin/groups/{gid}/slips", data={"csrf_token": csrf_of(page), "count": "5"}).get_data()
    from ballot.voting import credentials

    with world.db.read() as s:
        assert credentials.reconciliation(s, gid) == {
            "issued": 7,
            "used": 0,
            "voided": 5,
            "unused": 2,
            "balanced": True,
        }
    assert enter(app.test_client(), others[0]).status_code == 303  # the other clerk's codes still work
