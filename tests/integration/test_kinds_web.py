"""Each ballot kind end to end through the web, on both databases: a meeting file configures it,
phones vote through the form (no JavaScript), a bad ballot is refused in Chinese and stores
nothing, the chair closes, and the result page shows the hand-computed numbers."""

from __future__ import annotations

import re

import pytest
from conftest import login
from voting import review, stored_ballots, vote

HEADER = """
[meeting]
title = "各类表决"
[[groups]]
name = "委员"
expected = {expected}
"""


def result_text(client, item_id: int) -> str:
    """The result page's text, tags removed and spaces collapsed."""
    html = client.get(f"/admin/items/{item_id}/result").get_data(as_text=True)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def run(app, world, toml: str, expected: int, casts: list[dict], refused: dict | None = None):
    """Load, issue codes, open, vote with one phone per cast, close; return the result page text."""
    m = world.meeting(HEADER.format(expected=expected) + toml)
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, len(casts) + 1)
    world.present(gid, expected)
    world.open(item.id)
    for code, choices in zip(codes, casts, strict=False):
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item.id, choices)
    if refused is not None:
        phone = app.test_client()
        phone.get(f"/v/{codes[-1]}")
        page = review(phone, item.id, refused)
        assert page.status_code == 400
        with world.db.read() as s:
            assert len(stored_ballots(s)) == len(casts)
        refusal = page.get_data(as_text=True)
    world.close(item.id)
    world.staff("scrutineer")
    staff = app.test_client()
    login(staff, "scrutineer1")
    return result_text(staff, item.id), (refusal if refused is not None else None)


def test_recommend_end_to_end(app, world):
    toml = """
[[items]]
title = "推荐副局长人选"
kind = "recommend"
seats = 2
candidates = ["张伟", "王芳", "李强"]
ratio = "1.5"
write_ins = true
"""
    # listed in stroke order: 王芳 c0, 李强 c1, 张伟 c2
    casts = [{"c0": "1", "c2": "1"}] * 3 + [{"c1": "1", "w0": "赵敏"}] * 2 + [{}]
    text, refusal = run(app, world, toml, 8, casts, refused={"c0": "1", "c1": "1", "c2": "1"})
    assert "推荐人数不能超过 2 名" in refusal
    assert "王芳 3 50.00%" in text and "张伟 3 50.00%" in text  # 3 of 收回 6
    assert "其他（2 票）" in text and "赵敏" not in text  # written on 2 ballots, fewer than k = 5: not named
    assert "空白票 1 张" in text
    assert "⌈1.5 × 2⌉ = 3 名" in text


def test_contest_end_to_end(app, world):
    toml = """
[[items]]
title = "差额票决：副县长人选"
kind = "contest"
rule = "appointment"
[[items.posts]]
post = "副县长"
seats = 1
candidates = ["张伟", "王芳", "李强"]
"""
    casts = [{"p0": "0"}] * 6 + [{"p0": "2"}] * 3 + [{}] * 2  # 王芳 6 of 应到 11
    text, refusal = run(app, world, toml, 11, casts, refused={"p0": ["0", "1"]})
    assert "只能选 1 名" in refusal
    assert "王芳 6 54.55% 是 当选" in text and "张伟 3 27.27% 否" in text


def test_evaluate_end_to_end(app, world):
    toml = """
[[items]]
title = "科级班子及成员民主测评"
kind = "evaluate"
min_ballots = 3
subjects = [{ name = "某局领导班子", category = "team" }, "张伟"]
"""
    casts = [{"s0": "0", "s1": "0"}] * 2 + [{"s0": "1", "s1": "1"}] * 2 + [{"s0": "abstain", "s1": "3"}]
    text, refusal = run(app, world, toml, 5, casts, refused={"s0": "9"})
    assert "选票内容无效" in refusal
    # 张伟: 2 优秀, 2 称职, 1 不称职 of 5 rated: mean (200+160+0)/5 = 72
    assert "综合得分： 72.00" in text
    assert "不称职票" not in text.split("张伟")[1].split("综合得分")[0]  # 1/5 is not over a third


def test_score_end_to_end(app, world):
    toml = """
[[items]]
title = "竞职演讲评分"
kind = "score"
candidates = ["张伟", "王芳"]
"""
    scores = [("90", "80"), ("95", "85"), ("85", "80"), ("100", "70"), ("70", "90")]
    casts = [{"s0_0": a, "s1_0": b} for a, b in scores]
    text, refusal = run(app, world, toml, 5, casts, refused={"s0_0": "101", "s1_0": "80"})
    assert "须在 0 到 100 之间" in refusal
    # 张伟: drop 100 and 70 → (90+95+85)/3 = 90; 王芳: drop 90 and 70 → (80+85+80)/3 = 81.67
    assert "1 张伟 90.00" in text and "2 王芳 81.67" in text


