"""The 监票人's part of double entry: a typed reading is a sheet line (never a button), entries of
different lengths are sent back rather than settled row by row, the settler must not have entered
the batch, no reading survives counting (audit log, batch record, stored entries), numbers from
forms never overflow, and 发出 after close is corrected only by a 监票人, on the record."""

from __future__ import annotations

import json
import re

import pytest
from conftest import ACTOR, csrf_of, login
from sqlalchemy import select
from test_paper import SCRUTINEER, TELLER_1, TELLER_2, enter_paper, result, setup_item

from ballot.counting.errors import OperationError
from ballot.meetings.sittings import close_item, open_item
from ballot.paper import paper, paperentry
from ballot.storage import audit
from ballot.storage.models import Ballot, Item, ItemGroup, PaperBatch, PaperEntry

ONE = """
[[items]]
title = "干部任免票决"
nominees = ["张三"]
"""
TWO = """
[[items]]
title = "干部任免票决"
nominees = ["张三", "李四"]
"""
THREE = """
[[items]]
title = "干部任免票决"
nominees = ["张三", "李四", "王五"]
"""
HEX64 = re.compile(r"^[0-9a-f]{64}$")


def batch_of(world, batch_id: int) -> PaperBatch:
    with world.db.read() as s:
        return s.get(PaperBatch, batch_id)


def entries_of(world, batch_id: int) -> list[PaperEntry]:
    with world.db.read() as s:
        return list(s.execute(select(PaperEntry).where(PaperEntry.batch_id == batch_id)).scalars())


def paper_yes_no(world, item_id: int) -> list[tuple[bool, str]]:
    with world.db.read() as s:
        rows = s.execute(select(Ballot).where(Ballot.item_id == item_id, Ballot.channel == "paper")).scalars()
        return sorted((b.valid, b.choices_json) for b in rows)


def actions(world, name: str) -> list[dict]:
    with world.db.read() as s:
        return [json.loads(e.detail_json) for e in audit.entries(s, None) if e.action == name]


def staff_client(app, world, role: str, username: str):
    world.staff(role, username)
    client = app.test_client()
    login(client, username)
    return client


def test_typed_reading_is_parsed_as_a_sheet_line_never_as_a_button(app, world):
    # one nominee: entry 1 read the disputed sheet as "2" (不同意), entry 2 as "1" (同意)
    gid, item_id = setup_item(app, world, ONE, 3, 3, [])
    batch_id = enter_paper(world, item_id, gid, 3, ["1", "2", "1"], second=["1", "1", "1"])
    scrutineer = staff_client(app, world, "scrutineer", "scrutineer1")
    page = scrutineer.get(f"/admin/paper-batches/{batch_id}/settle").get_data(as_text=True)
    assert 'name="d1" value="typed"' in page and 'name="t1"' in page
    # the typed "drop" is not a choice either: it is a line that cannot be a sheet
    bad = scrutineer.post(
        f"/admin/paper-batches/{batch_id}/settle", data={"csrf_token": csrf_of(page), "d1": "typed", "t1": "drop"}
    )
    assert bad.status_code == 400 and "第 2 张（按纸票录入）" in bad.get_data(as_text=True)
    assert batch_of(world, batch_id).status == "mismatch" and paper_yes_no(world, item_id) == []
    empty = scrutineer.post(
        f"/admin/paper-batches/{batch_id}/settle", data={"csrf_token": csrf_of(page), "d1": "typed", "t1": " "}
    )
    assert empty.status_code == 400 and "没有输入内容" in empty.get_data(as_text=True)
    # the 监票人 reads the paper: 同意, and types the key "1"
    done = scrutineer.post(
        f"/admin/paper-batches/{batch_id}/settle", data={"csrf_token": csrf_of(page), "d1": "typed", "t1": "1"}
    )
    assert done.status_code == 303
    assert batch_of(world, batch_id).status == "counted"
    world.close(item_id)
    with world.db.write() as s:
        paperentry.finish(s, SCRUTINEER, item_id)
    row = result(world, item_id)["rows"][0]
    assert (row["yes"], row["no"]) == (3, 0)  # typed "1" is 同意, not "entry 1" (which said 不同意)
    assert actions(world, "paper.settle")[0]["sheets"] == [{"sheet": 2, "choice": "typed"}]


