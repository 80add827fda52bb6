"""Paper ballots counted with the phones: hand-computed examples for every kind (overvote, blank,
marks outside the boxes, mixed channels), double entry with a mismatch settled by the 监票人,
and the finalisation checks (paper 收回 > 发出, paper + phone 收回 > 实到, entry not finished)."""

from __future__ import annotations

import json

import pytest
from conftest import ACTOR
from voting import vote

from ballot.counting.errors import OperationError
from ballot.counting.export import recount
from ballot.counting.kinds import get_kind
from ballot.meetings.results import export_item, item_result
from ballot.meetings.rounds import next_round
from ballot.paper import paper, paperentry
from ballot.storage import audit
from ballot.storage.models import Item

TELLER_1 = audit.Actor("teller1", "teller")
TELLER_2 = audit.Actor("teller2", "teller")
SCRUTINEER = audit.Actor("scrutineer1", "scrutineer")

HEADER = """
[meeting]
title = "纸质票"
[[groups]]
name = "委员"
expected = {expected}
"""


CONTEST = """
[[items]]
title = "差额票决"
kind = "contest"
[[items.posts]]
post = "局长"
seats = 1
candidates = ["张伟", "王芳", "李强"]
"""


def setup_item(app, world, toml: str, expected: int, present: int, phone_casts: list[dict]):
    m = world.meeting(HEADER.format(expected=expected) + toml)
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, len(phone_casts)) if phone_casts else []
    world.present(gid, present)
    world.open(item.id)
    for code, choices in zip(codes, phone_casts, strict=True):
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item.id, choices)
    return gid, item.id


def enter_paper(world, item_id: int, gid: int, issued: int, lines: list[str], second: list[str] | None = None):
    """Record 发出, then one batch typed by two tellers; returns the batch id."""
    with world.db.write() as s:
        paperentry.set_paper_issued(s, ACTOR, item_id, gid, issued)
        batch = paperentry.new_batch(s, ACTOR, item_id, gid)
        batch_id = batch.id
    with world.db.write() as s:
        paperentry.submit_entry(s, TELLER_1, batch_id, "\n".join(lines))
    with world.db.write() as s:
        paperentry.submit_entry(s, TELLER_2, batch_id, "\n".join(second if second is not None else lines))
    return batch_id


def finish(world, item_id: int):
    world.close(item_id)
    with world.db.write() as s:
        paperentry.finish(s, SCRUTINEER, item_id)


def result(world, item_id: int) -> dict:
    with world.db.read() as s:
        item = s.get(Item, item_id)
        r = item_result(s, item)
        assert recount(export_item(s, item)) == r  # anyone recounts the paper with the phones
        return r


def test_approval_paper_and_phones_counted_together(app, world):
    toml = """
[[items]]
title = "干部任免票决"
nominees = ["张三", "李四"]
"""
    # the sheet lists 李四 then 张三 (姓氏笔画). 4 phones: both 同意. Paper (5 handed out):
    # 同意/同意, 同意/不同意, 多划 on 李四 (无效), blank (弃权 both), marks outside the boxes (无效)
    gid, item_id = setup_item(app, world, toml, 9, 9, [{"n0": "yes", "n1": "yes"}] * 4)
    enter_paper(world, item_id, gid, 5, ["11", "12", "x1", "00", "*1"])
    world.close(item_id)
    pending = result(world, item_id)
    assert pending["finalised"] is False and "纸质票尚未全部录入并核对一致" in pending["warnings"][0]
    with world.db.write() as s:
        paperentry.finish(s, SCRUTINEER, item_id)
    r = result(world, item_id)
    c = r["counts"]
    assert (c["issued"], c["cast"], c["valid"], c["invalid"]) == (9, 9, 7, 2)
    phone, on_paper = c["channels"]
    assert (phone["issued"], phone["cast"], phone["valid"], phone["invalid"]) == (4, 4, 4, 0)
    assert (on_paper["issued"], on_paper["cast"], on_paper["valid"], on_paper["invalid"]) == (5, 5, 3, 2)
    assert {x["reason"]: x["count"] for x in c["invalid_reasons"]} == {"overvote": 1, "outside": 1}
    rows = {x["name"]: x for x in r["rows"]}
    # 李四: 4 + 2 同意, 1 弃权 → 6 > 9/2 passes
    assert (rows["李四"]["yes"], rows["李四"]["no"], rows["李四"]["abstain"], rows["李四"]["passed"]) == (6, 0, 1, True)
    # 张三: 4 + 1 同意, 1 不同意, 1 弃权 → 5 > 4.5 passes
    assert (rows["张三"]["yes"], rows["张三"]["no"], rows["张三"]["abstain"], rows["张三"]["passed"]) == (5, 1, 1, True)
    assert r["finalised"] is True


