"""Units and per-meeting roles: staff of one unit cannot reach another unit's meetings, accounts or
tokens (404, as if they did not exist: a matrix over every route of the app), a meeting's named
chairs alone open and close its items, a unit's administrator manages only the accounts of the
units it sees, and an instance with one unit looks as it did before units."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner
from conftest import ACTOR, PASSWORD, csrf_of, login
from sqlalchemy import select

from ballot.archive import chain
from ballot.cli import main
from ballot.clock import utcnow
from ballot.meetings import apitokens, meetingfile, units
from ballot.storage import audit
from ballot.storage.models import AuditEntry, PaperBatch, SlipJob, User
from ballot.voting import credentials

MEETING = """
[meeting]
title = "{title}"
[[groups]]
name = "常委"
expected = 5
[[items]]
title = "干部任免票决"
rule = "appointment"
nominees = ["张三", "李四"]
"""

# Every rule of the app that names no object of another unit in its URL, and why it needs no
# unit check of its own. The matrix fails on a rule that is neither here nor exercised.
NO_UNIT_OBJECT = {
    "static": "public assets",
    "vote.start": "voter page, authorised by a one-time code",
    "vote.enter": "voter page, authorised by a one-time code",
    "vote.slip": "voter page, authorised by the one-time code in the URL",
    "vote.scan_test": "public scan test",
    "vote.leave": "voter page",
    "vote.kiosk": "kiosk page of the meeting a staff member put this device in (checked there)",
    "vote.kiosk_done": "kiosk page",
    "vote.kiosk_privacy": "kiosk page",
    "vote.items": "voter page, items of the code in the voter's session",
    "vote.names_css": "voter page, names of the voter's own meeting",
    "vote.names_font": "voter page, names of the voter's own meeting",
    "vote.ballot_form": "voter page: item checked against the voter's code (same answer for any item, see below)",
    "vote.review": "voter page: item checked against the voter's code (same answer for any item)",
    "vote.review_page": "voter page: item checked against the voter's code (same answer for any item)",
    "vote.cast": "voter page: item checked against the voter's code (same answer for any item)",
    "vote.receipt": "voter page: item checked against the voter's code (same answer for any item)",
    "vote.receipts": "public receipt list of a closed item (published to voters by design)",
    "screen.page": "projector, authorised by its unguessable key, not by a staff login",
    "screen.events": "projector, authorised by its key",
    "screen.screen_names_css": "projector, authorised by its key",
    "screen.screen_font": "projector, authorised by its key",
    "screen.snapshot": "projector, authorised by its key",
    "verify.verify": "public offline verification of an uploaded archive",
    "admin.account.login": "no object",
    "admin.account.logout": "no object",
    "admin.account.password": "the user's own password",
    "admin.account.home": "lists only visible meetings (test_home_lists_only_visible_meetings)",
    "admin.meetings.new_meeting": "unit from the form (test_create_forms_refuse_another_units_unit)",
    "admin.meetings.load_meeting": "unit from the form (test_create_forms_refuse_another_units_unit)",
    "admin.people.api_tokens": "token ids from the form (test_tokens_of_another_unit_are_not_found)",
    "admin.people.users": "lists only manageable accounts (test_a_unit_admin_manages_only_its_own_users)",
    "admin.people.units_page": "root administrator only; no object in the URL",
    "api.openapi": "public API description",
    "api.create_meeting": "creates in the token's own unit (test_api_token_is_scoped_to_its_unit)",
    "api.cast": "authorised by a one-time code",
}
VOTER_ITEM_RULES = {"vote.ballot_form", "vote.review_page", "vote.receipt"}


class Units:
    """Root unit R with children A and B; an administrator of each; a meeting in each with
    objects for every kind of route argument."""

    def __init__(self, world):
        self.world = world
        with world.db.write() as s:
            self.root = units.root(s).id
            self.a = units.create_unit(s, ACTOR, "甲县").id
            self.b = units.create_unit(s, ACTOR, "乙县").id
        self.admins = {}
        for key, unit_id in (("root", self.root), ("a", self.a), ("b", self.b)):
            self.admins[key] = self.staff("admin", f"admin_{key}", unit_id)
        self.objects = {key: self.meeting_objects(key, unit_id) for key, unit_id in self.admins_units()}

    def admins_units(self):
        return (("root", self.root), ("a", self.a), ("b", self.b))

    def staff(self, role: str, username: str, unit_id: int) -> int:
        from ballot.meetings.users import create_user

        with self.world.db.write() as s:
            return create_user(s, username, PASSWORD, role, unit_id=unit_id).id

    def token(self, username: str, unit_id: int | None = None) -> dict:
        with self.world.db.write() as s:
            user = s.execute(select(User).where(User.username == username)).scalar_one()
            return {"Authorization": "Bearer " + apitokens.create_token(s, user, "t", ACTOR, unit_id)}

    def meeting_objects(self, key: str, unit_id: int) -> dict:
        with self.world.db.write() as s:
            m = meetingfile.load(s, ACTOR, MEETING.format(title=f"{key} 的会议"), unit_id)
            group, item = m.groups[0], m.items[0]
            credentials.issue_codes(s, self.world.settings.derived_key("credential"), group, 2, ACTOR)
            batch = PaperBatch(item_id=item.id, group_id=group.id, number=1, status="entering", created_at=utcnow())
            token = f"{unit_id:032x}"
            s.add(batch)
            s.add(
                SlipJob(token=token, group_id=group.id, pages_total=1, pages_done=0, status="done", created_at=utcnow())
            )
            s.flush()
            return {
                "meeting_id": m.id,
                "item_id": item.id,
                "group_id": group.id,
                "batch_id": batch.id,
                "token": token,
                "user_id": self.admins[key],
                "unit_id": unit_id,
            }


@pytest.fixture
def org(world):
    return Units(world)


def _client(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 303
    return client


def _url(app, rule, values):
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **values)


@pytest.mark.parametrize("target", ["b", "root"])  # a sibling's objects, the parent's objects
def test_matrix_every_route_hides_another_units_objects(app, org, target):
    """Unit A's administrator, and API tokens scoped to A (A's administrator's, and the root
    administrator's token scoped to A), get 404 for every route naming an object of B (a
    sibling) or of the root (the parent), for GET and POST, with a valid CSRF token; the owner
    of the objects does not (the URLs are right). A rule neither exercised nor allow-listed fails."""
    staff_a = _client(app, "admin_a")
    csrf = csrf_of(staff_a.get("/admin/users").get_data(as_text=True))
    owner = _client(app, f"admin_{target}")
    tokens_a = [org.token("admin_a"), org.token("admin_root", org.a)]
    owner_token = org.token(f"admin_{target}")
    theirs = org.objects[target]
    exercised, unlisted = set(), []
    for rule in app.url_map.iter_rules():
        args = set(rule.arguments)
        if rule.endpoint in NO_UNIT_OBJECT:
            continue
        if not args or not args <= set(theirs):
            unlisted.append(rule.endpoint)
            continue
        url = _url(app, rule, {a: theirs[a] for a in args})
        methods = rule.methods & {"GET", "POST"}
        exercised.add(rule.endpoint)
        if rule.rule.startswith("/api/"):
            for headers in tokens_a:
                for method in methods:
                    r = app.test_client().open(url, method=method, headers=headers, json={})
                    assert r.status_code == 404, (method, url, r.status_code)
                    assert r.get_json()["error"]["code"] == "not_found"
            if "GET" in methods:
                assert app.test_client().get(url, headers=owner_token).status_code != 404, url
            continue
        for method in methods:
            data = {"csrf_token": csrf} if method == "POST" else None
            r = staff_a.open(url, method=method, data=data)
            assert r.status_code == 404, (method, url, r.status_code)
        if "GET" in methods:
            assert owner.get(url).status_code != 404, url
    assert not unlisted, f"routes neither checked by the matrix nor allow-listed: {unlisted}"
    assert {"admin.meetings.meeting", "admin.people.user_change", "admin.people.unit_rename", "api.open_", "admin.codes.slip_job"} <= exercised


def test_voter_routes_answer_the_same_for_any_items_id(app, org):
    """The voter pages take an item id but are authorised by a code: another unit's item and an
    item that does not exist get the same answer, so they reveal nothing."""
    staff_a = _client(app, "admin_a")
    for endpoint in VOTER_ITEM_RULES:
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        real = staff_a.get(_url(app, rule, {"item_id": org.objects["b"]["item_id"]}))
        missing = staff_a.get(_url(app, rule, {"item_id": 999_999}))
        assert (real.status_code, real.headers.get("Location")) == (
            missing.status_code,
            missing.headers.get("Location"),
        )


def test_home_lists_only_visible_meetings(app, org):
    pages = {who: _client(app, f"admin_{who}").get("/admin/").get_data(as_text=True) for who in ("root", "a")}
    assert all(t in pages["root"] for t in ("root 的会议", "a 的会议", "b 的会议"))  # the parent sees its children
    assert "a 的会议" in pages["a"] and "b 的会议" not in pages["a"] and "root 的会议" not in pages["a"]
    assert "<th>单位</th>" in pages["a"]  # several units: the unit column appears
    assert 'name="unit"' in pages["root"] and 'name="unit"' not in pages["a"]  # a chooser only among several


def test_create_forms_refuse_another_units_unit(app, org):
    staff_a = _client(app, "admin_a")
    csrf = csrf_of(staff_a.get("/admin/").get_data(as_text=True))
    for unit in (org.b, org.root):
        r = staff_a.post("/admin/meetings", data={"csrf_token": csrf, "title": "偷建", "unit": unit})
        assert r.status_code == 404
        r = staff_a.post(
            "/admin/users",
            data={"csrf_token": csrf, "username": "x", "role": "admin", "password": PASSWORD, "unit": unit},
        )
        assert r.status_code == 404
    root = _client(app, "admin_root")
    csrf = csrf_of(root.get("/admin/").get_data(as_text=True))
    r = root.post("/admin/meetings", data={"csrf_token": csrf, "title": "下级的会", "unit": org.b})
    assert r.status_code == 303
    b_page = _client(app, "admin_b").get("/admin/").get_data(as_text=True)
    assert "下级的会" in b_page


def test_tokens_of_another_unit_are_not_found(app, org):
    org.token("admin_b")
    with org.world.db.read() as s:
        b_token = s.execute(select(apitokens.ApiToken.id).join(User).where(User.username == "admin_b")).scalar_one()
    staff_a = _client(app, "admin_a")
    page = staff_a.get("/admin/tokens").get_data(as_text=True)
    assert "admin_b" not in page
    r = staff_a.post("/admin/tokens", data={"csrf_token": csrf_of(page), "revoke": b_token})
    assert r.status_code == 404
    with org.world.db.read() as s:
        assert not s.get(apitokens.ApiToken, b_token).revoked


def test_api_token_is_scoped_to_its_unit(app, org):
    """The root administrator's token scoped to A sees A's meetings only; its meetings are A's."""
    scoped = org.token("admin_root", org.a)
    client = app.test_client()
    assert client.get(f"/api/v1/meetings/{org.objects['a']['meeting_id']}", headers=scoped).status_code == 200
    for key in ("b", "root"):
        assert client.get(f"/api/v1/meetings/{org.objects[key]['meeting_id']}", headers=scoped).status_code == 404
    body = {"meeting": {"title": "接口建的会"}, "groups": [{"name": "全体", "expected": 3}]}
    made = client.post("/api/v1/meetings", json=body, headers=scoped).get_json()
    with org.world.db.read() as s:
        from ballot.storage.models import Meeting

        assert s.get(Meeting, made["id"]).unit_id == org.a
        entry = (
            s.execute(select(AuditEntry).where(AuditEntry.action == "meeting.create").order_by(AuditEntry.seq.desc()))
            .scalars()
            .first()
        )
        assert entry.unit_id == org.a and audit.verify_chain(audit.entries(s))[0]