def test_typed_text_beside_a_chosen_entry_is_ignored_and_the_domain_keeps_them_apart(app, world):
    gid, item_id = setup_item(app, world, ONE, 3, 3, [])
    batch_id = enter_paper(world, item_id, gid, 3, ["1", "2", "1"], second=["1", "1", "1"])
    with world.db.write() as s, pytest.raises(OperationError, match="第 2 张：请选择"):
        paperentry.settle(s, SCRUTINEER, batch_id, {1: "x"})
    with world.db.write() as s, pytest.raises(OperationError, match="第 2 张：请选择"):
        paperentry.settle(s, SCRUTINEER, batch_id, {1: "同意"})  # a reading is not a choice
    assert batch_of(world, batch_id).status == "mismatch"
    with world.db.write() as s:  # the choice is entry 2 ("1"); the box holds "2", which is not used
        paperentry.settle(s, SCRUTINEER, batch_id, {1: "2"}, {1: "2"})
    ballots = paper_yes_no(world, item_id)
    assert len(ballots) == 3 and len(set(ballots)) == 1  # three alike: 同意, as on sheets 1 and 3


def test_the_audit_log_and_the_stored_entries_keep_no_reading(app, world, monkeypatch):
    gid, item_id = setup_item(app, world, TWO, 4, 4, [])
    first, second = ["11", "12", "21", "00"], ["11", "22", "21", "x1"]
    batch_id = enter_paper(world, item_id, gid, 4, first, second=second)
    with world.db.read() as s:  # before counting, the settle page has what it needs
        diffs = paperentry.differences(s, s.get(PaperBatch, batch_id))
    assert [(d.index, d.first, d.second) for d in diffs] == [(1, "12", "22"), (3, "00", "x1")]
    with world.db.write() as s:
        paperentry.settle(s, SCRUTINEER, batch_id, {1: "1", 3: "typed"}, {3: "0 0"})
    (detail,) = actions(world, "paper.settle")
    assert set(detail) == {"item", "batch", "sheets", "counted", "entry1_sha256", "entry2_sha256"}
    assert detail["sheets"] == [{"sheet": 2, "choice": "1"}, {"sheet": 4, "choice": "typed"}]
    assert detail["counted"] == 4
    assert HEX64.match(detail["entry1_sha256"]) and HEX64.match(detail["entry2_sha256"])
    assert detail["entry1_sha256"] != detail["entry2_sha256"]
    settled = json.loads(batch_of(world, batch_id).settled_json)
    assert settled == {"sheets": detail["sheets"], "entries": [detail["entry1_sha256"], detail["entry2_sha256"]]}
    stored = sorted((e.entry_no, json.loads(e.lines_json)) for e in entries_of(world, batch_id))
    assert stored == [
        (1, {"sha256": detail["entry1_sha256"], "sheets": 4}),
        (2, {"sha256": detail["entry2_sha256"], "sheets": 4}),
    ]
    # nothing else in the log carries a line either
    with world.db.read() as s:
        paper_records = [e for e in audit.entries(s, None) if e.action.startswith("paper.")]
    for e in paper_records:
        assert not re.search(r'"(11|12|21|22|00|x1)"', e.detail_json), e.detail_json
    # an agreed batch keeps only digests too, and they are equal
    agreed = enter_paper(world, item_id, gid, 8, ["12", "21"])
    digests = [json.loads(e.lines_json) for e in entries_of(world, agreed)]
    assert digests[0] == digests[1] and set(digests[0]) == {"sha256", "sheets"} and digests[0]["sheets"] == 2


def test_ballots_of_a_batch_are_stored_in_shuffled_order(app, world, monkeypatch):
    # ids in insertion order, so the table order is the order the sheets were added
    counter = iter(range(10**6))
    monkeypatch.setattr(paperentry, "new_id", lambda: f"{next(counter):032d}")
    gid, item_id = setup_item(app, world, THREE, 12, 12, [])
    stack = ["111", "112", "121", "122", "211", "212", "221", "222", "000", "100", "010", "001"]
    second = [*stack[:5], "000", *stack[6:]]  # one difference, settled: the settled path shuffles too
    batch_id = enter_paper(world, item_id, gid, 12, stack, second=second)
    with world.db.write() as s:
        paperentry.settle(s, SCRUTINEER, batch_id, {5: "1"})
    with world.db.read() as s:
        stored = [json.loads(b.choices_json) for b in s.execute(select(Ballot).order_by(Ballot.id)).scalars()]
    with world.db.read() as s:
        config = s.get(Item, item_id).config
    by_choices = {json.dumps(paper.parse("approval", config, line).choices, sort_keys=True): line for line in stack}
    assert len(by_choices) == 12
    as_lines = [by_choices[json.dumps(c, sort_keys=True)] for c in stored]
    assert sorted(as_lines) == sorted(stack)
    assert as_lines != stack  # 1 in 12! of failing by chance