def test_recommend_overvote_is_invalid_and_blank_is_abstention(app, world):
    toml = """
[[items]]
title = "民主推荐"
kind = "recommend"
seats = 2
candidates = ["王芳", "李强", "张伟"]
write_ins = true
"""
    gid, item_id = setup_item(app, world, toml, 10, 8, [{"c0": "1"}])
    lines = ["110", "111", "000", "100+赵敏", "100+赵敏,钱七"]  # valid, overvote, blank, write-in, overvote
    enter_paper(world, item_id, gid, 6, lines)
    finish(world, item_id)
    r = result(world, item_id)
    assert (r["counts"]["cast"], r["counts"]["valid"], r["counts"]["invalid"]) == (6, 4, 2)
    votes = {x["name"]: x["votes"] for x in r["rows"]}
    # listed 王芳 c0, 李强 c1, 张伟 c2: 王芳 phone + "110" + "100+赵敏" = 3; 李强 1; 赵敏 1 (pooled: < k)
    assert votes["王芳"] == 3 and votes["李强"] == 1 and votes["张伟"] == 0 and "赵敏" not in votes
    assert r["write_ins_pooled"]["votes"] == 1
    assert r["counts"]["blank"] == 1  # the blank sheet: valid, 弃权


def test_evaluate_subject_marked_twice_or_over_the_quota_is_invalid_for_those_subjects(app, world):
    toml = """
[[items]]
title = "民主测评"
kind = "evaluate"
min_ballots = 1
subjects = ["张三", "李四"]
quotas = [{ max = 1 }]
"""
    gid, item_id = setup_item(app, world, toml, 6, 6, [{"s0": "0", "s1": "1"}])
    # "11": both 优秀 over the cap of 1 → both 无效; "1x": 李四 marked twice → 李四 无效; "20": 称职, 弃权
    enter_paper(world, item_id, gid, 3, ["11", "1x", "20"])
    finish(world, item_id)
    r = result(world, item_id)
    assert (r["counts"]["cast"], r["counts"]["valid"], r["counts"]["invalid"]) == (4, 4, 0)
    cells = {s["name"]: s["groups"][0] for s in r["subjects"]}
    # 张三: phone 优秀, "1x" 优秀, "20" 称职, "11" 无效 → 2 优秀 1 称职 of 3 rated
    assert cells["张三"]["counts"][:2] == [2, 1] and cells["张三"]["invalid"] == 1
    # 李四: phone 称职, "11" 无效, "1x" 无效, "20" 弃权 → 1 称职 of 1 rated
    assert cells["李四"]["counts"][:2] == [0, 1] and cells["李四"]["invalid"] == 2 and cells["李四"]["abstain"] == 1


def test_contest_and_score_on_paper(app, world):
    gid, item_id = setup_item(app, world, CONTEST, 9, 9, [{"p0": "0"}] * 3)
    # listed 王芳, 李强, 张伟: "100" 王芳; "110" overvote; "000" blank; "100" 王芳; "001" 张伟
    enter_paper(world, item_id, gid, 6, ["100", "110", "000", "100", "001"])
    finish(world, item_id)
    r = result(world, item_id)
    rows = {x["name"]: x for x in r["posts"][0]["rows"]}
    assert rows["王芳"]["votes"] == 5 and rows["王芳"]["elected"] is True  # 3 phones + 2 paper; 5 > 9/2
    assert (r["counts"]["cast"], r["counts"]["invalid"]) == (8, 1)

    score = """
[[items]]
title = "评分"
kind = "score"
candidates = ["张伟", "王芳"]
"""
    m = world.meeting(HEADER.format(expected=5) + score)
    gid, item_id = m.groups[0].id, m.items[0].id
    world.present(gid, 5)
    world.open(item_id)
    # 5 judges on paper: 3 valid sheets, one out of range, one left blank
    enter_paper(world, item_id, gid, 5, ["90 80", "85.5 70", "80 90.0", "101 80", "- 80"])
    finish(world, item_id)
    r = result(world, item_id)
    assert (r["counts"]["valid"], r["counts"]["invalid"]) == (3, 2)
    reasons = {x["reason"]: x["count"] for x in r["counts"]["invalid_reasons"]}
    assert reasons == {"range": 1, "blank_score": 1}
    finals = {x["name"]: x["final_display"] for x in r["rows"]}
    # fewer than 5 judges: no trimming; 张伟 (90 + 85.5 + 80)/3 = 85.17, 王芳 (80 + 70 + 90)/3 = 80
    assert finals == {"张伟": "85.17", "王芳": "80.00"}


