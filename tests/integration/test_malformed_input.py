"""Malformed input is a clear Chinese 400 that stores nothing (never a 500): TOML or JSON nested
30,000 deep, a 5,000-digit integer, a meeting file that is not UTF-8 — on the admin page, through
the API and on the command line. Junk sent to the API's open /ballots logs no traceback. A write
that fails logs its reason class (SQLite error name, PostgreSQL SQLSTATE) without the statement's
values, and a close whose storage compaction was postponed tells the chair and the API why."""

import io
import logging
import sqlite3

import pytest
from click.testing import CliRunner
from conftest import ACTOR, csrf_of, login
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from test_api import meeting_body, tokens  # noqa: F401  (fixture)
from voting import vote

from ballot.cli import main
from ballot.counting.errors import OperationError
from ballot.storage.models import Ballot, Item, Meeting
from ballot.voting import sealing

DEEP_TOML = b"a = " + b"[" * 30_000 + b"]" * 30_000
DEEP_JSON = "[" * 30_000 + "]" * 30_000
HUGE = "9" * 5_000
HUGE_TOML = f'[meeting]\ntitle = "会"\n[[groups]]\nname = "甲"\nexpected = {HUGE}\n'.encode()
GBK_TOML = '[meeting]\ntitle = "县委常委会"\n[[groups]]\nname = "常委"\nexpected = 3\n'.encode("gbk")


def meetings(world) -> int:
    with world.db.read() as s:
        return s.execute(select(func.count()).select_from(Meeting)).scalar_one()


def no_python_in(message: str) -> None:
    for word in ("Traceback", "Error", "Exception", "0x", "b'"):
        assert word not in message, message


@pytest.fixture
def clerk(app, world):
    world.staff("clerk")
    client = app.test_client()
    login(client, "clerk1")
    return client


@pytest.mark.parametrize(
    "content, says",
    [(GBK_TOML, "UTF-8"), (DEEP_TOML, "嵌套层数过多"), (HUGE_TOML, "过长的数字")],
    ids=["gbk", "deep", "huge-int"],
)
def test_a_malformed_meeting_file_upload_is_a_clear_400(clerk, world, content, says):
    token = csrf_of(clerk.get("/admin/").get_data(as_text=True))
    r = clerk.post(
        "/admin/meetings/load",
        data={"csrf_token": token, "file": (io.BytesIO(content), "meeting.toml")},
        content_type="multipart/form-data",
    )
    page = r.get_data(as_text=True)
    assert r.status_code == 400 and says in page
    no_python_in(page)
    assert meetings(world) == 0


def test_a_utf8_file_with_a_bom_loads(clerk, world):
    token = csrf_of(clerk.get("/admin/").get_data(as_text=True))
    content = GBK_TOML.decode("gbk").encode("utf-8-sig")
    r = clerk.post(
        "/admin/meetings/load",
        data={"csrf_token": token, "file": (io.BytesIO(content), "meeting.toml")},
        content_type="multipart/form-data",
    )
    assert r.status_code == 303 and meetings(world) == 1


def test_numbers_of_thousands_of_digits_in_admin_forms_are_refused_in_words(clerk, world):
    m = world.meeting('[meeting]\ntitle = "表单"\n[[groups]]\nname = "甲组"\nexpected = 10\n')
    url = f"/admin/meetings/{m.id}/items/new"
    for fields in (
        {"kind": "contest", "con_posts": f"副县长｜{HUGE}｜张伟、王芳", "preset": "appointment"},
        {"kind": "contest", "con_posts": "副县长｜²｜张伟、王芳", "preset": "appointment"},
        {"kind": "evaluate", "ev_subjects": "张伟", "ev_dimensions": "德", "ev_min": HUGE, "ev_quota": HUGE},
        {"kind": "score", "sc_candidates": "张伟", "sc_trim_min": HUGE},
    ):
        data = {"title": "议题", "order": "strokes", "groups": [str(m.groups[0].id)], **fields}
        r = clerk.post(url, data={**data, "csrf_token": csrf_of(clerk.get(url).get_data(as_text=True))})
        assert r.status_code == 400, (fields, r.status_code)
        no_python_in(r.get_data(as_text=True))
    with world.db.read() as s:
        assert s.execute(select(func.count()).select_from(Item)).scalar_one() == 0
    world.staff("chair")
    chair = clerk.application.test_client()
    login(chair, "chair1")
    page = chair.get(f"/admin/meetings/{m.id}/console").get_data(as_text=True)
    r = chair.post(f"/admin/meetings/{m.id}/screen", data={"item": HUGE, "csrf_token": csrf_of(page)})
    assert r.status_code < 500