def test_entries_of_different_lengths_are_sent_back_not_settled_row_by_row(app, world):
    gid, item_id = setup_item(app, world, TWO, 4, 4, [])
    # teller 2 skipped the second sheet: every later sheet would look like a difference
    batch_id = enter_paper(world, item_id, gid, 4, ["11", "12", "21", "00"], second=["11", "21", "00"])
    with world.db.read() as s:
        assert paperentry.differences(s, s.get(PaperBatch, batch_id)) == []
    with world.db.write() as s, pytest.raises(OperationError, match="第一次 4 张，第二次 3 张.*退回重新录入"):
        paperentry.settle(s, SCRUTINEER, batch_id, {1: "1", 2: "1", 3: "drop"})
    assert batch_of(world, batch_id).status == "mismatch" and paper_yes_no(world, item_id) == []

    scrutineer = staff_client(app, world, "scrutineer", "scrutineer1")
    listing = scrutineer.get(f"/admin/items/{item_id}/paper").get_data(as_text=True)
    assert "两次录入张数不同（第一次 4 张，第二次 3 张）" in listing
    page = scrutineer.get(f"/admin/paper-batches/{batch_id}/settle").get_data(as_text=True)
    assert "第一次 4 张，第二次 3 张" in page and "退回重新录入" in page
    assert 'type="radio"' not in page and "核定并计入" not in page  # nothing to settle row by row
    posted = scrutineer.post(
        f"/admin/paper-batches/{batch_id}/settle", data={"csrf_token": csrf_of(page), "d1": "1", "d2": "1", "d3": "1"}
    )
    assert posted.status_code == 400 and "退回重新录入" in posted.get_data(as_text=True)
    back = scrutineer.post(f"/admin/paper-batches/{batch_id}/send-back", data={"csrf_token": csrf_of(page)})
    assert back.status_code == 303
    assert batch_of(world, batch_id).status == "entering" and entries_of(world, batch_id) == []
    (detail,) = actions(world, "paper.sent_back")
    assert detail == {"item": item_id, "batch": 1, "entry1_sheets": 4, "entry2_sheets": 3}
    # two tellers enter the stack again (the same ones may), and it is counted once
    with world.db.write() as s:
        paperentry.submit_entry(s, TELLER_2, batch_id, "11\n12\n21\n00")
    with world.db.write() as s:
        paperentry.submit_entry(s, TELLER_1, batch_id, "11\n12\n21\n00")
    assert batch_of(world, batch_id).status == "counted" and len(paper_yes_no(world, item_id)) == 4
    with world.db.write() as s, pytest.raises(OperationError, match="没有待核对的差异"):
        paperentry.send_back(s, SCRUTINEER, batch_id)


def test_a_scrutineer_who_entered_the_batch_cannot_settle_it(app, world):
    gid, item_id = setup_item(app, world, TWO, 3, 3, [])
    admin = audit.Actor("admin1", "admin")  # may enter and settle
    with world.db.write() as s:
        paperentry.set_paper_issued(s, ACTOR, item_id, gid, 3)
        batch_id = paperentry.new_batch(s, ACTOR, item_id, gid).id
    with world.db.write() as s:
        paperentry.submit_entry(s, admin, batch_id, "11\n12\n21")
    with world.db.write() as s:
        paperentry.submit_entry(s, TELLER_2, batch_id, "11\n22\n21")
    with world.db.write() as s, pytest.raises(OperationError, match="您录入过这一叠票，不能由您核对"):
        paperentry.settle(s, admin, batch_id, {1: "1"})
    with world.db.write() as s, pytest.raises(OperationError, match="您录入过这一叠票，不能由您核对"):
        paperentry.send_back(s, admin, batch_id)
    assert batch_of(world, batch_id).status == "mismatch" and len(entries_of(world, batch_id)) == 2
    # on the web too: the admin who typed it is told so and given no form
    client = staff_client(app, world, "admin", "admin1")
    page = client.get(f"/admin/paper-batches/{batch_id}/settle").get_data(as_text=True)
    assert "您录入过这一叠票" in page and "核定并计入" not in page
    refused = client.post(f"/admin/paper-batches/{batch_id}/settle", data={"csrf_token": csrf_of(page), "d1": "1"})
    assert refused.status_code == 400 and "不能由您核对" in refused.get_data(as_text=True)
    with world.db.write() as s:  # another 监票人 may
        paperentry.settle(s, SCRUTINEER, batch_id, {1: "1"})
    assert batch_of(world, batch_id).status == "counted"