def test_no_next_round_of_a_contest_while_its_paper_is_not_entered(app, world):
    gid, item_id = setup_item(app, world, CONTEST, 9, 9, [{"p0": "0"}, {"p0": "1"}, {"p0": "2"}])
    enter_paper(world, item_id, gid, 2, ["100", "010"])
    world.close(item_id)  # closed, but the 监票人 has not declared the paper count complete
    with world.db.write() as s, pytest.raises(OperationError, match="纸质票尚未全部录入并核对一致.*不能据此进入下一轮"):
        next_round(s, ACTOR, s.get(Item, item_id))
    with world.db.write() as s:
        paperentry.finish(s, SCRUTINEER, item_id)
    with world.db.write() as s:  # no one has more than half of 9: the seat goes to a next round
        assert next_round(s, ACTOR, s.get(Item, item_id)).title == "差额票决（第 2 轮）"


def test_a_mismatch_is_settled_by_the_scrutineer_and_recorded(app, world):
    toml = """
[[items]]
title = "干部任免票决"
nominees = ["张三", "李四"]
"""
    gid, item_id = setup_item(app, world, toml, 3, 3, [])
    batch_id = enter_paper(world, item_id, gid, 3, ["11", "12", "21"], second=["11", "22", "00"])
    with world.db.read() as s:
        batch = s.get(paperentry.PaperBatch, batch_id)
        assert batch.status == "mismatch"
        diffs = paperentry.differences(s, batch)
    assert [(d.index, d.first, d.second) for d in diffs] == [(1, "12", "22"), (2, "21", "00")]
    assert diffs[0].first_meaning == "李四 同意；张三 不同意" and diffs[0].second_meaning == "李四 不同意；张三 不同意"
    with world.db.write() as s, pytest.raises(OperationError, match="还有 1 张票未核定"):
        paperentry.settle(s, SCRUTINEER, batch_id, {1: "1"})
    with world.db.write() as s, pytest.raises(OperationError, match="第 3 张（按纸票录入）：应输入 2 个键"):
        paperentry.settle(s, SCRUTINEER, batch_id, {1: "1", 2: "typed"}, {2: "123"})
    with world.db.write() as s:  # sheet 2 as entry 1 read it; sheet 3 typed from the paper: 李四 同意 only
        paperentry.settle(s, SCRUTINEER, batch_id, {1: "1", 2: "typed"}, {2: "10"})
    finish(world, item_id)
    r = result(world, item_id)
    assert r["counts"]["cast"] == 3
    rows = {x["name"]: x for x in r["rows"]}
    assert (rows["李四"]["yes"], rows["李四"]["no"], rows["张三"]["yes"], rows["张三"]["abstain"]) == (3, 0, 1, 1)
    with world.db.read() as s:
        entries = [e for e in audit.entries(s, None) if e.action == "paper.settle"]
    (entry,) = entries
    detail = json.loads(entry.detail_json)
    # which way each sheet was settled, never what it says (the log goes into the public archive)
    assert detail["sheets"] == [{"sheet": 2, "choice": "1"}, {"sheet": 3, "choice": "typed"}]
    assert "12" not in json.dumps(detail["sheets"]) and "李四" not in entry.detail_json


