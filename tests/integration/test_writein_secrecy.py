"""A write-in must not let a voter prove their vote.

A vote buyer dictates a write-in ("赵钱孙 7Q4K", or a rare name only the voter will write) and looks
for it in whatever is published. Write-ins accept only names (refused with the reason on the phone,
the API and paper entry), and every public output – the result page, the API, the projector (live
batches too), tally.json, report.pdf, results.xlsx, ballots.json and the audit log – shows a
spelling only when at least k ballots carry it exactly; the rest are "其他（N 票）", with exact counts
and a recount that still reproduces the signed result. The clerk alone sees every spelling, to merge.
"""

from __future__ import annotations

import io
import json
import random
import re
import subprocess

import pytest
from conftest import ACTOR, csrf_of, login
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook
from voting import review, stored_ballots, vote

from ballot.archive import build as archive
from ballot.archive import signing
from ballot.archive import verify as verifier
from ballot.counting.export import ballot_export, recount
from ballot.counting.kinds import BallotData, CastError, Counts, get_kind
from ballot.counting.kinds.recommend import MAX_WRITE_IN, WRITE_IN_PUBLIC_MIN, write_in_name
from ballot.documents import report
from ballot.live import screen
from ballot.meetings import apitokens
from ballot.meetings.results import item_result
from ballot.paper import paper
from ballot.storage import audit
from ballot.storage.models import Item, Meeting, User

RECOMMEND = get_kind("recommend")
MARKER = "赵钱孙 7Q4K"
RARE = "欧阳钱孙"  # a real-looking name only the bought voter writes: the buyer's best marker
VARIANT = "趙敏"  # one ballot's variant of 赵敏: a marker too, if shown
POPULAR = "赵敏"

MEETING = """
[meeting]
title = "民主推荐会"
[[groups]]
name = "全体"
expected = 12
[[items]]
title = "推荐副局长人选"
kind = "recommend"
seats = 2
candidates = ["张伟", "王芳", "李强"]
ratio = "1.5"
write_ins = true
"""


def text_of(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# -- names only ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, kept",
    [
        ("赵 钱孙", "赵钱孙"),  # a Han name has no spaces: one spelling, not a spacing pattern
        ("阿卜杜.热合曼", "阿卜杜·热合曼"),  # the 间隔号 as phones type it
        ("阿卜杜•热合曼", "阿卜杜·热合曼"),
        ("王𫖮", "王𫖮"),  # a rare name character (Extension E)
        ("李〇", "李〇"),
    ],
)
def test_a_name_is_kept_in_one_form(raw, kept):
    assert write_in_name(raw) == kept


@pytest.mark.parametrize(
    "raw, why",
    [
        (MARKER, "“7”、“Q”、“4”、“K”"),
        ("赵钱孙ABC", "“A”"),
        ("赵钱孙。", "“。”"),
        ("赵钱孙（甲）", "“（”"),
        ("赵\u200b钱孙", "不可见字符"),  # zero-width space: invisible, still a marker
        ("赵钱孙\U000e0100", "不可见字符"),  # an ideographic variation selector
        ("·赵钱孙", "间隔号"),
        ("阿卜杜··热合曼", "间隔号"),
        ("赵" * (MAX_WRITE_IN + 1), f"最多 {MAX_WRITE_IN} 个字"),
        ("赵" * 10_000, f"最多 {MAX_WRITE_IN} 个字"),
    ],
)
def test_anything_but_a_name_is_refused_saying_why(raw, why):
    with pytest.raises(CastError) as refused:
        write_in_name(raw)
    message = str(refused.value)
    assert why in message and "秘密性" in message
    assert "\\u" not in message and "'" not in message  # no Python notation


def test_a_listed_candidate_written_in_any_form_still_counts_for_them():
    cfg = RECOMMEND.parse_config({"seats": 2, "candidates": ["陈静", "王芳"], "write_ins": True})
    choices = RECOMMEND.parse_cast(cfg, {"w0": ["陳 靜"]})
    assert choices == {"chosen": [cfg["candidates"].index("陈静")], "written": []}