@pytest.mark.parametrize(
    "payload, says",
    [
        (DEEP_JSON, "嵌套层数过多"),
        ('{"meeting": {"title": "会"}, "groups": [{"name": "甲", "expected": ' + HUGE + "}]}", "数字过长"),
        ('{"meeting": {"title": "会"}, "groups": [{"name": "甲", "expected": -' + HUGE + "}]}", "数字过长"),
        (b'{"meeting": {"title": "\xbb\xe1"}}', "UTF-8"),
        ("{", "不是有效的 JSON"),
    ],
    ids=["deep", "huge-int", "huge-negative", "gbk", "truncated"],
)
def test_malformed_json_to_the_api_is_a_clear_400(client, world, tokens, payload, says):  # noqa: F811
    headers = {**tokens["clerk"], "Content-Type": "application/json"}
    r = client.post("/api/v1/meetings", data=payload, headers=headers)
    assert r.status_code == 400, r.get_data(as_text=True)
    error = r.get_json()["error"]
    assert error["code"] == "invalid_json" and says in error["message"]
    no_python_in(error["message"])
    assert meetings(world) == 0
    item_id = client.post("/api/v1/meetings", json=meeting_body(), headers=tokens["clerk"]).get_json()["items"][0]["id"]
    r = client.post(f"/api/v1/items/{item_id}/open", data=payload, headers={**headers, **tokens["chair"]})
    assert r.status_code == 422 and says in r.get_json()["error"]["message"]  # as documented for this body
    with world.db.read() as s:
        assert s.get(Item, item_id).status == "draft"