@pytest.mark.parametrize("bad", [str(10**30), "-1", "0", "abc", "2147483648", "１"])
def test_ids_and_numbers_from_forms_never_overflow(app, world, bad):
    gid, item_id = setup_item(app, world, TWO, 3, 3, [])
    client = staff_client(app, world, "admin", "admin1")
    page = client.get(f"/admin/items/{item_id}/paper").get_data(as_text=True)
    token = csrf_of(page)
    issued = client.post(f"/admin/items/{item_id}/paper/issued", data={"csrf_token": token, "group": bad, "issued": 3})
    assert issued.status_code == 400 and "请选择参加本议题的表决组" in issued.get_data(as_text=True)
    made = client.post(f"/admin/items/{item_id}/paper/batches", data={"csrf_token": token, "group": bad})
    assert made.status_code == 400 and "请选择参加本议题的表决组" in made.get_data(as_text=True)
    forms = client.get(f"/admin/items/{item_id}/paper/forms.pdf?group={bad}&copies=1")
    assert forms.status_code == 400 and "请选择参加本议题的表决组" in forms.get_data(as_text=True)
    copies = client.get(f"/admin/items/{item_id}/paper/forms.pdf?group={gid}&copies={bad}")
    assert copies.status_code == 400 and "份数须为" in copies.get_data(as_text=True)
    count = client.post(f"/admin/items/{item_id}/paper/issued", data={"csrf_token": token, "group": gid, "issued": bad})
    if bad == "0":  # 0 sheets handed out is a number
        assert count.status_code == 303
    else:
        assert count.status_code == 400 and "纸质票发出数须" in count.get_data(as_text=True)
    for path in ("", "/settle", "/delete", "/send-back"):
        assert client.get(f"/admin/paper-batches/{bad}{path}").status_code in (404, 405)
        assert client.post(f"/admin/paper-batches/{bad}{path}", data={"csrf_token": token}).status_code in (400, 404)
    with world.db.read() as s:
        assert paperentry.batches(s, item_id) == []


@pytest.mark.parametrize("sheet", [str(10**30), "2147483648", "2000", "99999"])
def test_sheet_numbers_in_the_settle_form_never_overflow(app, world, sheet):
    gid, item_id = setup_item(app, world, TWO, 3, 3, [])
    batch_id = enter_paper(world, item_id, gid, 3, ["11", "12", "21"], second=["11", "22", "21"])
    client = staff_client(app, world, "scrutineer", "scrutineer1")
    token = csrf_of(client.get(f"/admin/paper-batches/{batch_id}/settle").get_data(as_text=True))
    for field in ("d", "t"):
        posted = client.post(
            f"/admin/paper-batches/{batch_id}/settle", data={"csrf_token": token, "d1": "1", f"{field}{sheet}": "1"}
        )
        assert posted.status_code == 400 and "张号无效" in posted.get_data(as_text=True)
    agreeing = client.post(f"/admin/paper-batches/{batch_id}/settle", data={"csrf_token": token, "d1": "1", "d0": "1"})
    assert agreeing.status_code == 400 and "第 1 张两次录入一致，无需核定" in agreeing.get_data(as_text=True)
    assert batch_of(world, batch_id).status == "mismatch" and paper_yes_no(world, item_id) == []