def test_a_unit_admin_manages_only_its_own_users(app, org):
    org.staff("clerk", "clerk_a", org.a)
    b_clerk = org.staff("clerk", "clerk_b", org.b)
    staff_a = _client(app, "admin_a")
    page = staff_a.get("/admin/users").get_data(as_text=True)
    assert "clerk_a" in page and "clerk_b" not in page and "admin_root" not in page
    csrf = csrf_of(page)
    assert staff_a.post(f"/admin/users/{b_clerk}", data={"csrf_token": csrf, "action": "deactivate"}).status_code == 404
    r = staff_a.post(
        "/admin/users", data={"csrf_token": csrf, "username": "new_a", "role": "chair", "password": PASSWORD}
    )
    assert r.status_code == 303
    root_page = _client(app, "admin_root").get("/admin/users").get_data(as_text=True)
    assert all(name in root_page for name in ("clerk_a", "clerk_b", "new_a"))  # the parent manages every unit's
    with org.world.db.read() as s:
        new = s.execute(select(User).where(User.username == "new_a")).scalar_one()
        assert new.unit_id == org.a and s.get(User, b_clerk).active
    # units are managed by the root's administrator only
    assert staff_a.get("/admin/units").status_code == 403
    root = _client(app, "admin_root")
    page = root.get("/admin/units").get_data(as_text=True)
    r = root.post("/admin/units", data={"csrf_token": csrf_of(page), "name": "丙县"})
    assert r.status_code == 303
    r = root.post(f"/admin/units/{org.b}", data={"csrf_token": csrf_of(page), "name": "甲县"})
    assert r.status_code == 400 and "已存在" in r.get_data(as_text=True)