@pytest.mark.parametrize("payload", [DEEP_JSON, "[" * 30_000, b"\xff\xfe{", '{"item_id": ' + HUGE + "}"])
def test_junk_to_the_open_ballots_endpoint_is_a_json_400_without_a_traceback(client, world, caplog, payload):
    caplog.set_level(logging.DEBUG)
    r = client.post("/api/v1/ballots", data=payload, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "invalid_json"
    assert not [rec for rec in caplog.records if rec.exc_info or "Traceback" in rec.getMessage()]
    assert len([rec for rec in caplog.records if rec.name.startswith(("ballot", "flask", "werkzeug"))]) <= 1
    with world.db.read() as s:
        assert s.execute(select(func.count()).select_from(Ballot)).scalar_one() == 0


@pytest.mark.parametrize(
    "content, says",
    [(GBK_TOML, "UTF-8"), (DEEP_TOML, "嵌套层数过多"), (HUGE_TOML, "过长的数字")],
    ids=["gbk", "deep", "huge-int"],
)
def test_the_command_line_says_what_is_wrong_with_a_meeting_file(tmp_path, monkeypatch, content, says):
    monkeypatch.delenv("BALLOT_SECRET_KEY", raising=False)
    monkeypatch.delenv("BALLOT_DATABASE_URL", raising=False)
    instance = tmp_path / "inst"
    run = CliRunner()
    assert run.invoke(main, ["init", "--instance", str(instance)]).exit_code == 0
    bad = tmp_path / "meeting.toml"
    bad.write_bytes(content)
    r = run.invoke(main, ["meeting", "load", "--instance", str(instance), str(bad)])
    assert r.exit_code == 1 and r.output.startswith("Error: ") and says in r.output  # click's usual refusal
    assert r.exception.__class__ is SystemExit and "Traceback" not in r.output
    no_python_in(r.output.removeprefix("Error: "))


# -- a failed write names its reason ------------------------------------------------------------


def failure_lines(caplog) -> list[str]:
    return [rec.getMessage() for rec in caplog.records if "database write failed" in rec.getMessage()]


def test_a_failed_write_logs_its_reason_class_but_no_values(database, backend, caplog):
    secret = "secret-parameter-4711"
    for block in (database.write, database.write_connection):
        caplog.clear()
        with pytest.raises(DBAPIError):
            with block() as conn:
                conn.execute(text("INSERT INTO no_such_table VALUES (:v)"), {"v": secret})
        (line,) = failure_lines(caplog)
        assert (
            "sqlite3.OperationalError SQLITE_ERROR" in line
            if backend == "sqlite"
            else "psycopg.errors.UndefinedTable SQLSTATE 42P01" in line
        ), line
        assert secret not in caplog.text and "no_such_table" not in caplog.text


def test_a_full_sqlite_database_is_logged_as_a_full_disk_and_the_api_answers_503(
    app, client, world, tokens, database, backend, caplog  # noqa: F811
):
    if backend != "sqlite":
        pytest.skip("PRAGMA max_page_count is SQLite's")
    with database.read() as s:
        pages = s.execute(text("PRAGMA page_count")).scalar_one()
    database.write_engine.dispose()
    event.listen(database.write_engine, "connect", lambda conn, _: conn.execute(f"PRAGMA max_page_count={pages}"))
    body = meeting_body()
    body["groups"] = [{"name": f"第{n}组" + "名" * 30, "expected": 5} for n in range(200)]
    caplog.set_level(logging.INFO)
    r = client.post("/api/v1/meetings", json=body, headers=tokens["clerk"])
    assert r.status_code == 503 and "没有保存任何内容" in r.get_json()["error"]["message"]
    assert r.get_json()["error"]["code"] == "storage_unavailable"
    (line,) = failure_lines(caplog)
    assert "disk_full: sqlite3.OperationalError SQLITE_FULL" in line
    assert "unhandled error in api.create_meeting: disk_full: sqlite3.OperationalError SQLITE_FULL" in caplog.text
    assert not [rec for rec in caplog.records if rec.exc_info]
    assert "第1组" not in caplog.text
    assert meetings(world) == 0


# -- a postponed compaction says why -----------------------------------------------------------


def _disk_full() -> sqlite3.OperationalError:
    """A real SQLITE_FULL, from a scratch database allowed two pages."""
    conn = sqlite3.connect(":memory:")
    conn.execute("PRAGMA max_page_count=2")
    try:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("INSERT INTO t VALUES (zeroblob(100000))")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        conn.close()
    raise AssertionError("no SQLITE_FULL")


def _closed_with_a_full_disk(app, world, monkeypatch):
    m, item, codes = world.ready(codes=2)
    phone = app.test_client()
    phone.get(f"/v/{codes[0]}")
    vote(phone, item.id, {"n0": "yes", "n1": "yes", "n2": "no"})
    full = _disk_full()

    def compact(_db):
        raise full

    monkeypatch.setattr(sealing, "_compact_storage", compact)
    return m, item


def test_a_postponed_compaction_tells_the_chair_why(app, world, monkeypatch, caplog, backend):
    if backend != "sqlite":
        pytest.skip("one backend suffices: the reason is reported the same way")
    m, item = _closed_with_a_full_disk(app, world, monkeypatch)
    world.staff("chair")
    chair = app.test_client()
    login(chair, "chair1")
    url = f"/admin/items/{item.id}/close"
    r = chair.post(url, data={"confirm": "1", "csrf_token": csrf_of(chair.get(url).get_data(as_text=True))})
    assert r.status_code == 303
    page = chair.get(r.headers["Location"]).get_data(as_text=True)
    assert "数据库整理未能完成：磁盘空间不足（SQLITE_FULL）" in page and "ballot db compact" in page
    assert "storage compaction postponed (disk_full: sqlite3.OperationalError SQLITE_FULL)" in caplog.text
    with world.db.read() as s:
        assert s.get(Item, item.id).status == "closed" and s.get(Item, item.id).compacted is False
    env = {"BALLOT_DATABASE_URL": world.settings.database_url, "BALLOT_SECRET_KEY": "x" * 64}
    r = CliRunner().invoke(main, ["db", "compact", "--instance", str(world.settings.instance_path)], env=env)
    assert r.exit_code == 1 and "磁盘空间不足" in r.output
    monkeypatch.undo()
    assert sealing.compact_pending(world.db)


def test_a_postponed_compaction_is_in_the_api_close_response(app, client, world, tokens, monkeypatch):  # noqa: F811
    m, item = _closed_with_a_full_disk(app, world, monkeypatch)
    r = client.post(f"/api/v1/items/{item.id}/close", headers=tokens["chair"])
    assert r.status_code == 200
    data = r.get_json()
    assert data["status"] == "closed" and "磁盘空间不足（SQLITE_FULL）" in data["compaction_postponed"]
    monkeypatch.undo()
    assert sealing.compact_pending(world.db) is True


def test_an_unreachable_postgresql_is_logged_as_an_outage_not_a_bug(caplog):
    from ballot.storage.db import Database

    unreachable = Database("postgresql+psycopg://ballot@127.0.0.1:1/ballot")  # nothing listens on port 1
    try:
        with pytest.raises(DBAPIError), unreachable.write() as s:
            s.execute(text("SELECT 1"))
    finally:
        unreachable.dispose()
    assert failure_lines(caplog) == ["database write failed (unavailable: psycopg.OperationalError)"]


def test_a_deeply_nested_write_in_merge_is_refused_in_words(clerk, world):
    m = world.standard()
    page = clerk.get(f"/admin/meetings/{m.id}").get_data(as_text=True)
    r = clerk.post(f"/admin/items/{m.items[0].id}/merges", data={"merge": "[" * 5_000, "csrf_token": csrf_of(page)})
    assert r.status_code == 400 and "合并内容无效" in r.get_data(as_text=True)


def test_a_multipart_part_without_a_name_is_a_400_on_every_voter_post(app, world):
    """werkzeug keys a nameless multipart part None; CSRF and the kinds' form readers used to fail
    on it with a 500 (found by the form fuzz of bench/abuse.py)."""
    m, item, codes = world.ready(codes=1)
    body = b'--b\r\nContent-Disposition: form-data\r\n\r\nv\r\n--b--\r\n'
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    phone = app.test_client()
    phone.get(f"/v/{codes[0]}")
    for path in ("/enter", "/leave", f"/ballot/{item.id}/review", f"/ballot/{item.id}/cast"):
        assert phone.post(path, data=body, headers=headers).status_code == 400, path
    with world.db.read() as s:
        assert s.query(Ballot).count() == 0


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