@pytest.mark.parametrize("kind", ["recommend", "contest", "evaluate", "score"])
def test_api_lists_every_kind(kind):
    from ballot.web.api.openapi import spec

    assert (
        kind
        in spec()["components"]["schemas"]["MeetingInput"]["properties"]["items"]["items"]["properties"]["kind"]["enum"]
    )


@pytest.mark.parametrize("name", ["three-way-evaluation.toml", "standing-committee-contest.toml"])
def test_example_meeting_files_load(world, name):
    from conftest import ROOT

    m = world.meeting((ROOT / "examples" / name).read_text(encoding="utf-8"))
    assert m.items and m.groups


def test_evaluation_groups_vote_at_separate_sittings(app, world):
    from conftest import ACTOR

    from ballot.meetings import sittings

    m = world.meeting(
        """
[meeting]
title = "三元测评"
[[groups]]
name = "干部群众"
expected = 6
[[groups]]
name = "分管领导"
expected = 2
[[items]]
title = "班子成员测评"
kind = "evaluate"
weights = { "干部群众" = "0.6", "分管领导" = "0.4" }
open_groups = ["分管领导"]
subjects = ["张伟"]
"""
    )
    staff_group, leaders = m.groups[0].id, m.groups[1].id
    item = m.items[0]
    staff_codes, leader_codes = world.codes(staff_group, 5), world.codes(leaders, 2)
    with world.db.write() as s:
        sittings.open_item(s, ACTOR, item.id, staff_group)  # the 单位 meeting sits first
    leader = app.test_client()
    leader.get(f"/v/{leader_codes[0]}")
    assert "不在表决中" in leader.get(f"/ballot/{item.id}").get_data(as_text=True)
    for code in staff_codes:
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item.id, {"s0": "0"})  # 优秀 = 100
    with world.db.write() as s:
        sittings.close_item(s, ACTOR, item.id, staff_group)
    world.staff("scrutineer")
    staff = app.test_client()
    login(staff, "scrutineer1")
    page = result_text(staff, item.id)
    assert "干部群众 5 100.00%" in page and "表决进行中" in page and "待所有测评组结束后计算" in page
    with world.db.write() as s:
        sittings.open_item(s, ACTOR, item.id, leaders)
    for code in leader_codes:
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item.id, {"s0": "1"})  # 称职 = 80
    with world.db.write() as s:
        assert sittings.close_item(s, ACTOR, item.id, leaders).status == "closed"  # last group: sealed
    page = result_text(staff, item.id)
    assert "综合得分： 92.00" in page  # 0.6 × 100 + 0.4 × 80


def test_committee_kinds_refuse_separate_sittings(world):
    from conftest import ACTOR

    from ballot.counting.errors import OperationError
    from ballot.meetings import sittings

    m = world.standard()
    with world.db.write() as s, pytest.raises(OperationError, match="须同时开始、同时结束"):
        sittings.open_item(s, ACTOR, m.items[0].id, m.groups[0].id)


def test_contest_next_round_in_one_step_with_the_chairs_edit_recorded(app, world):
    from conftest import csrf_of

    from ballot.storage import audit
    from ballot.storage.models import Item

    toml = """
[[items]]
title = "差额票决"
kind = "contest"
[[items.posts]]
post = "副县长"
seats = 1
candidates = ["张伟", "王芳", "李强"]
"""
    casts = [{"p0": "0"}] * 5 + [{"p0": "2"}] * 5 + [{"p0": "1"}]  # 王芳 5, 张伟 5, 李强 1 of 11: no majority
    text, _ = run(app, world, toml, 11, casts)
    assert "1 个名额本轮空缺" in text and "⌈1.5 × 1⌉ = 2 名" in text
    with world.db.read() as s:
        first = s.query(Item).one()
    world.staff("chair")
    chair = app.test_client()
    login(chair, "chair1")
    page = chair.get(f"/admin/items/{first.id}/result").get_data(as_text=True)
    assert 'id="next-round"' in page and "王芳\n张伟" in page
    r = chair.post(
        f"/admin/items/{first.id}/next-round",
        data={"csrf_token": csrf_of(page), "post:副县长": "张伟\n王芳\n李强"},  # the chair keeps all three
    )
    assert r.status_code == 303
    with world.db.read() as s:
        second = s.query(Item).filter(Item.id != first.id).one()
        config = __import__("json").loads(second.config_json)
        assert second.title == "差额票决（第 2 轮）" and config["round"] == 2 and config["previous_item"] == first.id
        assert config["posts"][0]["candidates"] == ["王芳", "李强", "张伟"]  # stroke order again
        entry = audit.entries(s, first.meeting_id)[-1]
        assert entry.action == "item.next_round"
        detail = __import__("json").loads(entry.detail_json)
        assert detail["edited"] is True and detail["proposed"] == {"副县长": ["王芳", "张伟"]}
    again = chair.post(f"/admin/items/{first.id}/next-round", data={"csrf_token": csrf_of(page)})
    assert again.status_code == 400 and "下一轮已经创建" in again.get_data(as_text=True)