def test_one_teller_cannot_enter_a_batch_twice_and_bad_lines_change_nothing(app, world):
    toml = """
[[items]]
title = "干部任免票决"
nominees = ["张三", "李四"]
"""
    gid, item_id = setup_item(app, world, toml, 3, 3, [])
    with world.db.write() as s:
        paperentry.set_paper_issued(s, ACTOR, item_id, gid, 3)
        batch_id = paperentry.new_batch(s, ACTOR, item_id, gid).id
    with (
        world.db.write() as s,
        pytest.raises(OperationError, match="第 2 张（1）：应输入 2 个键.*第 3 张（19）：无效的键“9”"),
    ):
        paperentry.submit_entry(s, TELLER_1, batch_id, "11\n1\n19")
    with world.db.write() as s:
        paperentry.submit_entry(s, TELLER_1, batch_id, "11\n12")
    with world.db.write() as s, pytest.raises(OperationError, match="两名不同的计票人"):
        paperentry.submit_entry(s, TELLER_1, batch_id, "11\n12")
    with world.db.read() as s:
        assert paperentry.entry_count(s, batch_id) == 1
    with world.db.write() as s, pytest.raises(OperationError, match="已有录入，不能删除"):
        paperentry.delete_empty_batch(s, ACTOR, batch_id)
    with world.db.write() as s:  # a stack created by mistake, never entered, can go
        empty = paperentry.new_batch(s, ACTOR, item_id, gid).id
    with world.db.write() as s:
        paperentry.delete_empty_batch(s, ACTOR, empty)
    with world.db.read() as s:
        assert [b.id for b in paperentry.batches(s, item_id)] == [batch_id]


def test_more_paper_back_than_handed_out_or_than_present_refuses_finalisation(app, world):
    toml = """
[[items]]
title = "干部任免票决"
nominees = ["张三"]
"""
    gid, item_id = setup_item(app, world, toml, 9, 6, [{"n0": "yes"}] * 4)
    enter_paper(world, item_id, gid, 2, ["1", "1", "1"])  # 3 sheets back, 2 handed out
    finish(world, item_id)
    r = result(world, item_id)
    assert r["finalised"] is False
    assert any("纸质票收回 3 张，多于发出 2 张" in w for w in r["warnings"])
    assert any("收回票数 7 多于实到人数 6" in w for w in r["warnings"])  # 4 phones + 3 paper
    assert r["rows"][0]["passed"] is None  # no one passes on a vote that cannot be finalised


def two_groups(world, expected_b: int) -> tuple[int, int, int]:
    """常委 (应到 5) and 列席 (应到 `expected_b`) voting on one 票决: the two group ids and the item's."""
    m = world.meeting(
        f"""
[meeting]
title = "两组"
[[groups]]
name = "常委"
expected = 5
[[groups]]
name = "列席"
expected = {expected_b}
[[items]]
title = "票决"
nominees = ["张三"]
"""
    )
    return m.groups[0].id, m.groups[1].id, m.items[0].id


def test_each_group_is_checked_on_its_own_not_only_the_totals(app, world):
    a, b, item_id = two_groups(world, 5)
    world.present(a, 3)
    world.present(b, 5)
    world.open(item_id)
    # totals look fine (6 sheets back of 7 handed out, 6 ballots for 8 present), but 常委 handed
    # out 2 sheets and got 5 back from 3 members present
    enter_paper(world, item_id, a, 2, ["1", "1", "2", "0", "1"])
    enter_paper(world, item_id, b, 5, ["1"])
    finish(world, item_id)
    r = result(world, item_id)
    assert r["finalised"] is False and r["rows"][0]["passed"] is None
    assert r["warnings"] == [
        "常委：纸质票收回 5 张，多于发出 2 张，本次表决无效，须重新表决",
        "常委：收回票数 5 多于实到人数 3，本次表决结果不能确认，须重新表决",
    ]
    with world.db.read() as s:
        assert paperentry.reconciliation(s, s.get(Item, item_id))[0]["balanced"] is False


def test_blank_paper_entry_is_refused_and_every_key_is_explained():
    config = get_kind("approval").parse_config({"nominees": ["张三", "李四"]})
    with pytest.raises(paper.PaperError, match="空行"):
        paper.parse("approval", config, "  ")
    with pytest.raises(paper.PaperError, match=r"\*1（划在格外）"):
        paper.parse("approval", config, "*9")
    assert [b.label for b in paper.boxes("approval", config)] == ["李四", "张三"]  # 姓氏笔画, as printed
    assert paper.parse("approval", config, " 1 2 ").line == "12"