def test_the_phone_the_api_and_paper_entry_refuse_a_marker_with_the_reason(app, world):
    m = world.meeting(MEETING)
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 3)
    world.present(gid, 12)
    world.open(item.id)
    phone = app.test_client()
    phone.get(f"/v/{codes[0]}")
    page = review(phone, item.id, {"c0": "1", "w0": MARKER})
    text = page.get_data(as_text=True)
    assert page.status_code == 400 and "只能填写汉字姓名" in text and "秘密性" in text
    api = app.test_client().post(
        "/api/v1/ballots", json={"code": codes[1], "item_id": item.id, "choices": {"c0": "1", "w0": "赵钱孙QK"}}
    )
    assert api.status_code == 422 and "只能填写汉字姓名" in api.get_json()["error"]["message"]
    with world.db.read() as s:
        assert stored_ballots(s) == []  # nothing stored
        config = json.loads(s.get(Item, item.id).config_json)
    with pytest.raises(paper.PaperError, match="只能填写汉字姓名.*无效票"):
        paper.parse("recommend", config, "100+赵钱孙7Q4K")
    assert paper.parse("recommend", config, "100+赵 敏").choices["written"] == [POPULAR]
    vote(phone, item.id, {"c0": "1", "w0": "赵 敏"})  # a name goes through, kept without the space
    with world.db.read() as s:
        (ballot,) = stored_ballots(s)
        assert json.loads(ballot.choices_json)["written"] == [POPULAR]


# -- the marker attack through cast, close and every public output --------------------------------


def cast_hall(app, world):
    """12 voters: 6 write 赵敏 (≥ k), one the buyer's rare name, one a variant of 赵敏, 4 list only."""
    m = world.meeting(MEETING)
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 12)
    world.present(gid, 12)
    world.open(item.id)
    # listed in stroke order: 王芳 c0, 李强 c1, 张伟 c2
    casts = (
        [{"c0": "1", "w0": POPULAR}] * 6
        + [{"c0": "1", "w0": RARE}]
        + [{"c1": "1", "w0": VARIANT}]
        + [{"c1": "1", "c2": "1"}] * 3
        + [{}]
    )
    for code, choices in zip(codes, casts, strict=True):
        phone = app.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item.id, choices)
    world.close(item.id)
    return m, item


