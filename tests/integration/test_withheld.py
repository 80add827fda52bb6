"""A group below the minimum (docs/rules.md#evaluate) appears only as totals in the signed report: never ballot
by ballot (ballots.json, results.xlsx), never through a pooled flag; kinds not counted per group
export no group at all; slip reconciliation catches a missing or moved credential row."""

from __future__ import annotations

import io
import json

import pytest
from conftest import ACTOR, login
from openpyxl import load_workbook
from sqlalchemy import delete, select, update
from voting import vote

from ballot.archive import build as archive
from ballot.archive import signing
from ballot.archive import verify as verifier
from ballot.counting.export import ballot_export, recount
from ballot.counting.kinds import BallotData, Counts, get_kind
from ballot.paper import paperentry
from ballot.storage import audit
from ballot.storage.models import Credential, Meeting
from ballot.voting import credentials
from ballot.voting.sealing import spent_credentials

EVALUATE = get_kind("evaluate")
FAIL = "3"  # 不称职 on the competence scale


def evaluate_config(**extra):
    return EVALUATE.parse_config({"subjects": ["张三"], "weights": {"干部": "0.5", "小组": "0.5"}, **extra})


COUNTS = Counts(15, 15, 15, groups=((1, "干部"), (2, "小组")), closed_groups=frozenset({1, 2}))


# -- 1. one rule decides the withheld groups, on valid ballots -------------------------------------


def test_a_group_with_too_few_valid_ballots_is_withheld_in_the_tally_and_the_export_alike():
    cfg = evaluate_config()
    ballots = [BallotData(1, True, {"grades": ["0"]})] * 6
    ballots += [BallotData(2, True, {"grades": [FAIL]})] * 4
    ballots += [BallotData(2, False, {}, "paper", "other")]  # 5 back, only 4 valid
    result = EVALUATE.tally(cfg, ballots, COUNTS)
    shown = {g["id"]: g["withheld"] for g in result["groups"]}
    assert shown == {1: False, 2: True}
    assert EVALUATE.withheld_groups(cfg, ballots, COUNTS) == {2}
    export = ballot_export("测评", "evaluate", cfg, ballots, COUNTS, EVALUATE.withheld_groups(cfg, ballots, COUNTS))
    assert export["withheld_groups"] == {"2": 5}  # valid and invalid alike: only their number
    assert all(b["group"] == 1 for b in export["ballots"]) and len(export["ballots"]) == 6
    # the visible group's figures are recounted from the export exactly
    again = recount(export)
    assert again["subjects"][0]["groups"][0] == result["subjects"][0]["groups"][0]


def test_enough_valid_ballots_means_nothing_is_withheld():
    cfg = evaluate_config()
    ballots = [BallotData(1, True, {"grades": ["0"]})] * 6 + [BallotData(2, True, {"grades": ["1"]})] * 5
    ballots += [BallotData(2, False, {}, "paper", "other")]
    assert EVALUATE.withheld_groups(cfg, ballots, COUNTS) == set()
    export = ballot_export("测评", "evaluate", cfg, ballots, COUNTS, EVALUATE.withheld_groups(cfg, ballots, COUNTS))
    assert recount(export) == EVALUATE.tally(cfg, ballots, COUNTS)
    # marked 不匿名, even 4 valid ballots are shown and exported
    cfg = evaluate_config(open_groups=["小组"])
    assert EVALUATE.withheld_groups(cfg, ballots[:10] + ballots[11:], COUNTS) == set()


# -- 2. pooled flags never give a withheld group back -----------------------------------------------


def test_pooled_flags_are_withheld_with_the_group_and_say_why():
    cfg = evaluate_config()
    ballots = [BallotData(1, True, {"grades": ["0"]})] * 5 + [BallotData(2, True, {"grades": [FAIL]})] * 4
    [subject] = EVALUATE.tally(cfg, ballots, COUNTS)["subjects"]
    # before: 不称职票超过三分之一（4/9） – minus the visible 0/5 gives the small group's 4/4
    assert subject["pooled_flags"] == [] and subject["pooled"] is None
    assert "暴露" in subject["pooled_note"]
    assert "4/9" not in json.dumps(subject, ensure_ascii=False)
    # every group big enough: the pooled flag is shown as before
    ballots += [BallotData(2, True, {"grades": [FAIL]})]
    [subject] = EVALUATE.tally(cfg, ballots, COUNTS)["subjects"]
    assert subject["pooled_flags"] == ["不称职票超过三分之一（5/10）"] and subject["pooled_note"] == ""