def test_channels_on_the_projector_the_report_and_the_workbook(app, client, world, tmp_path):
    import io

    from openpyxl import load_workbook
    from test_screen import key_for

    from ballot.archive import build as archive
    from ballot.archive import signing
    from ballot.archive import verify as verifier
    from ballot.documents import report
    from ballot.live import screen
    from ballot.storage.models import Meeting

    m, item, codes = world.ready(codes=3)
    gid = m.groups[0].id
    phone = app.test_client()
    phone.get(f"/v/{codes[0]}")
    vote(phone, item.id, {"n0": "yes", "n1": "yes", "n2": "yes"})
    enter_paper(world, item.id, gid, 2, ["111", "x11"])
    finish(world, item.id)
    key = key_for(world, m)
    with world.db.write() as s:
        screen.show(s, ACTOR, s.get(Meeting, m.id), item.id, reveal=True)
    shown = client.get(f"/screen/{key}/snapshot").get_json()["html"]
    assert "纸质票：发出 2 · 收回 2 · 有效 1 · 无效 1" in shown and "手机/自助机：发出 3 · 收回 1" in shown
    assert "发出 5 · 收回 3 · 有效 2 · 无效 1" in shown
    public = signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    assert all(c.ok for c in verifier.verify(files, [public]))  # the recount of the export reproduces the channels
    tally = json.loads(files["tally.json"])
    assert tally["items"][0]["paper"] == [{"group": "常委", "issued": 2, "returned": 2, "balanced": True}]
    html = report.html(tally, files["tally.json"])
    assert "纸质票核对（按表决组，收回不得多于发出）：常委 发出 2、收回 2" in html
    assert "纸质票</td><td>2</td><td>2</td><td>1</td><td>1</td>" in html.replace("\n", "").replace(' class="name"', "")
    assert "无效票：多选（超过应选人数，或同一人选划了多个符号） 1 张" in html
    rows = [[c.value for c in r] for r in load_workbook(io.BytesIO(files["results.xlsx"])).worksheets[0].iter_rows()]
    assert ["纸质票", 2, 2, 1, 1] in [r[:5] for r in rows] and ["合计", 5, 3, 2, 1] in [r[:5] for r in rows]


@pytest.mark.server
def test_printed_form_has_the_phone_ballots_names_order_and_rule_text(app, world, tmp_path):
    """pdftotext of the printed 表决票 beside the phone ballot of the same item."""
    import re
    import shutil
    import subprocess

    from conftest import ARTIFACTS, login

    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (scripts/setup.sh test)")
    m, item, codes = world.ready(codes=1, nominees=("欧阳振华", "亓秀英", "冼国强", "王𫖮"))
    phone = app.test_client()
    phone.get(f"/v/{codes[0]}")
    ballot_html = phone.get(f"/ballot/{item.id}").get_data(as_text=True)
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    pdf = clerk.get(f"/admin/items/{item.id}/paper/forms.pdf?group={m.groups[0].id}&copies=3")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    path = tmp_path / "form.pdf"
    path.write_bytes(pdf.data)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True).stdout
    pages = text.split("\f")
    assert len([p for p in pages if p.strip()]) == 3 and len(set(p for p in pages if p.strip())) == 1  # identical
    names = ["欧阳振华", "亓秀英", "冼国强", "王𫖮"]
    phone_order = sorted(names, key=ballot_html.index)
    form_order = sorted(names, key=pages[0].index)
    assert (
        phone_order == form_order == ["王𫖮", "亓秀英", "欧阳振华", "冼国强"]
    )  # 姓氏笔画 on both (王 横横竖 before 亓 横横撇)
    rule = re.search(r"按姓氏笔画排序（[^）]+）", ballot_html).group(0)
    assert rule in pages[0]
    assert "表 决 票" in pages[0] or "表决票" in pages[0].replace(" ", "")
    assert "监票人盖章" in pages[0] and "同一人选划两个以上○的，本票无效" in pages[0].replace(" ", "")
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run(
        ["pdftoppm", "-r", "60", "-f", "1", "-l", "1", "-png", str(path), str(ARTIFACTS / "paper-form")], check=True
    )