def test_recommend_merges_are_confirmed_by_the_clerk(app, world):
    import json

    from conftest import csrf_of

    from ballot.storage.models import Item

    toml = """
[[items]]
title = "非定位推荐"
kind = "recommend"
seats = 1
"""
    casts = [{"w0": "阿依古丽·买买提"}] * 5 + [{"w0": "阿依古丽买买提"}]
    text, _ = run(app, world, toml, 6, casts)
    assert "可能是同一人" not in text and "阿依古丽买买提" not in text  # a scrutineer sees no spelling on 1 ballot
    with world.db.read() as s:
        item = s.query(Item).one()
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    page = clerk.get(f"/admin/items/{item.id}/result").get_data(as_text=True)
    assert "可能是同一人" in page
    r = clerk.post(
        f"/admin/items/{item.id}/merges",
        data={"csrf_token": csrf_of(page), "merge": json.dumps(["阿依古丽买买提", "阿依古丽·买买提"])},
    )
    assert r.status_code == 303
    after = result_text(clerk, item.id)
    assert "阿依古丽·买买提 （另行推荐） 6 100.00%" in after
    assert "已确认合并的写法：“阿依古丽买买提”→“阿依古丽·买买提”" in after  # on the clerk's own part
    scrutineer = app.test_client()
    login(scrutineer, "scrutineer1")
    public = result_text(scrutineer, item.id)
    assert "阿依古丽·买买提 （另行推荐） 6 100.00%" in public and "已确认合并另行推荐的写法 1 处" in public
    assert "阿依古丽买买提" not in public  # the merged variant, carried by one ballot, is never shown


def test_scores_shown_candidate_by_candidate_rank_together(app, world):
    from conftest import ACTOR

    from ballot.meetings import sittings

    m = world.meeting(
        HEADER.format(expected=5)
        + """
[[items]]
title = "竞职演讲评分"
kind = "score"
per_candidate = true
candidates = ["张伟", "王芳", "李强"]
"""
    )
    assert [i.title for i in m.items] == ["竞职演讲评分：张伟", "竞职演讲评分：王芳", "竞职演讲评分：李强"]
    gid = m.groups[0].id
    codes = world.codes(gid, 5)
    world.present(gid, 5)
    world.staff("scrutineer")
    staff = app.test_client()
    login(staff, "scrutineer1")
    for item, scores in zip(m.items[:2], (("90", "90", "90", "90", "90"), ("95", "95", "95", "95", "95")), strict=True):
        world.open(item.id)
        for code, score in zip(codes, scores, strict=True):
            phone = app.test_client()
            phone.get(f"/v/{code}")
            vote(phone, item.id, {"s0_0": score})
        with world.db.write() as s:
            sittings.close_item(s, ACTOR, item.id)
        page = result_text(staff, item.id)
    # shown right after 王芳's speech: both scored so far, ranked; one still to come
    assert "第 1 名 王芳 95.00 第 2 名 张伟 90.00" in page and "还有 1 名人选未亮分" in page


def test_evaluate_with_dimensions_end_to_end(app, world):
    toml = """
[[items]]
title = "德能勤绩廉测评"
kind = "evaluate"
dimensions = ["德", "能"]
subjects = ["张伟"]
"""
    casts = [{"s0_0": "0", "s0_1": "1"}] * 5
    text, refusal = run(app, world, toml, 5, casts, refused={"s0_0": "0", "s0_9": "1"})
    assert "表单内容与本议题不符" in refusal
    assert "德 5 0 0 0 0 0 100.00% 100.00% 0.00% 100.00" in text and "综合得分： 90.00" in text


