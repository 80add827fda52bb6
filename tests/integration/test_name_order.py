"""The meeting's same-surname rule: chosen in the meeting file or the form, printed with every
list, changeable while items are drafts, never re-ordering what voters already see."""

import json

from conftest import ACTOR, login
from test_web_admin import post

from ballot.counting.errors import OperationError
from ballot.meetings import setup
from ballot.storage import audit
from ballot.storage.models import Item, Meeting

TOML = """
[meeting]
title = "同姓排列"
{extra}
[[groups]]
name = "委员"
expected = 5
[[items]]
title = "第一项"
nominees = ["陈清州", "陈春", "陈学敏"]
[[items]]
title = "第二项（按职务）"
order = "entered"
nominees = ["陈清州", "陈春", "陈学敏"]
"""


def names(world, item_id):
    with world.db.read() as s:
        return [n["name"] for n in json.loads(s.get(Item, item_id).config_json)["nominees"]]


def test_meeting_file_chooses_the_rule_and_items_follow_it(world):
    m = world.meeting(TOML.format(extra='same_surname = "逐字比较"'))
    assert m.single_given_first is False
    assert names(world, m.items[0].id) == ["陈学敏", "陈春", "陈清州"]
    assert names(world, m.items[1].id) == ["陈清州", "陈春", "陈学敏"]  # entered order kept
    default = world.meeting(TOML.format(extra=""))
    assert default.single_given_first is True
    assert names(world, default.items[0].id) == ["陈春", "陈学敏", "陈清州"]


def test_an_unknown_rule_is_refused_in_chinese(world):
    import pytest

    with pytest.raises(OperationError, match="同姓排列规则只能是“单名优先”或“逐字比较”"):
        world.meeting(TOML.format(extra='same_surname = "拼音"'))


def test_changing_the_rule_reorders_drafts_but_not_frozen_items(world):
    m = world.meeting(TOML.format(extra='same_surname = "逐字比较"'))
    first = m.items[0].id
    world.codes(m.groups[0].id, 2)  # freezes both items of the group
    with world.db.write() as s:
        item = setup.add_item(
            s,
            ACTOR,
            s.get(Meeting, m.id),
            "第三项",
            "approval",
            {"nominees": ["陈清州", "陈春"]},
            [m.groups[0].id],
        )
        third = item.id
    assert names(world, third) == ["陈春", "陈清州"]  # 逐字比较: 春 9 < 清 11 as well
    with world.db.write() as s:
        kept = setup.set_same_surname(s, ACTOR, s.get(Meeting, m.id), "单名优先")
    assert kept == ["第一项", "第二项（按职务）"]
    assert names(world, first) == ["陈学敏", "陈春", "陈清州"]  # frozen: voters' order unchanged
    with world.db.read() as s:
        assert json.loads(s.get(Item, third).config_json)["order"]["text"] == "按姓氏笔画排序（单名优先）"
        entry = audit.entries(s, m.id)[-1]
        assert entry.action == "meeting.name_order"


def test_clerk_changes_the_rule_on_the_meeting_page(client, world):
    world.staff("clerk")
    login(client, "clerk1")
    m = world.meeting(TOML.format(extra=""))
    page = f"/admin/meetings/{m.id}"
    html = client.get(page).get_data(as_text=True)
    assert "人选名单按姓氏笔画排序（单名优先）" in html
    r = post(client, f"/admin/meetings/{m.id}/name-order", {"same_surname": "逐字比较"}, page_url=page)
    assert r.status_code == 303
    assert "人选现按姓氏笔画排序（逐字比较）" in client.get(page).get_data(as_text=True)
    assert names(world, m.items[0].id) == ["陈学敏", "陈春", "陈清州"]
    bad = post(client, f"/admin/meetings/{m.id}/name-order", {"same_surname": "随便"}, page_url=page)
    assert bad.status_code == 400 and "同姓排列规则只能是" in bad.get_data(as_text=True)
    assert names(world, m.items[0].id) == ["陈学敏", "陈春", "陈清州"]  # nothing changed


def test_new_meeting_form_and_item_form_carry_the_rule(client, world):
    world.staff("clerk")
    login(client, "clerk1")
    r = post(client, "/admin/meetings", {"title": "表单会议", "same_surname": "逐字比较"}, page_url="/admin/")
    assert r.status_code == 303
    meeting_id = int(r.headers["Location"].rstrip("/").split("/")[-1])
    with world.db.read() as s:
        assert s.get(Meeting, meeting_id).single_given_first is False
    form = client.get(f"/admin/meetings/{meeting_id}/items/new").get_data(as_text=True)
    assert "按姓氏笔画排序（逐字比较）（选票、结果都按此顺序）" in form and "按提名顺序排列" in form


def test_api_reports_the_rule(world):
    m = world.meeting(TOML.format(extra='same_surname = "逐字比较"'))
    from ballot.web.api.api import meeting_json

    with world.db.read() as s:
        assert meeting_json(s.get(Meeting, m.id))["same_surname"] == "逐字比较"
