"""Numbers people type are checked for length and form before they are converted: an exponent
(`1e10000000` made `Fraction` compute 10**10000000 for 15 s, holding the GIL), a long run of
digits, NaN, infinity, full-width digits, hex or underscores get a quick, clear Chinese refusal
wherever a number is typed: the phone's score form, the API, an item's configuration (meeting
file, JSON API, the clerk's form)."""

from __future__ import annotations

import re
import time
from fractions import Fraction

import pytest
from conftest import csrf_of, login
from sqlalchemy import func, select
from voting import enter, review

from ballot.counting import numbers
from ballot.counting.kinds import CastError, KindConfigError, get_kind
from ballot.counting.rules import RuleError, parse_fraction
from ballot.storage.models import Ballot

BAD = ["1e10000000", "1e-999999", "9" * 5000, "NaN", "inf", "-Infinity", "１２", "0x10", "1_000", "1E5", "+5", " "]
QUICK = 3.0  # seconds of this thread's CPU (the test client runs the request in this thread): the
# stalls this guards against took 11–44 s; normal work, even a first request on a loaded machine, is far under

SCORE_ITEM = """
[meeting]
title = "评分"
[[groups]]
name = "评委"
expected = 5
[[items]]
title = "竞职演讲评分"
kind = "score"
candidates = ["张伟"]
"""


class Quick:
    def __enter__(self):
        self.start = time.thread_time()
        return self

    def __exit__(self, *exc):
        self.seconds = time.thread_time() - self.start
        assert self.seconds < QUICK, f"took {self.seconds:.2f} s of CPU"


def no_python_notation(message: str) -> None:
    assert not re.search(r"Fraction\(|Decimal\(|Traceback|ValueError|\\\\x|'\w+':", message), message


@pytest.mark.parametrize("text", BAD)
def test_the_parser_refuses_quickly_and_says_why(text):
    with Quick(), pytest.raises(numbers.NumberError) as refused:
        numbers.number(text, "得分", percent=True)
    assert "得分" in str(refused.value) and "半角数字" in str(refused.value)
    no_python_notation(str(refused.value))
    with Quick(), pytest.raises(numbers.NumberError):
        numbers.parse_int(text, "名额", 1, 50)


@pytest.mark.parametrize(
    "raw, value",
    [("90", 90), ("90.5", Fraction(181, 2)), (" 0.4 ", Fraction(2, 5)), ("2/5", Fraction(2, 5)), ("40%", Fraction(2, 5)),
     ("181/2", Fraction(181, 2)), (0.5, Fraction(1, 2)), (7, 7), ("-3", -3), (Fraction(1, 3), Fraction(1, 3))],
)  # fmt: skip
def test_plain_numbers_still_read_exactly(raw, value):
    assert numbers.number(raw, "数", percent=True) == value


@pytest.mark.parametrize("raw", [10**40, float("inf"), float("nan"), True, None, [1], {"a": 1}, "1/0"])
def test_other_values_are_refused_without_python_notation(raw):
    with pytest.raises(numbers.NumberError) as refused:
        numbers.number(raw, "权重")
    no_python_notation(str(refused.value))


@pytest.mark.parametrize("text", BAD)
def test_every_configuration_number(text):
    """Item configuration: score range and step, sub-items, weights, rule fractions, ratios,
    percentages, seats (as from a meeting file or the JSON API)."""
    score = get_kind("score")
    configs = [
        ("score", {"candidates": ["甲"], "max": text}),
        ("score", {"candidates": ["甲"], "step": text}),
        ("score", {"candidates": ["甲"], "sub_items": [{"name": "a", "max": text}]}),
        ("score", {"candidates": ["甲"], "weights": {"评委": text}}),
        ("recommend", {"seats": text, "candidates": ["甲", "乙"]}),
        ("recommend", {"seats": 1, "candidates": ["甲", "乙"], "ratio": text}),
        ("recommend", {"seats": 1, "candidates": ["甲", "乙"], "threshold": text}),
        ("evaluate", {"subjects": ["甲"], "quotas": [{"grade": "优秀", "percent": text}]}),
        ("approval", {"nominees": ["甲"], "rule": {"preset": "custom", "pass_fraction": text, "basis": "b"}}),
    ]
    for kind, raw in configs:
        with Quick(), pytest.raises(KindConfigError) as refused:
            get_kind(kind).parse_config(raw)
        no_python_notation(str(refused.value))
    with Quick(), pytest.raises(RuleError):
        parse_fraction(text)
    assert score  # the kinds are all registered


def test_evaluate_points_are_bounded():
    raw = {"subjects": ["甲"], "scales": {"x": {"grades": ["好", "差"], "points": [10**4000, 0]}}}
    with Quick(), pytest.raises(KindConfigError, match="分值须为"):
        get_kind("evaluate").parse_config(raw)


@pytest.mark.parametrize("text", BAD)
def test_score_cast_refused_quickly(text):
    kind = get_kind("score")
    config = kind.parse_config({"candidates": ["张伟"]})
    with Quick(), pytest.raises(CastError) as refused:
        kind.parse_cast(config, {"s0_0": [text]})
    message = str(refused.value)
    assert "张伟" in message and ("半角数字" in message or "填写" in message)
    no_python_notation(message)