def test_named_chairs_alone_open_and_close_their_meeting(app, org, world):
    """A meeting that names its chairs: only they open and close its items (a unit chair and the
    administrator are refused); the named chair cannot conduct another meeting that names others;
    a meeting naming none keeps the unit's chairs. Naming is audited."""
    named_id = org.staff("chair", "chair_named", org.a)
    org.staff("chair", "chair_unit", org.a)
    other_id = org.staff("scrutineer", "scrut_a", org.a)  # a 监票人 by account, chair of meeting 2
    first = org.objects["a"]
    with world.db.write() as s:
        second = meetingfile.load(s, ACTOR, MEETING.format(title="第二个会"), org.a)
        second_ids = {"meeting_id": second.id, "item_id": second.items[0].id, "group_id": second.groups[0].id}
    admin = _client(app, "admin_a")
    csrf = csrf_of(admin.get("/admin/").get_data(as_text=True))
    for meeting_id, user_id in ((first["meeting_id"], named_id), (second_ids["meeting_id"], other_id)):
        r = admin.post(
            f"/admin/meetings/{meeting_id}/roles", data={"csrf_token": csrf, "user": user_id, "role": "chair"}
        )
        assert r.status_code == 303
    with world.db.read() as s:
        details = [e.detail_json for e in audit.entries(s, first["meeting_id"]) if e.action == "meeting_role.add"]
    assert details == ['{"role": "chair", "username": "chair_named"}']
    for group in (first["group_id"], second_ids["group_id"]):
        world.present(group, 5)

    def open_item(username, item_id):
        client = _client(app, username)
        token = csrf_of(client.get("/admin/").get_data(as_text=True))
        return client.post(f"/admin/items/{item_id}/open", data={"csrf_token": token}).status_code

    assert open_item("chair_unit", first["item_id"]) == 403
    assert open_item("admin_a", first["item_id"]) == 403
    assert open_item("chair_named", second_ids["item_id"]) == 403
    assert open_item("chair_named", first["item_id"]) == 303
    assert open_item("scrut_a", second_ids["item_id"]) == 303
    page = _client(app, "chair_unit").get(f"/admin/meetings/{first['meeting_id']}").get_data(as_text=True)
    assert "chair_named" in page and "结束表决" not in page  # no close button for a chair not named
    named = _client(app, "chair_named")
    assert named.get(f"/admin/items/{first['item_id']}/close").status_code == 200
    assert _client(app, "chair_unit").get(f"/admin/items/{first['item_id']}/close").status_code == 403
    # the API applies the same rule to the token's user
    chair_token = org.token("chair_unit")
    assert app.test_client().post(f"/api/v1/items/{first['item_id']}/close", headers=chair_token).status_code == 403
    # removing the naming gives the meeting back to the unit's chairs
    r = admin.post(
        f"/admin/meetings/{first['meeting_id']}/roles",
        data={"csrf_token": csrf, "user": named_id, "role": "chair", "action": "remove"},
    )
    assert r.status_code == 303
    assert app.test_client().post(f"/api/v1/items/{first['item_id']}/close", headers=chair_token).status_code == 200