def test_paper_issued_after_close_only_by_a_scrutineer_and_recorded(app, world):
    gid, item_id = setup_item(app, world, ONE, 5, 5, [])
    clerk = audit.Actor("clerk1", "clerk")
    with world.db.write() as s:
        paperentry.set_paper_issued(s, clerk, item_id, gid, 3)
    with world.db.write() as s, pytest.raises(OperationError, match="由会务人员登记"):
        paperentry.set_paper_issued(s, SCRUTINEER, item_id, gid, 4)  # before close: the clerk's job
    enter_paper(world, item_id, gid, 3, ["1", "1", "2", "1"])  # 4 back, 3 handed out
    world.close(item_id)
    with world.db.write() as s, pytest.raises(OperationError, match="只能由监票人更正"):
        paperentry.set_paper_issued(s, clerk, item_id, gid, 4)  # quietly covering the overrun
    with world.db.read() as s:
        assert s.get(ItemGroup, (item_id, gid)).paper_issued == 3

    clerk_web = staff_client(app, world, "clerk", "clerk1")
    page = clerk_web.get(f"/admin/items/{item_id}/paper").get_data(as_text=True)
    assert "发出数只能由监票人更正" in page
    refused = clerk_web.post(
        f"/admin/items/{item_id}/paper/issued", data={"csrf_token": csrf_of(page), "group": gid, "issued": 4}
    )
    assert refused.status_code == 400 and "只能由监票人更正" in refused.get_data(as_text=True)

    scrutineer = staff_client(app, world, "scrutineer", "scrutineer1")
    page = scrutineer.get(f"/admin/items/{item_id}/paper").get_data(as_text=True)
    assert "更正（记入操作记录）" in page
    fixed = scrutineer.post(
        f"/admin/items/{item_id}/paper/issued", data={"csrf_token": csrf_of(page), "group": gid, "issued": 4}
    )
    assert fixed.status_code == 303
    with world.db.read() as s:
        assert s.get(ItemGroup, (item_id, gid)).paper_issued == 4
    (detail,) = actions(world, "paper.issued_corrected")
    assert detail == {"item": item_id, "group": "委员", "old": 3, "new": 4}


def test_paper_issued_after_a_groups_sitting_closed(app, world):
    toml = """
[meeting]
title = "测评"
[[groups]]
name = "干部群众"
expected = 6
[[groups]]
name = "领导干部"
expected = 6
[[items]]
title = "民主测评"
kind = "evaluate"
min_ballots = 1
subjects = ["张三"]
weights = { "干部群众" = "0.5", "领导干部" = "0.5" }
"""
    m = world.meeting(toml)
    item_id = m.items[0].id
    first, later = m.groups[0].id, m.groups[1].id
    for gid in (first, later):
        world.present(gid, 6)
    with world.db.write() as s:
        open_item(s, ACTOR, item_id, first)
    with world.db.write() as s:
        close_item(s, ACTOR, item_id, first)  # this sitting is over; the item is still open
    with world.db.read() as s:
        assert s.get(Item, item_id).status == "open"
    clerk = audit.Actor("clerk1", "clerk")
    with world.db.write() as s, pytest.raises(OperationError, match="只能由监票人更正"):
        paperentry.set_paper_issued(s, clerk, item_id, first, 5)
    with world.db.write() as s:  # the group still to sit: the clerk registers as before
        paperentry.set_paper_issued(s, clerk, item_id, later, 5)
    with world.db.write() as s:
        paperentry.set_paper_issued(s, SCRUTINEER, item_id, first, 5)
    assert actions(world, "paper.issued_corrected") == [{"item": item_id, "group": "干部群众", "old": None, "new": 5}]


def test_no_reading_of_a_counted_stack_lingers_in_the_sqlite_file(app, world, backend, settings):
    if backend != "sqlite":
        pytest.skip("SQLite storage detail (PostgreSQL: VACUUM FULL paper_entries, same call)")
    from pathlib import Path

    from conftest import csrf_of, login
    from test_paper import enter_paper, setup_item

    toml = '[[items]]\ntitle = "票决"\nnominees = ["甲一", "乙二", "丙三", "丁四", "戊五"]\n'
    gid, item_id = setup_item(app, world, toml, 9, 9, [])
    stack = ["12312", "21321", "33211"]
    world.close(item_id)  # the storage was compacted at close; the paper is entered afterwards
    enter_paper(world, item_id, gid, 3, stack)
    world.staff("scrutineer")
    client = app.test_client()
    login(client, "scrutineer1")
    page = client.get(f"/admin/items/{item_id}/paper").get_data(as_text=True)
    done = client.post(f"/admin/items/{item_id}/paper/done", data={"csrf_token": csrf_of(page), "confirm": "1"})
    assert done.status_code == 303
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    wal = Path(str(path) + "-wal")
    raw = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert all(f'"{line}"'.encode() not in raw for line in stack)  # the entries' JSON lists are gone