def test_phone_form_score(app, world, backend):
    m = world.meeting(SCORE_ITEM)
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 1)
    world.present(gid, 5)
    world.open(item.id)
    phone = app.test_client()
    enter(phone, codes[0])
    for text in BAD:
        with Quick():
            page = review(phone, item.id, {"s0_0": text})
        assert page.status_code == 400, text
        body = page.get_data(as_text=True)
        assert "选票填写有误" in body and ("半角数字" in body or "请为“张伟”填写得分" in body), text
    with world.db.read() as s:
        assert s.execute(select(func.count()).select_from(Ballot)).scalar_one() == 0
    assert review(phone, item.id, {"s0_0": "90.5"}).status_code == 200


def test_api_score(app, world, backend):
    m = world.meeting(SCORE_ITEM)
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 2)
    world.present(gid, 5)
    world.open(item.id)
    client = app.test_client()
    for text in BAD:
        with Quick():
            r = client.post("/api/v1/ballots", json={"code": codes[0], "item_id": item.id, "choices": {"s0_0": text}})
        assert r.status_code == 422 and r.get_json()["error"]["code"] == "invalid_ballot", text
        no_python_notation(r.get_json()["error"]["message"])
    ok = client.post("/api/v1/ballots", json={"code": codes[1], "item_id": item.id, "choices": {"s0_0": "88"}})
    assert ok.status_code == 201


def test_api_checks_the_code_before_reading_the_choices(app, world, backend, monkeypatch):
    """A spent code (or an unusable one) with a ballot crafted to cost CPU is refused as it would be
    with any ballot, and the kind never reads it."""
    m = world.meeting(SCORE_ITEM)
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, 2)
    world.present(gid, 5)
    world.open(item.id)
    client = app.test_client()
    assert (
        client.post(
            "/api/v1/ballots", json={"code": codes[0], "item_id": item.id, "choices": {"s0_0": "70"}}
        ).status_code
        == 201
    )

    read = []
    kind = type(get_kind("score"))
    monkeypatch.setattr(kind, "parse_cast", lambda self, config, form: read.append(form) or {})
    heavy = {"s0_0": "1e30000000"}
    with Quick():
        spent = client.post("/api/v1/ballots", json={"code": codes[0], "item_id": item.id, "choices": heavy})
    assert spent.status_code == 409 and spent.get_json()["error"]["code"] == "already_cast"
    with Quick():
        unknown = client.post("/api/v1/ballots", json={"code": "0000-0000-0000", "item_id": item.id, "choices": heavy})
    assert unknown.status_code == 403 and unknown.get_json()["error"]["code"] == "code_unusable"
    world.close(item.id)
    with Quick():
        closed = client.post("/api/v1/ballots", json={"code": codes[1], "item_id": item.id, "choices": heavy})
    assert closed.status_code == 409 and closed.get_json()["error"]["code"] == "item_not_open"
    assert read == []


def test_api_meeting_file_numbers(app, world, backend):
    from conftest import ACTOR

    from ballot.meetings import apitokens
    from ballot.storage.models import User

    world.staff("clerk")
    with world.db.write() as s:
        user = s.query(User).filter_by(username="clerk1").one()
        headers = {"Authorization": "Bearer " + apitokens.create_token(s, user, "clerk", ACTOR)}
    client = app.test_client()
    for text in BAD:
        body = {
            "meeting": {"title": "评分"},
            "groups": [{"name": "评委", "expected": 5}],
            "items": [{"title": "评分", "kind": "score", "candidates": ["张伟"], "max": text}],
        }
        with Quick():
            r = client.post("/api/v1/meetings", json=body, headers=headers)
        assert r.status_code == 422 and "最高分" in r.get_json()["error"]["message"], text
        no_python_notation(r.get_json()["error"]["message"])


def test_clerk_item_form_numbers(app, world, backend):
    m = world.meeting(SCORE_ITEM)
    gid = m.groups[0].id
    world.staff("clerk")
    client = app.test_client()
    login(client, "clerk1")
    url = f"/admin/meetings/{m.id}/items/new"
    token = csrf_of(client.get(url).get_data(as_text=True))
    base = {"csrf_token": token, "title": "评分二", "kind": "score", "groups": str(gid), "sc_candidates": "张伟"}
    for field in ("sc_max", "sc_step", "sc_trim_min"):
        for text in [*BAD, "²", "٣"]:
            with Quick():
                r = client.post(url, data={**base, field: text})
            assert r.status_code == 400, (field, text)
    contest = {"csrf_token": token, "title": "差额", "kind": "contest", "groups": str(gid), "preset": "appointment"}
    for seats in ["²", "9" * 5000, "１"]:
        with Quick():
            r = client.post(url, data={**contest, "con_posts": f"局长｜{seats}｜甲、乙"})
        assert r.status_code == 400, seats