def test_one_unit_looks_as_before(app, world):
    """The laptop: one unit, no unit chooser or column anywhere, and the unit's name appears only
    in the signed data."""
    world.staff("admin")
    m = world.standard()
    client = app.test_client()
    login(client, "admin1")
    for url in ("/admin/", "/admin/users", "/admin/tokens", f"/admin/meetings/{m.id}"):
        page = client.get(url).get_data(as_text=True)
        assert 'name="unit"' not in page and "<th>单位</th>" not in page and "meeting-unit" not in page, url
        assert "本单位" not in page, url
    assert 'href="/admin/units"' not in client.get("/admin/").get_data(as_text=True)
    with world.db.read() as s:
        assert [u.name for u in units.all_units(s)] == ["本单位"]
        assert {e.unit_id for e in audit.entries(s)} == {units.root(s).id}


def test_cli_units_and_users(settings, database, monkeypatch):
    monkeypatch.setenv("BALLOT_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BALLOT_SECRET_KEY", settings.master_secret.hex())
    run = CliRunner().invoke
    args = ["--instance", str(settings.instance_path)]
    assert "unit" in run(main, ["--help"]).output
    r = run(main, ["unit", "add", *args, "甲县委组织部"])
    assert r.exit_code == 0 and "已新建单位" in r.output
    assert run(main, ["unit", "add", *args, "甲县委组织部"]).exit_code != 0
    r = run(main, ["unit", "list", *args])
    assert re.search(r"\t甲县委组织部\t下级单位", r.output) and "本单位\t上级单位" in r.output
    r = run(main, ["user", "add", *args, "--username", "clerk_j", "--role", "clerk", "--unit", "甲县委组织部"])
    assert r.exit_code == 0 and "（甲县委组织部）" in r.output, r.output
    assert run(main, ["user", "add", *args, "--username", "x", "--role", "clerk", "--unit", "无此单位"]).exit_code != 0
    with database.read() as s:
        user = s.execute(select(User).where(User.username == "clerk_j")).scalar_one()
        assert units.unit_name(s, user.unit_id) == "甲县委组织部"