def api_result(app, world, item_id: int) -> dict:
    world.staff("scrutineer", "scrutineer_api")
    with world.db.write() as s:
        user = s.query(User).filter_by(username="scrutineer_api").one()
        token = apitokens.create_token(s, user, "scrutineer", ACTOR)
    r = app.test_client().get(f"/api/v1/items/{item_id}/result", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    return r.get_json()["result"]


def test_a_dictated_write_in_is_nowhere_public_and_the_archive_still_verifies(app, world, tmp_path):
    m, item = cast_hall(app, world)
    secrets = (RARE, VARIANT, "7Q4K")

    # the public result: 赵敏 named (6 ballots), the two singletons pooled, every count exact
    with world.db.read() as s:
        result = item_result(s, s.get(Item, item.id))
    votes = {r["name"]: r["votes"] for r in result["rows"]}
    assert votes == {"王芳": 7, "李强": 4, "张伟": 3, POPULAR: 6}
    assert result["write_ins_pooled"] == {"persons": 2, "votes": 2, "label": "其他（2 票）", "meets_threshold": None}
    assert result["counts"]["blank"] == 1 and result["counts"]["valid"] == 12
    # 1:1.5 of 2 seats = 3 places: 王芳 7, 赵敏 6, 李强 4 (the pooled ones have 1 each)
    assert result["shortlist"]["names"] == ["王芳", POPULAR, "李强"] and result["shortlist"]["unnamed"] == 0
    assert not any(x in json.dumps(result, ensure_ascii=False) for x in secrets)

    # the result page a scrutineer sees, and the API
    world.staff("scrutineer")
    scrutineer = app.test_client()
    login(scrutineer, "scrutineer1")
    page = text_of(scrutineer.get(f"/admin/items/{item.id}/result").get_data(as_text=True))
    assert "其他（2 票）" in page and f"{POPULAR} （另行推荐） 6" in page
    assert not any(x in page for x in secrets) and "可能是同一人" not in page
    from_api = json.dumps(api_result(app, world, item.id), ensure_ascii=False)
    assert "其他（2 票）" in from_api and not any(x in from_api for x in secrets)

    # the clerk sees every spelling, and merges the variant into 赵敏
    world.staff("clerk")
    clerk = app.test_client()
    login(clerk, "clerk1")
    html = clerk.get(f"/admin/items/{item.id}/result").get_data(as_text=True)
    assert RARE in html and VARIANT in html and "可能是同一人" in html
    r = clerk.post(
        f"/admin/items/{item.id}/merges",
        data={"csrf_token": csrf_of(html), "merge": json.dumps([VARIANT, POPULAR])},
    )
    assert r.status_code == 303
    with world.db.read() as s:
        result = item_result(s, s.get(Item, item.id))
        audit_text = json.dumps([e.detail_json for e in audit.entries(s, m.id)], ensure_ascii=False)
    assert {r["name"]: r["votes"] for r in result["rows"]}[POPULAR] == 7
    assert result["write_ins_pooled"]["votes"] == 1 and result["merges_confirmed"] == 1
    page = text_of(scrutineer.get(f"/admin/items/{item.id}/result").get_data(as_text=True))
    assert "其他（1 票）" in page and not any(x in page for x in secrets)
    assert not any(x in audit_text for x in secrets)  # the merge is logged by number, not spelling

    # the projector
    with world.db.write() as s:
        key = screen.new_key(s, ACTOR, s.get(Meeting, m.id), world.settings.derived_key("screen"))
        screen.show(s, ACTOR, s.get(Meeting, m.id), item.id, reveal=True)
    shown = app.test_client().get(f"/screen/{key}/snapshot").get_json()["html"]
    assert "其他（1 票）" in shown and POPULAR in shown and not any(x in shown for x in secrets)

    # the signed archive: no marker in any file, ballots carry no write-in, and it verifies
    signing.create_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), signing.load_key(tmp_path / "inst"))
    for name in ("tally.json", "ballots.json", "receipts.json", "audit.log"):
        assert not any(x in files[name].decode() for x in secrets), name
    workbook = load_workbook(io.BytesIO(files["results.xlsx"]))
    cells = [[c for row in ws.iter_rows(values_only=True) for c in row] for ws in workbook]
    sheets = json.dumps(cells, ensure_ascii=False)
    assert "其他（1 票）" in sheets and not any(x in sheets for x in secrets)
    tally = json.loads(files["tally.json"])
    assert not any(x in report.html(tally, files["tally.json"]) for x in secrets)
    pdf_text = subprocess.run(["pdftotext", "-", "-"], input=files["report.pdf"], capture_output=True).stdout.decode()
    assert "其他（1 票）" in pdf_text and not any(x in pdf_text for x in secrets)
    export = json.loads(files["ballots.json"])["items"][0]
    assert all(set(b["choices"]) <= {"chosen"} for b in export["ballots"])
    assert export["write_ins"] == {"named": [[POPULAR, 7]], "others": [1], "written_only": 0, "merges": 1}
    assert "merges" not in export["config"] and "merges" not in tally["items"][0]["config"]
    public = signing.PublicKey.parse(files["minisign.pub"].decode())
    checks = verifier.verify(files, [public])
    assert all(c.ok for c in checks), [c.line for c in checks if not c.ok]


def test_a_pooled_person_in_the_shortlist_is_counted_not_named():
    """A person written in by fewer than k voters cannot be named publicly, even as 考察对象; the
    places are still filled by exact votes and the clerk sees who it is."""
    cfg = RECOMMEND.parse_config({"seats": 1, "candidates": ["张伟", "王芳"], "write_ins": True, "ratio": "2"})
    votes = [{"chosen": [0], "written": []}] * 4 + [{"chosen": [], "written": [RARE]}] * 3 + [
        {"chosen": [1], "written": []}
    ]
    ballots = [BallotData(1, True, v) for v in votes]
    result = RECOMMEND.tally(cfg, ballots, Counts(8, 8, 8))
    assert result["shortlist"]["names"] == [cfg["candidates"][0]] and result["shortlist"]["unnamed"] == 1
    assert "另有 1 名另行推荐人选" in result["shortlist"]["unnamed_words"]
    assert [r["rank"] for r in result["rows"]] == [1, 3]  # rank 2 is the pooled person's
    assert RARE not in json.dumps(result, ensure_ascii=False)
    clerk = RECOMMEND.write_in_review(cfg, ballots, Counts(8, 8, 8))["result"]
    assert clerk["shortlist"]["names"] == [cfg["candidates"][0], RARE]