def test_paper_pages_keep_tellers_and_scrutineers_to_their_parts(app, world):
    from conftest import csrf_of, login

    toml = """
[[items]]
title = "干部任免票决"
nominees = ["张三"]
"""
    gid, item_id = setup_item(app, world, toml, 3, 3, [])
    world.staff("teller")
    teller = app.test_client()
    login(teller, "teller1")
    page = teller.get(f"/admin/items/{item_id}/paper").get_data(as_text=True)
    refused = teller.post(f"/admin/items/{item_id}/paper/batches", data={"csrf_token": csrf_of(page), "group": gid})
    assert refused.status_code == 400 and "请先登记该表决组的纸质票发出数" in refused.get_data(as_text=True)
    assert teller.post(f"/admin/items/{item_id}/paper/issued", data={"csrf_token": csrf_of(page)}).status_code == 403
    with world.db.write() as s:
        paperentry.set_paper_issued(s, ACTOR, item_id, gid, 3)
    made = teller.post(f"/admin/items/{item_id}/paper/batches", data={"csrf_token": csrf_of(page), "group": gid})
    assert made.status_code == 303
    batch_id = int(made.headers["Location"].rsplit("/", 1)[1])
    assert teller.get(f"/admin/paper-batches/{batch_id}/settle").status_code == 403  # the 监票人's part
    assert teller.post(f"/admin/items/{item_id}/paper/done", data={"csrf_token": csrf_of(page)}).status_code == 403
    bad = teller.post(f"/admin/paper-batches/{batch_id}", data={"csrf_token": csrf_of(page), "lines": "9"})
    assert bad.status_code == 400 and "无效的键“9”" in bad.get_data(as_text=True)
    gone = teller.post(f"/admin/paper-batches/{batch_id}/delete", data={"csrf_token": csrf_of(page)})
    assert gone.status_code == 303 and "已删除空的一叠" in teller.get(gone.headers["Location"]).get_data(as_text=True)


def test_the_export_does_not_single_out_a_group_that_alone_voted_on_paper(app, world):
    a, b, item_id = two_groups(world, 2)
    world.present(a, 5)
    world.present(b, 2)
    codes = world.codes(a, 5)
    world.open(item_id)
    for code, answer in zip(codes, ["yes", "yes", "no", "yes", "abstain"], strict=True):
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item_id, {"n0": answer})
    enter_paper(world, item_id, b, 2, ["2", "*1"])  # 列席 (2 people) on paper: one 不同意, one 无效
    finish(world, item_id)
    r = result(world, item_id)  # recounted from the export too
    paper_row = next(c for c in r["counts"]["channels"] if c["channel"] == "paper")
    assert (paper_row["cast"], paper_row["valid"], paper_row["invalid"]) == (2, 1, 1)
    with world.db.read() as s:
        export = export_item(s, s.get(Item, item_id))
    valid_rows = [row for row in export["ballots"] if row["valid"]]
    assert len(valid_rows) == 6 and all("channel" not in row and "group" not in row for row in valid_rows)
    assert export["valid_channels"] == [["paper", 1], ["phone", 5]]


def test_an_item_closed_before_per_group_counts_were_kept_stays_final(app, world):
    m = world.meeting(HEADER.format(expected=4) + '[[items]]\ntitle = "票决"\nnominees = ["张三"]\n')
    gid, item_id = m.groups[0].id, m.items[0].id
    codes = world.codes(gid, 4)
    world.present(gid, 4)
    world.open(item_id)
    for code in codes:
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item_id, {"n0": "yes"})
    world.close(item_id)
    with world.db.write() as s:  # as stored before this release, then 实到 edited afterwards
        item = s.get(Item, item_id)
        stored = json.loads(item.closed_counts_json)
        del stored["group_present"]
        item.closed_counts_json = json.dumps(stored)
        item.meeting.groups[0].present = 2
    assert result(world, item_id)["finalised"] is True


def test_an_invalid_sheets_reading_is_not_exported_where_groups_are_not_shown(app, world):
    toml = '[[items]]\ntitle = "推荐"\nkind = "recommend"\nseats = 1\nwrite_ins = true\ncandidates = ["张伟", "王芳"]\n'
    gid, item_id = setup_item(app, world, toml, 3, 3, [])
    enter_paper(world, item_id, gid, 3, ["10", "11", "00+赵六,钱七"])
    finish(world, item_id)
    result(world, item_id)  # the recount still agrees
    with world.db.read() as s:
        export = export_item(s, s.get(Item, item_id))
    invalid = [row for row in export["ballots"] if not row["valid"]]
    assert len(invalid) == 2 and all(row["choices"] == {} and row["reason"] == "overvote" for row in invalid)
    assert "赵六" not in json.dumps(export, ensure_ascii=False)
