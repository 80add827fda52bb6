"""逐人表态 as plain data: configuration, cast validation, exact tally."""

import random

import pytest

from ballot.counting.kinds import BallotData, CastError, Counts, KindConfigError, get_kind

KIND = get_kind("approval")


def config(rule="appointment", nominees=("张三", "李四")):
    # entered order, so the tests can say "the first nominee"; 姓氏笔画 order has its own tests
    return KIND.parse_config({"nominees": list(nominees), "rule": rule, "order": "entered"})


def ballots(*votes, group=1):
    return [BallotData(group, True, {"votes": list(v)}) for v in votes]


def test_of_eleven_six_pass_and_five_do_not():
    cfg = config()
    bs = ballots(*([("yes", "no")] * 6 + [("no", "yes")] * 5))
    result = KIND.tally(cfg, bs, Counts(expected=11, present=11, issued=11))
    rows = {r["name"]: r for r in result["rows"]}
    assert rows["张三"]["yes"] == 6 and rows["张三"]["passed"] is True
    assert rows["李四"]["yes"] == 5 and rows["李四"]["passed"] is False
    assert rows["张三"]["rate"] == "6/11" and rows["张三"]["rate_display"] == "54.55%"
    assert result["minimum"] == 6
    assert "超过应到人数的半数" in result["rule_line"] and "应到人数 11 人" in result["rule_line"]


def test_of_ten_five_do_not_pass():
    result = KIND.tally(config(), ballots(*([("yes", "yes")] * 5 + [("no", "abstain")] * 5)), Counts(10, 10, 10))
    assert [r["passed"] for r in result["rows"]] == [False, False]


def test_denominator_is_expected_not_votes_cast():
    # 6 of 6 cast say 同意, but 应到 is 13: 6 > 13/2 is false.
    result = KIND.tally(config(), ballots(*([("yes", "yes")] * 6)), Counts(13, 9, 13))
    assert result["rows"][0]["passed"] is False
    assert result["counts"] == {"expected": 13, "present": 9, "issued": 13, "cast": 6, "valid": 6, "invalid": 0}


def test_cast_and_valid_denominators():
    rule = {"preset": "custom", "pass_op": ">", "pass_fraction": "1/2", "denominator": "cast", "basis": "测试"}
    cfg = config(rule)
    bs = ballots(("yes", "no"), ("yes", "abstain"), ("no", "yes"), ("abstain", "yes"))
    result = KIND.tally(cfg, bs, Counts(30, None, 30))
    assert result["denominator_value"] == 4
    assert [r["passed"] for r in result["rows"]] == [False, False]  # 2 of 4 is not 超过半数
    rule["pass_op"] = ">="
    result = KIND.tally(config(rule), bs, Counts(30, None, 30))
    assert [r["passed"] for r in result["rows"]] == [True, True]  # 半数以上 includes 2 of 4


def test_present_denominator_unknown_until_entered():
    result = KIND.tally(config("grassroots_election"), ballots(("yes", "yes")), Counts(10, None, 10))
    assert result["rows"][0]["passed"] is None
    assert "未录入" in result["rule_line"]


def test_tally_is_a_pure_function_of_the_ballots():
    cfg = config()
    bs = ballots(
        *[(random.choice(["yes", "no", "abstain"]), random.choice(["yes", "no", "abstain"])) for _ in range(40)]
    )
    first = KIND.tally(cfg, bs, Counts(50, 45, 50))
    shuffled = bs[:]
    random.shuffle(shuffled)
    assert KIND.tally(cfg, shuffled, Counts(50, 45, 50)) == first


def test_quorum_blocks_opening():
    cfg = config()
    assert KIND.open_problems(cfg, Counts(11, None, 11))[0].startswith("本议题有到会人数要求")
    problem = KIND.open_problems(cfg, Counts(11, 7, 11))[0]
    assert "至少需 8 人" in problem and "现实到 7 人" in problem
    assert KIND.open_problems(cfg, Counts(11, 8, 11)) == []


def test_cast_parsing():
    cfg = config()
    assert KIND.parse_cast(cfg, {"n0": ["yes"], "n1": ["no"]}) == {"votes": ["yes", "no"]}
    assert KIND.parse_cast(cfg, {"n0": ["yes"]}) == {"votes": ["yes", "abstain"]}  # unmarked = 弃权
    for bad in ({"n0": ["maybe"]}, {"n0": ["yes", "no"]}, {"n7": ["yes"]}):
        with pytest.raises(CastError):
            KIND.parse_cast(cfg, bad)
    assert KIND.review(cfg, {"votes": ["yes", "abstain"]}) == [("张三", "同意"), ("李四", "弃权")]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"nominees": []}, "至少"),
        ({"nominees": ["张三", "张三"]}, "重复"),
        ({"nominees": [" "]}, "不能为空"),
        ({"nominees": ["张三"], "rule": "nonsense"}, "未知的规则"),
        ({"nominees": ["张三"], "rule": {"preset": "custom", "pass_fraction": "2/3"}}, "依据"),
        ({"nominees": ["张三"], "rule": {"preset": "custom", "pass_op": "<", "basis": "x"}}, "比较方式"),
    ],
)
def test_bad_configuration_is_refused_in_chinese(raw, message):
    with pytest.raises(KindConfigError, match=message):
        KIND.parse_config(raw)


def test_nominees_are_listed_in_stroke_order_by_default():
    cfg = KIND.parse_config({"nominees": ["张三", "王五", "李四", "丁一"]})
    assert [n["name"] for n in cfg["nominees"]] == ["丁一", "王五", "李四", "张三"]
    assert cfg["order"] == {"key": "strokes", "text": "按姓氏笔画排序（单名优先）"}
    result = KIND.tally(cfg, [], Counts(4, 4, 4))
    assert [r["name"] for r in result["rows"]] == ["丁一", "王五", "李四", "张三"]
    assert result["order_text"] == "按姓氏笔画排序（单名优先）"


def test_same_surname_rule_comes_from_the_meeting():
    names = ["陈清州", "陈春", "陈学敏"]
    single = KIND.parse_config({"nominees": names}, single_given_first=True)
    by_char = KIND.parse_config({"nominees": names}, single_given_first=False)
    assert [n["name"] for n in single["nominees"]] == ["陈春", "陈学敏", "陈清州"]
    assert [n["name"] for n in by_char["nominees"]] == ["陈学敏", "陈春", "陈清州"]
    assert by_char["order"]["text"] == "按姓氏笔画排序（逐字比较）"
    assert KIND.reorder(by_char, single_given_first=True) == single


@pytest.mark.parametrize(
    "rule",
    [
        "appointment",
        {"preset": "custom", "pass_op": ">=", "pass_fraction": "2/3", "denominator": "present", "basis": "本单位章程"},
        {
            "preset": "custom",
            "pass_op": ">",
            "pass_fraction": "1/2",
            "quorum_op": ">=",
            "quorum_fraction": "2/3",
            "basis": "议事规则第5条",
        },
    ],
)
@pytest.mark.parametrize("order", ["strokes", "entered"])
def test_a_stored_configuration_parses_to_itself(rule, order):
    # a correction copies the withdrawn item's stored configuration: nothing may change on the way
    stored = KIND.parse_config({"nominees": ["张三", "李四"], "rule": rule, "order": order}, single_given_first=False)
    assert KIND.parse_config(stored, single_given_first=False) == stored


def test_an_unknown_order_is_refused():
    with pytest.raises(KindConfigError, match="排列方式"):
        KIND.parse_config({"nominees": ["张三"], "order": "alphabet"})