def test_a_live_batch_on_the_projector_pools_the_marker_too(client, world):
    from datetime import timedelta

    from ballot.clock import utcnow

    m = world.meeting(MEETING + "live = true\nlive_batch = 3\n")
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 7)
    world.present(gid, 12)
    world.open(item.id)
    later = utcnow()
    # the first three ballots make the count that is held back, the next three release it
    for code, written in zip(codes, [RARE, POPULAR, POPULAR, POPULAR, "", "", ""], strict=True):
        phone = client.application.test_client()
        phone.get(f"/v/{code}")
        vote(phone, item.id, {"c0": "1", "w0": written})
        with world.db.write() as s:
            screen.publish_live(s, s.get(Item, item.id), now=later)
        later += timedelta(seconds=10)
    with world.db.read() as s:
        live = screen.state(s, s.get(Meeting, m.id))["item"]["live"]
    assert live["write_ins_pooled"]["votes"] == 3 and RARE not in json.dumps(live, ensure_ascii=False)


def test_a_previous_format_archive_is_named_as_such(app, world, tmp_path):
    m, item = cast_hall(app, world)
    signing.create_key(tmp_path / "inst")
    key = signing.load_key(tmp_path / "inst")
    with world.db.read() as s:
        files = archive.build(s, s.get(Meeting, m.id), key)
    tally = json.loads(files["tally.json"])
    tally["format"] = "ballot-tally/2"  # as the previous version signed it
    files["tally.json"] = verifier.canonical(tally)
    files["tally.json.minisig"] = key.sign(files["tally.json"], "old").encode()
    checks = verifier.verify(files, [key.public])
    failed = [c.line for c in checks if not c.ok]
    assert len(failed) == 1 and "ballot-tally/2" in failed[0] and "另行推荐的原文" in failed[0]
    assert "请用生成它的 ballot 版本核验" in failed[0]
    with pytest.raises(ValueError, match="ballot-export/1.*另行推荐"):
        recount({"format": "ballot-export/1"})


# -- the export without write-in text recounts to the result ---------------------------------------

NAMES = ["孙丽", "周敏", "吴刚", "郑爽", "冯巩", "欧阳钱孙"]  # none is, or is part of, a listed name


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(0, 40), merge=st.booleans(), ratio=st.sampled_from([None, "1", "2"]))
def test_the_export_without_write_in_text_recounts_to_the_result(seed, n, merge, ratio):
    rng = random.Random(seed)
    cfg = RECOMMEND.parse_config(
        {"seats": 3, "candidates": ["张伟", "王芳", "李强"], "write_ins": True, "ratio": ratio, "threshold": "1/5"}
    )
    weights = [rng.random() for _ in NAMES]  # some names common (≥ k), some rare
    accepted = []
    for _ in range(n):
        form = {f"c{i}": ["1"] for i in range(3) if rng.random() < 0.3}
        for w in range(3):
            if rng.random() < 0.5:
                form[f"w{w}"] = [rng.choices(NAMES, weights)[0]]
        try:
            accepted.append(RECOMMEND.parse_cast(cfg, form))
        except CastError:
            continue
    ballots = [BallotData(1, True, c) for c in accepted]
    written = sorted({w for c in accepted for w in c["written"]})
    if merge and len(written) >= 2:  # the clerk merges one spelling into another, or into a listed name
        target = rng.choice([*written[1:], "王芳"])
        cfg = RECOMMEND.merge(cfg, [{"from": written[0], "to": target}], ballots)
    counts = Counts(40, 40, 40, groups=((1, "全体"),), closed_groups=frozenset({1}))
    result = RECOMMEND.tally(cfg, ballots, counts)
    export = json.loads(json.dumps(ballot_export("推荐", "recommend", cfg, ballots, counts), ensure_ascii=False))
    assert recount(export) == result
    assert all(set(b["choices"]) <= {"chosen"} for b in export["ballots"])  # no write-in on any ballot
    carried = {}
    for c in accepted:
        for w in c["written"]:
            carried[w] = carried.get(w, 0) + 1
    public = json.dumps([export, result], ensure_ascii=False)
    for spelling, k in carried.items():  # a spelling fewer than k ballots carry is nowhere public
        assert (spelling in public) == (k >= WRITE_IN_PUBLIC_MIN and spelling not in dict_sources(cfg)), spelling
    # counts stay exact: every written-in person on every ballot is either named or in the pool
    merged = {x["from"]: x["to"] for x in cfg["merges"]}
    persons = sum(len({merged.get(w, w) for w in c["written"]} - set(cfg["candidates"])) for c in accepted)
    pooled = result["write_ins_pooled"] or {"votes": 0}
    assert sum(r["votes"] for r in result["rows"] if r["written_in"]) + pooled["votes"] == persons


def dict_sources(cfg: dict) -> set[str]:
    """Spellings merged into another name: never shown under their own spelling."""
    return {m["from"] for m in cfg["merges"]}
