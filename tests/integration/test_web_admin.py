"""Clerk, chair, scrutineer and administrator pages: roles, CSRF, freezing, withdrawal, audit."""

import csv
import io
import re
import threading
from pathlib import Path

import pytest
from conftest import ACTOR, ROOT, csrf_of, login
from sqlalchemy import func, select
from voting import enter, vote

from ballot.counting.errors import OperationError
from ballot.meetings.setup import update_item
from ballot.meetings.sittings import open_item
from ballot.storage import audit
from ballot.storage.models import AuditEntry, Credential, Item, Meeting


def post(client, url, data, page_url=None):
    page = client.get(page_url or url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_of(page)})


def test_login_required_and_bad_password(client, world):
    world.staff("clerk")
    assert client.get("/admin/").status_code == 302
    r = login(client, "clerk1", "wrong-password")
    assert r.status_code == 401 and "用户名或密码不正确" in r.get_data(as_text=True)
    assert login(client, "clerk1").status_code == 303
    assert client.get("/admin/").status_code == 200


def test_login_is_rate_limited(client, world):
    world.staff("clerk")
    for _ in range(5):
        login(client, "clerk1", "wrong-password")
    r = login(client, "clerk1")  # even the right password waits
    assert r.status_code == 429 and "登录失败次数过多" in r.get_data(as_text=True)


def test_session_cookie_flags_and_csrf(client, world):
    world.staff("clerk")
    r = login(client, "clerk1")
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    r = client.post("/admin/meetings", data={"title": "无令牌"})
    assert r.status_code == 400
    with world.db.read() as s:
        assert s.execute(select(func.count()).select_from(Meeting)).scalar_one() == 0


def test_clerk_creates_meeting_groups_items_by_form(client, world):
    world.staff("clerk")
    login(client, "clerk1")
    r = post(
        client,
        "/admin/meetings",
        {"title": "县委常委会第18次会议", "date": "2026-11-26", "location": "第一会议室"},
        page_url="/admin/",
    )
    assert r.status_code == 303
    meeting_url = r.headers["Location"]
    mid = int(meeting_url.rstrip("/").split("/")[-1])
    assert (
        post(
            client, f"/admin/meetings/{mid}/groups", {"name": "县委常委", "expected": "11"}, page_url=meeting_url
        ).status_code
        == 303
    )
    bad = post(client, f"/admin/meetings/{mid}/groups", {"name": "列席", "expected": "很多"}, page_url=meeting_url)
    assert bad.status_code == 400 and "应到人数须为整数" in bad.get_data(as_text=True)
    with world.db.read() as s:
        gid = s.get(Meeting, mid).groups[0].id
    new_item = f"/admin/meetings/{mid}/items/new"
    r = post(
        client,
        new_item,
        {
            "title": "干部任免票决",
            "kind": "approval",
            "groups": str(gid),
            "nominees": "冼国强，拟任城关镇党委书记\n亓秀英|拟任城关镇镇长\n张伟",
            "preset": "appointment",
        },
    )
    assert r.status_code == 303
    refused = post(
        client,
        new_item,
        {"title": "空议题", "kind": "approval", "groups": str(gid), "nominees": "", "preset": "appointment"},
    )
    assert refused.status_code == 400 and "请至少填写一名人选" in refused.get_data(as_text=True)
    custom = post(
        client,
        new_item,
        {
            "title": "自定义",
            "kind": "approval",
            "groups": str(gid),
            "nominees": "甲",
            "preset": "custom",
            "pass_op": ">=",
            "pass_fraction": "2/3",
            "denominator": "cast",
            "basis": "本单位议事规则第五条",
        },
    )
    assert custom.status_code == 303
    with world.db.read() as s:
        items = s.get(Meeting, mid).items
        assert [i.title for i in items] == ["干部任免票决", "自定义"]
        assert '"post": "拟任城关镇镇长"' in items[0].config_json
    page = client.get(meeting_url).get_data(as_text=True)
    assert "干部任免票决" in page and "县委常委" in page