def test_no_pooled_figure_while_a_group_is_still_voting():
    cfg = evaluate_config()
    ballots = [BallotData(1, True, {"grades": ["0"]})] * 5 + [BallotData(2, True, {"grades": [FAIL]})] * 3
    counts = Counts(15, 15, 15, groups=COUNTS.groups, closed_groups=frozenset({1}))
    [subject] = EVALUATE.tally(cfg, ballots, counts)["subjects"]
    assert subject["pooled_flags"] == [] and subject["pooled"] is None and subject["pooled_note"]


# -- 1 + 2 through the server: archive, workbook, result page ---------------------------------------

TOML = """
[meeting]
title = "测评归档"
[[groups]]
name = "干部"
expected = 6
[[groups]]
name = "小组"
expected = 5
[[items]]
title = "班子测评"
kind = "evaluate"
weights = { "干部" = "0.5", "小组" = "0.5" }
subjects = ["张三"]
[[items]]
title = "干部任免票决"
nominees = ["李四"]
"""


@pytest.fixture
def archived(app, world, tmp_path):
    """干部 6 × 优秀; 小组 4 × 不称职 on phones and one paper sheet 无效 (*3): 5 back, 4 valid.
    The 票决 is voted by both groups (小组 all 不同意)."""
    m = world.meeting(TOML)
    evaluation, approval = m.items
    big, small = m.groups
    for g in m.groups:
        world.present(g.id, g.expected)
    big_codes, small_codes = world.codes(big.id, 6), world.codes(small.id, 4)
    world.open(evaluation.id)
    world.open(approval.id)
    for code in big_codes + small_codes:
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, evaluation.id, {"s0": "0" if code in big_codes else FAIL})
        vote(phone, approval.id, {"n0": "yes" if code in big_codes else "no"})
    with world.db.write() as s:
        paperentry.set_paper_issued(s, ACTOR, evaluation.id, small.id, 1)
        batch_id = paperentry.new_batch(s, ACTOR, evaluation.id, small.id).id
    for teller in ("teller1", "teller2"):
        with world.db.write() as s:
            paperentry.submit_entry(s, audit.Actor(teller, "teller"), batch_id, "*3")
    world.close(evaluation.id)
    world.close(approval.id)
    with world.db.write() as s:
        paperentry.finish(s, audit.Actor("scrutineer1", "scrutineer"), evaluation.id)
    key = signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    return m, files, key


def test_the_small_groups_ballots_are_nowhere_ballot_by_ballot(archived):
    m, files, key = archived
    big, small = m.groups
    tally = json.loads(files["tally.json"])
    evaluation = next(i for i in tally["items"] if i["kind"] == "evaluate")
    assert [g["withheld"] for g in evaluation["result"]["groups"]] == [False, True]
    [subject] = evaluation["result"]["subjects"]
    assert subject["pooled_flags"] == [] and subject["pooled_note"]  # 4/10 would give 小组's 4/4 back
    exports = {e["kind"]: e for e in json.loads(files["ballots.json"])["items"]}
    assert exports["evaluate"]["withheld_groups"] == {str(small.id): 5}
    assert {b["group"] for b in exports["evaluate"]["ballots"]} == {big.id}
    assert not any(b.get("channel") == "paper" for b in exports["evaluate"]["ballots"])
    # the 票决 is not counted per group: its ballots carry no group, only each group's totals
    assert all("group" not in b for b in exports["approval"]["ballots"])
    assert exports["approval"]["group_totals"] == sorted([[big.id, "phone", 6], [small.id, "phone", 4]])
    sheet = load_workbook(io.BytesIO(files["results.xlsx"]))["匿名选票"]
    rows = [[c.value for c in r] for r in sheet.iter_rows(min_row=2)]
    assert len([r for r in rows if r[0] == "班子测评"]) == 6
    assert all(r[1] != "小组" and r[1] != small.id for r in rows)
    assert all(r[1] == "（不按组计票）" for r in rows if r[0] == "干部任免票决")
    checks = verifier.verify(files, [key])
    assert all(c.ok for c in checks), [c.line for c in checks if not c.ok]


def test_the_result_page_shows_why_pooled_flags_are_not_shown(app, world, archived):
    m, _, _ = archived
    world.staff("scrutineer")
    page = app.test_client()
    login(page, "scrutineer1")
    html = page.get(f"/admin/items/{m.items[0].id}/result").get_data(as_text=True)
    assert "合并各组：有测评组票数不足" in html and "4/10" not in html and "超过三分之一（" not in html


# -- 3. kinds not counted per group: no group on a ballot, exact recount ----------------------------