FORMS = {
    "approval": {"nominees": "王建国，拟任城关镇党委书记\n刘晓梅", "preset": "appointment"},
    "recommend": {
        "rec_seats": "2",
        "rec_candidates": "张伟\n王芳\n李强",
        "rec_write_ins": "1",
        "rec_denominator": "cast",
        "rec_threshold_op": ">=",
        "rec_threshold": "1/2",
        "rec_ratio": "1.5",
    },
    "contest": {"con_posts": "副县长｜1｜张伟、王芳\n副局长｜2｜李强、刘洋、陈静", "preset": "appointment"},
    "evaluate": {
        "ev_teams": "某局领导班子",
        "ev_subjects": "张伟，局长\n王芳",
        "ev_dimensions": "德、能",
        "ev_weight_G1": "0.6",
        "ev_weight_G2": "0.4",
        "ev_open_G2": "1",
        "ev_min": "5",
        "ev_quota": "1",
        "ev_denominator": "rated",
    },
    "score": {
        "sc_candidates": "张伟\n王芳",
        "sc_min": "0",
        "sc_max": "100",
        "sc_step": "0.5",
        "sc_sub_items": "演讲，60\n答辩，40",
        "sc_trim": "totals",
        "sc_trim_min": "5",
        "sc_weight_G1": "0.7",
        "sc_weight_G2": "0.3",
    },
}


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_clerk_form_creates_and_edits_every_kind(client, world, kind):
    import json

    from conftest import csrf_of

    from ballot.storage.models import Item

    m = world.meeting(
        '[meeting]\ntitle = "表单"\n[[groups]]\nname = "甲组"\nexpected = 10\n[[groups]]\nname = "乙组"\nexpected = 2\n'
    )
    g1, g2 = m.groups[0].id, m.groups[1].id
    fields = {k.replace("G1", str(g1)).replace("G2", str(g2)): v for k, v in FORMS[kind].items()}
    groups = [str(g1), str(g2)] if kind in ("evaluate", "score") else [str(g1)]
    world.staff("clerk")
    login(client, "clerk1")
    url = f"/admin/meetings/{m.id}/items/new"
    data = {"title": f"{kind} 议题", "kind": kind, "order": "strokes", "groups": groups, **fields}
    r = client.post(url, data={**data, "csrf_token": csrf_of(client.get(url).get_data(as_text=True))})
    assert r.status_code == 303, r.get_data(as_text=True)
    with world.db.read() as s:
        item = s.query(Item).one()
        stored = json.loads(item.config_json)
    # the edit form shows the stored configuration; saving it unchanged changes nothing
    edit = f"/admin/items/{item.id}/edit"
    page = client.get(edit).get_data(as_text=True)
    from ballot.web.staff import itemform

    with world.db.read() as s:
        values = itemform.form_values(kind, stored, s.get(Item, item.id).meeting.groups)
    shown = __import__("html").unescape(page)
    assert all(str(v) in shown for v in values.values() if v and "\n" not in str(v))
    again = {
        "title": f"{kind} 议题",
        "kind": kind,
        "groups": groups,
        **{k: str(v) for k, v in values.items() if v != ""},
    }
    r = client.post(edit, data={**again, "csrf_token": csrf_of(page)})
    assert r.status_code == 303, r.get_data(as_text=True)
    with world.db.read() as s:
        assert json.loads(s.get(Item, item.id).config_json) == stored


def test_clerk_form_refuses_weights_that_do_not_sum_to_one(client, world):
    from conftest import csrf_of

    m = world.meeting(
        '[meeting]\ntitle = "表单"\n[[groups]]\nname = "甲组"\nexpected = 10\n[[groups]]\nname = "乙组"\nexpected = 2\n'
    )
    world.staff("clerk")
    login(client, "clerk1")
    url = f"/admin/meetings/{m.id}/items/new"
    data = {
        "title": "测评",
        "kind": "evaluate",
        "groups": [str(g.id) for g in m.groups],
        "ev_subjects": "张伟",
        f"ev_weight_{m.groups[0].id}": "0.5",
        f"ev_weight_{m.groups[1].id}": "0.4",
    }
    r = client.post(url, data={**data, "csrf_token": csrf_of(client.get(url).get_data(as_text=True))})
    assert r.status_code == 400 and "各组权重之和须恰好为 1，现为 9/10" in r.get_data(as_text=True)


def test_export_of_a_closed_item_recounts_to_its_result(app, world):
    from ballot.counting.export import recount
    from ballot.meetings.results import export_item, item_result
    from ballot.storage.models import Item

    toml = """
[[items]]
title = "测评"
kind = "evaluate"
weights = { "委员" = "1" }
subjects = ["张伟", "王芳"]
"""
    run(app, world, toml, 6, [{"s0": "0", "s1": "1"}] * 4 + [{"s0": "2", "s1": "abstain"}] * 2)
    with world.db.read() as s:
        item = s.query(Item).one()
        export, result = export_item(s, item), item_result(s, item)
    assert recount(export) == result and len(export["ballots"]) == 6 and not export["withheld_groups"]