def test_meeting_file_upload_and_all_or_nothing(client, world):
    world.staff("clerk")
    login(client, "clerk1")
    home = client.get("/admin/").get_data(as_text=True)
    text = (ROOT / "examples" / "standing-committee-appointments.toml").read_bytes()
    r = client.post(
        "/admin/meetings/load",
        data={"csrf_token": csrf_of(home), "file": (io.BytesIO(text), "m.toml")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303
    broken = text.replace(b'rule = "appointment"', b'rule = "nonsense"', 1)
    r = client.post(
        "/admin/meetings/load",
        data={"csrf_token": csrf_of(home), "file": (io.BytesIO(broken), "m.toml")},
        content_type="multipart/form-data",
    )
    body = r.get_data(as_text=True)
    assert r.status_code == 400 and "第 1 个议题" in body and "未知的规则" in body
    r = client.post(
        "/admin/meetings/load",
        data={"csrf_token": csrf_of(home), "file": (io.BytesIO(b"[meeting\n"), "x")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 400 and "不是有效的 TOML" in r.get_data(as_text=True)
    with world.db.read() as s:
        assert s.execute(select(func.count()).select_from(Meeting)).scalar_one() == 1


def test_issue_codes_once_and_freeze(client, world, settings):
    world.staff("clerk")
    login(client, "clerk1")
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    url = f"/admin/meetings/{m.id}"
    edit_before = client.get(f"/admin/items/{item.id}/edit")
    assert edit_before.status_code == 200
    r = post(client, f"/admin/groups/{gid}/codes", {"count": "5", "format": "html"}, page_url=url)
    page = r.get_data(as_text=True)
    assert r.status_code == 200 and "票码只显示这一次" in page and r.headers["Cache-Control"] == "no-store"
    shown = re.findall(r'<code class="code">([0-9A-Z-]{14})</code>', page)
    assert len(shown) == 5
    r = post(client, f"/admin/groups/{gid}/codes", {"count": "3", "format": "csv"}, page_url=url)
    assert r.mimetype == "text/csv" and "attachment" in r.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(r.get_data().decode("utf-8-sig"))))
    assert rows[0][:3] == ["序号", "票码", "投票链接"] and len(rows) == 4
    assert rows[1][2].endswith(f"/v/{rows[1][1]}")
    # Codes were stored only as hashes: nothing on the server shows them again.
    with world.db.read() as s:
        hashes = list(s.execute(select(Credential.code_hash)).scalars())
    assert len(hashes) == 8 and not any(c.replace("-", "") in "".join(hashes) for c in shown)
    assert shown[0] not in client.get(url).get_data(as_text=True)
    # Frozen: the item and the group can no longer change.
    edit = post(
        client,
        f"/admin/items/{item.id}/edit",
        {"title": "改名", "kind": "approval", "groups": str(gid), "nominees": "甲", "preset": "appointment"},
    )
    assert edit.status_code == 400 and "已冻结" in edit.get_data(as_text=True)
    group = post(client, f"/admin/groups/{gid}", {"name": "常委", "expected": "12"}, page_url=url)
    assert group.status_code == 400 and "已冻结" in group.get_data(as_text=True)
    bad = post(client, f"/admin/groups/{gid}/codes", {"count": "0"}, page_url=url)
    assert bad.status_code == 400 and "签发数量" in bad.get_data(as_text=True)


def test_withdraw_and_correct_is_recorded(client, world):
    world.staff("clerk")
    login(client, "clerk1")
    m = world.standard()
    world.codes(m.groups[0].id, 2)
    item = m.items[0]
    r = post(client, f"/admin/items/{item.id}/withdraw", {"reason": "人选姓名有误", "correction": "1"})
    assert r.status_code == 303 and "/edit" in r.headers["Location"]
    new_id = int(r.headers["Location"].split("/")[-2])
    with world.db.read() as s:
        old, new = s.get(Item, item.id), s.get(Item, new_id)
        assert old.status == "withdrawn" and old.withdrawn_reason == "人选姓名有误"
        assert new.replaces_id == old.id and new.status == "draft"
        actions = [e.action for e in audit.entries(s, m.id)]
    assert actions[-2:] == ["item.withdraw", "item.add"]
    # The correction is a new draft: editable until it opens, even though codes exist.
    fixed = post(
        client,
        f"/admin/items/{new_id}/edit",
        {
            "title": "干部任免票决（更正）",
            "kind": "approval",
            "groups": str(m.groups[0].id),
            "nominees": "张三\n李四",
            "preset": "appointment",
        },
    )
    assert fixed.status_code == 303
    page = client.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    assert "干部任免票决（更正）" in page
    assert "撤回原因：人选姓名有误" in page and f"取代 #{item.id}" in page


def test_chair_enters_present_opens_and_closes_with_confirmation(app, world):
    world.staff("chair")
    chair = app.test_client()
    login(chair, "chair1")
    m = world.standard(nominees=("张三", "李四"))
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 11)
    url = f"/admin/meetings/{m.id}"
    refused = post(chair, f"/admin/items/{item.id}/open", {}, page_url=url)
    assert refused.status_code == 400 and "请先录入各表决组的实到人数" in refused.get_data(as_text=True)
    post(chair, f"/admin/groups/{gid}/present", {"present": "7"}, page_url=url)
    refused = post(chair, f"/admin/items/{item.id}/open", {}, page_url=url)
    assert refused.status_code == 400 and "至少需 8 人" in refused.get_data(as_text=True)
    too_many = post(chair, f"/admin/groups/{gid}/present", {"present": "12"}, page_url=url)
    assert too_many.status_code == 400 and "实到人数须在 0 到 11 之间" in too_many.get_data(as_text=True)
    post(chair, f"/admin/groups/{gid}/present", {"present": "9"}, page_url=url)
    assert post(chair, f"/admin/items/{item.id}/open", {}, page_url=url).status_code == 303
    assert chair.get(f"/admin/items/{item.id}/result").status_code == 409  # no result while open
    for i, code in enumerate(codes[:9]):
        voter = app.test_client()
        enter(voter, code)
        vote(voter, item.id, {"n0": "yes" if i < 6 else "no", "n1": "yes" if i < 5 else "abstain"})
    confirm_page = chair.get(f"/admin/items/{item.id}/close").get_data(as_text=True)
    assert "已投 <strong>9</strong> / 应到 11" in confirm_page
    not_confirmed = post(chair, f"/admin/items/{item.id}/close", {}, page_url=f"/admin/items/{item.id}/close")
    assert not_confirmed.status_code == 400
    done = post(chair, f"/admin/items/{item.id}/close", {"confirm": "1"}, page_url=f"/admin/items/{item.id}/close")
    assert done.status_code == 303
    result = chair.get(done.headers["Location"]).get_data(as_text=True)
    assert "通过" in result and "未通过" in result and "54.55%" in result and "45.45%" in result
    assert "依据：同意票超过应到人数的半数（应到人数 11 人，至少需 6 票）" in result
    assert re.search(
        r"<td class=\"num\">11</td><td class=\"num\">9</td>\s*<td class=\"num\">11</td><td class=\"num\">9</td>", result
    )
    with world.db.read() as s:
        actions = [e.action for e in audit.entries(s, m.id)]
        assert actions.count("attendance.set") == 2 and actions[-2:] == ["item.open", "item.close"]
        assert audit.verify_chain(audit.entries(s))[0]


def test_scrutineer_is_read_only(app, world):
    world.staff("scrutineer")
    client = app.test_client()
    login(client, "scrutineer1")
    m = world.standard()
    world.present(m.groups[0].id, 11)
    world.open(m.items[0].id)
    world.close(m.items[0].id)
    page = client.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    assert "开始表决" not in page and "签发并显示" not in page and "录入实到" not in page
    assert client.get(f"/admin/items/{m.items[0].id}/result").status_code == 200
    audit_page = client.get(f"/admin/meetings/{m.id}/audit").get_data(as_text=True)
    assert "哈希链完整" in audit_page and "item.close" in audit_page
    token = csrf_of(page)
    for url in (
        f"/admin/groups/{m.groups[0].id}/codes",
        f"/admin/groups/{m.groups[0].id}/present",
        f"/admin/items/{m.items[0].id}/open",
        f"/admin/meetings/{m.id}/groups",
        "/admin/users",
    ):
        assert client.post(url, data={"csrf_token": token, "count": "3", "present": "1"}).status_code == 403
    with world.db.read() as s:
        assert s.execute(select(func.count()).select_from(Credential)).scalar_one() == 0


def test_clerk_cannot_open_and_chair_cannot_issue(app, world):
    world.staff("clerk")
    world.staff("chair")
    m = world.standard()
    clerk, chair = app.test_client(), app.test_client()
    login(clerk, "clerk1")
    login(chair, "chair1")
    url = f"/admin/meetings/{m.id}"
    assert post(clerk, f"/admin/items/{m.items[0].id}/open", {}, page_url=url).status_code == 403
    assert post(chair, f"/admin/groups/{m.groups[0].id}/codes", {"count": "2"}, page_url=url).status_code == 403


def test_admin_creates_users(client, world):
    world.staff("admin")
    login(client, "admin1")
    r = post(client, "/admin/users", {"username": "监票人王", "password": "long-enough-pw", "role": "scrutineer"})
    assert r.status_code == 303
    short = post(client, "/admin/users", {"username": "x", "password": "short", "role": "clerk"})
    assert short.status_code == 400 and "密码至少 10 个字符" in short.get_data(as_text=True)
    with world.db.read() as s:
        assert s.execute(select(AuditEntry.action).order_by(AuditEntry.seq.desc())).first()[0] == "user.create"


def test_examples_load(world):
    for path in sorted(Path(ROOT / "examples").glob("*.toml")):
        m = world.meeting(path.read_text(encoding="utf-8"))
        assert m.items and m.groups


def test_clerk_voids_a_code(app, world):
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    m = world.standard()
    codes = world.codes(m.groups[0].id, 2)
    url = f"/admin/meetings/{m.id}"
    assert post(clerk, f"/admin/meetings/{m.id}/void", {"code": codes[0].lower()}, page_url=url).status_code == 303
    again = post(clerk, f"/admin/meetings/{m.id}/void", {"code": codes[0]}, page_url=url)
    assert again.status_code == 400 and "没有找到这个可用的票码" in again.get_data(as_text=True)
    assert enter(app.test_client(), codes[0]).status_code == 400
    assert enter(app.test_client(), codes[1]).status_code == 303
    with world.db.read() as s:
        assert s.execute(select(func.count()).select_from(Credential)).scalar_one() == 2  # recorded, not deleted
        assert [e.action for e in audit.entries(s, m.id)][-1] == "codes.void"


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