def test_the_signed_archive_and_audit_log_name_the_unit(world):
    """tally.json (and so the signed report) names the meeting's unit; each audit entry records
    its unit, inside its hash: an entry moved to another unit breaks the exported chain."""
    import json

    from ballot.archive import build as archive
    from ballot.archive import signing
    from ballot.archive import verify as verifier
    from ballot.documents import report

    with world.db.write() as s:
        unit = units.create_unit(s, ACTOR, "乙县委组织部")
        m = meetingfile.load(s, ACTOR, MEETING.format(title="乙县的会"), unit.id)
        meeting_id, group_id, item_id, unit_id = m.id, m.groups[0].id, m.items[0].id, unit.id
    world.codes(group_id, 2)
    world.present(group_id, 5)
    world.open(item_id)
    world.close(item_id)
    signing.ensure_key(world.settings.instance_path)
    with world.db.read() as s:
        from ballot.storage.models import Meeting

        files = archive.build(s, s.get(Meeting, meeting_id), signing.load_key(world.settings.instance_path))
    tally = json.loads(files["tally.json"])
    assert tally["meeting"]["unit"] == "乙县委组织部"
    assert "<th>单位</th><td>乙县委组织部</td>" in report.html(tally, files["tally.json"])
    key = signing.load_key(world.settings.instance_path).public
    assert all(c.ok for c in verifier.verify(files, [key]))
    checks = verifier.verify_report(files["tally.json"], files["tally.json.minisig"], [key])
    assert all(c.ok for c in checks) and any("乙县委组织部 · 乙县的会" in c.line for c in checks)
    lines = [json.loads(line) for line in files["audit.log"].decode().splitlines()]
    assert {line["unit_id"] for line in lines} == {unit_id}
    ok, _ = chain.verify_export(lines, tally["audit_head"], tally["audit_entries"])
    assert ok
    lines[0]["unit_id"] = unit_id + 1
    ok, message = chain.verify_export(lines, tally["audit_head"], tally["audit_entries"])
    assert not ok and "被改动" in message