CONFIGS = {
    "approval": {"nominees": ["张三", "李四"]},
    "contest": {"posts": [{"post": "局长", "seats": 1, "candidates": ["张伟", "王芳"]}]},
    "recommend": {"seats": 2, "candidates": ["张伟", "王芳", "李强"]},
}
CHOICES = {
    "approval": [{"votes": ["yes", "no"]}, {"votes": ["no", "abstain"]}],
    "contest": [{"marks": [[0]]}, {"marks": [[1]]}],
    "recommend": [{"chosen": [0], "written": []}, {"chosen": [1, 2], "written": []}],
}


@pytest.mark.parametrize("key", sorted(CONFIGS))
def test_kinds_not_counted_per_group_export_no_group_and_recount_exactly(key):
    kind = get_kind(key)
    assert not kind.per_group
    cfg = kind.parse_config(CONFIGS[key])
    a, b = (kind.check_choices(cfg, c) for c in CHOICES[key])
    ballots = [BallotData(1, True, a)] * 5 + [BallotData(2, True, b)] * 2 + [BallotData(2, False, {}, "paper", "other")]
    ballots += [BallotData(1, True, b, "paper")]
    counts = Counts(10, 10, 10, groups=((1, "大组"), (2, "小组")), closed_groups=frozenset({1, 2}), paper_issued=2)
    result = kind.tally(cfg, ballots, counts)
    export = ballot_export("议题", key, cfg, ballots, counts, kind.withheld_groups(cfg, ballots, counts))
    assert all("group" not in row for row in export["ballots"])
    assert export["group_totals"] == [[1, "paper", 1], [1, "phone", 5], [2, "paper", 1], [2, "phone", 2]]
    assert recount(json.loads(json.dumps(export))) == result
    # totals that do not fit the ballots are refused, not recounted into something else
    export["group_totals"][1][2] = 4
    with pytest.raises(ValueError):
        recount(export)


def test_a_kind_counted_per_group_keeps_the_group():
    kind = get_kind("score")
    cfg = kind.parse_config({"candidates": ["张伟"], "weights": {"甲": "0.5", "乙": "0.5"}})
    ballots = [BallotData(1, True, {"scores": [["90"]]})] * 5 + [BallotData(2, True, {"scores": [["80"]]})] * 5
    counts = Counts(10, 10, 10, groups=((1, "甲"), (2, "乙")), closed_groups=frozenset({1, 2}))
    export = ballot_export("评分", "score", cfg, ballots, counts, kind.withheld_groups(cfg, ballots, counts))
    assert {row["group"] for row in export["ballots"]} == {1, 2} and "group_totals" not in export
    assert recount(export) == kind.tally(cfg, ballots, counts)


# -- 4. slip reconciliation can fail ----------------------------------------------------------------


def test_slip_reconciliation_counts_unused_codes_and_catches_a_missing_or_moved_row(app, world):
    m = world.standard()
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 5)
    world.present(gid, 11)
    world.open(item.id)
    phone = app.test_client()
    phone.get(f"/v/{codes[0]}")
    vote(phone, item.id, {"n0": "yes"})
    with world.db.write() as s:
        credentials.void_code(s, world.settings.derived_key("credential"), m.id, codes[1], ACTOR)
    with world.db.read() as s:
        assert credentials.reconciliation(s, gid) == {
            "issued": 5,
            "used": 1,
            "voided": 1,
            "unused": 3,
            "balanced": True,
        }
    with world.db.write() as s:  # an unused credential row disappears
        spent = select(spent_credentials(m.id).c.credential_id)
        victim = (
            s.execute(
                select(Credential.id).where(
                    Credential.group_id == gid, Credential.voided.is_(False), Credential.id.not_in(spent)
                )
            )
            .scalars()
            .first()
        )
        s.execute(delete(Credential).where(Credential.id == victim))
    with world.db.read() as s:
        row = credentials.reconciliation(s, gid)
    assert (row["issued"], row["unused"], row["balanced"]) == (5, 2, False)


def test_a_credential_row_moved_to_another_group_unbalances_both(app, world, tmp_path):
    m = world.meeting(TOML)
    big, small = m.groups
    world.codes(big.id, 3)
    world.codes(small.id, 2)
    with world.db.write() as s:
        victim = s.execute(select(Credential.id).where(Credential.group_id == big.id)).scalars().first()
        s.execute(update(Credential).where(Credential.id == victim).values(group_id=small.id))
    with world.db.read() as s:
        assert credentials.reconciliation(s, big.id)["balanced"] is False
        assert credentials.reconciliation(s, small.id)["balanced"] is False
    # and the signed report says so
    for g in m.groups:
        world.present(g.id, g.expected)
    world.open(m.items[1].id)
    world.close(m.items[1].id)
    signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    rows = json.loads(files["tally.json"])["reconciliation"]
    assert [r["balanced"] for r in rows] == [False, False]