def test_migration_moves_existing_data_into_one_unit(db_url):
    """An instance from before units: its accounts, meetings and tokens land in the one default
    unit, and its audit log (entries without a unit) still verifies, new entries chained on."""
    import datetime

    from sqlalchemy import create_engine, text

    from ballot.storage.db import Database
    from ballot.storage.migrate import downgrade, upgrade

    downgrade(db_url, "0012")
    engine = create_engine(db_url)
    now = datetime.datetime(2026, 12, 1, 8, 0, 0)
    digest = audit._entry_hash(audit.GENESIS, 1, now.isoformat(), "cli", "admin", "user.create", None, "{}")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (username, display_name, password_hash, role, active, created_at, session_generation)"
                " VALUES ('old', '', 'x', 'admin', :t, :now, 0)"
            ),
            {"now": now, "t": True},
        )
        conn.execute(
            text(
                "INSERT INTO meetings (title, date, location, single_given_first, screen_reveal, state_version, created_at)"
                " VALUES ('旧会议', '', '', :t, :f, 0, :now)"
            ),
            {"now": now, "t": True, "f": False},
        )
        conn.execute(
            text(
                "INSERT INTO api_tokens (name, token_hash, user_id, created_at, revoked)"
                " VALUES ('t', 'h', (SELECT id FROM users), :now, :f)"
            ),
            {"now": now, "f": False},
        )
        conn.execute(
            text(
                "INSERT INTO audit_log (seq, at, actor, role, action, meeting_id, detail_json, prev_hash, hash)"
                " VALUES (1, :now, 'cli', 'admin', 'user.create', NULL, '{}', :g, :h)"
            ),
            {"now": now, "g": audit.GENESIS, "h": digest},
        )
    engine.dispose()
    upgrade(db_url)
    database = Database(db_url)
    try:
        with database.write() as s:
            own = units.root(s)
            assert [u.name for u in units.all_units(s)] == ["本单位"]
            from ballot.storage.models import ApiToken, Meeting

            assert {m.unit_id for m in s.query(Meeting)} == {own.id}
            assert {u.unit_id for u in s.query(User)} == {own.id}
            assert {t.unit_id for t in s.query(ApiToken)} == {own.id}
            audit.record(s, audit.Actor("cli", "admin"), "unit.rename", None, in_unit=own.id)
        with database.read() as s:
            entries = audit.entries(s)
            assert [e.unit_id for e in entries] == [None, own.id]
            assert audit.verify_chain(entries)[0]
    finally:
        database.dispose()


def test_a_named_scrutineer_corrects_paper_issued_after_close(world):
    """发出 after close is corrected by the meeting's 监票人: one named there counts, whatever the
    account's role; an account role the meeting took away does not."""
    from ballot.counting.errors import OperationError
    from ballot.paper.paperentry import set_paper_issued

    m = world.standard(nominees=("张三",))
    group_id, item = m.groups[0].id, m.items[0]
    world.present(group_id, 11)
    world.open(item.id)
    world.close(item.id)
    clerk = audit.Actor("clerk_named", "clerk")
    with world.db.write() as s:
        set_paper_issued(s, clerk, item.id, group_id, "3", frozenset({"settle_paper"}))
    with pytest.raises(OperationError), world.db.write() as s:
        set_paper_issued(s, audit.Actor("scrut", "scrutineer"), item.id, group_id, "4", frozenset({"observe"}))
    with world.db.read() as s:
        assert [e.action for e in audit.entries(s, m.id)][-1] == "paper.issued_corrected"
