"""民主推荐, 民主测评/三元测评, 差额票决, 评委打分 as plain data: worked examples from docs/rules.md with
the numbers computed by hand, refusals, and properties that must hold for any ballots."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ballot.counting.kinds import BallotData, CastError, Counts, KindConfigError, get_kind

RECOMMEND, EVALUATE, CONTEST, SCORE = (get_kind(k) for k in ("recommend", "evaluate", "contest", "score"))


def ballots(choices, group=1):
    return [BallotData(group, True, c) for c in choices]


def form(**fields):
    return {k: v if isinstance(v, list) else [v] for k, v in fields.items()}


# -- 民主推荐 (docs/rules.md#recommend) --------------------------------------------------------------


def rec_config(**extra):
    raw = {"seats": 3, "candidates": ["张伟", "王芳", "李强", "刘洋", "陈静"], "write_ins": True, **extra}
    return RECOMMEND.parse_config(raw)


def test_recommend_counts_rates_over_ballots_cast_and_lists_in_stroke_order():
    cfg = rec_config(ratio="1.5")
    assert cfg["candidates"] == ["王芳", "刘洋", "李强", "张伟", "陈静"]  # 王4 刘6 李7 张7 陈7
    i = cfg["candidates"].index
    votes = (
        [{"chosen": [i("张伟"), i("王芳"), i("李强")], "written": []}] * 6
        + [{"chosen": [i("刘洋")], "written": ["赵 敏"]}] * 3
        + [{"chosen": [], "written": []}]  # blank: valid, 弃权
    )
    result = RECOMMEND.tally(cfg, ballots(votes), Counts(12, 11, 12))
    rows = {r["name"]: r for r in result["rows"]}
    assert result["counts"]["cast"] == 10 and result["counts"]["blank"] == 1
    assert rows["张伟"]["votes"] == 6 and rows["张伟"]["rate_display"] == "60.00%"  # 6 / 收回 10
    # "赵 敏" is written on 3 ballots, fewer than k = 5: counted, ranked, but pooled, never named
    assert "赵 敏" not in rows and "赵 敏" not in json.dumps(result, ensure_ascii=False)
    assert result["write_ins_pooled"] == {"persons": 1, "votes": 3, "label": "其他（3 票）", "meets_threshold": None}
    # 张伟, 王芳, 李强 tie at 6 and share rank 1, listed in stroke order; 刘洋 shares rank 4 with the pooled one
    assert [(r["name"], r["rank"]) for r in result["rows"][:4]] == [("王芳", 1), ("李强", 1), ("张伟", 1), ("刘洋", 4)]
    # 1:1.5 of 3 seats = ⌈4.5⌉ = 5 places: the three with 6 and both with 3, the pooled one as a number
    shortlist = result["shortlist"]
    assert shortlist["places"] == 5 and len(shortlist["names"]) == 4 and shortlist["unnamed"] == 1
    clerk = RECOMMEND.write_in_review(cfg, ballots(votes), Counts(12, 11, 12))  # the clerk sees the name
    assert {r["name"]: r["rank"] for r in clerk["result"]["rows"]}["赵 敏"] == 4
    assert clerk["spellings"] == [{"spelling": "赵 敏", "ballots": 3, "person": "赵 敏", "shown": False}]


def test_recommend_tie_at_the_cut_off_is_reported_not_broken():
    cfg = rec_config(ratio="1")  # 3 places
    i = cfg["candidates"].index
    votes = [{"chosen": [i("张伟"), i("王芳")], "written": []}] * 4 + [
        {"chosen": [i("李强"), i("刘洋")], "written": []}
    ] * 2
    shortlist = RECOMMEND.tally(cfg, ballots(votes), Counts(6, 6, 6))["shortlist"]
    assert shortlist["names"] == ["王芳", "张伟"] and shortlist["tied_at_cutoff"] == ["刘洋", "李强"]


def test_recommend_threshold_is_exact():
    cfg = rec_config(threshold={"op": ">", "fraction": "1/2"})
    i = cfg["candidates"].index
    votes = [{"chosen": [i("张伟")], "written": []}] * 5 + [{"chosen": [], "written": []}] * 5
    rows = {r["name"]: r for r in RECOMMEND.tally(cfg, ballots(votes), Counts(10, 10, 10))["rows"]}
    assert rows["张伟"]["meets_threshold"] is False  # 5 of 10 is not 超过半数


def test_recommend_refuses_an_overvote_and_counts_a_listed_write_in_for_the_candidate():
    cfg = rec_config()
    with pytest.raises(CastError, match="推荐人数不能超过 3 名"):
        RECOMMEND.parse_cast(cfg, form(c0="1", c1="1", c2="1", w0="孙丽"))
    # "陳 靜" (traditional, spaced) names the listed 陈静: it counts for her
    choices = RECOMMEND.parse_cast(cfg, form(w0="陳 靜", w1="孙 丽"))
    assert choices["chosen"] == [cfg["candidates"].index("陈静")] and choices["written"] == ["孙丽"]
    with pytest.raises(CastError, match="只能填写汉字姓名"):  # letters could mark the ballot
        RECOMMEND.parse_cast(cfg, form(w0="ＡＢＣ"))
    with pytest.raises(CastError, match="不能重复推荐"):
        RECOMMEND.parse_cast(cfg, form(c4="1", w0="陈静"))
    with pytest.raises(CastError, match="重复填写"):
        RECOMMEND.parse_cast(cfg, form(w0="孙丽", w1="孙 丽"))


def test_recommend_merges_are_proposed_and_count_only_when_confirmed():
    cfg = RECOMMEND.parse_config({"seats": 1})  # 非定位推荐: names only written in
    votes = [{"chosen": [], "written": ["阿依古丽·买买提"]}] * 5 + [{"chosen": [], "written": ["阿依古丽买买提"]}] * 2
    counts = Counts(7, 7, 7)
    review = RECOMMEND.write_in_review(cfg, ballots(votes), counts)  # the clerk's page, never published
    assert review["merge_proposals"] == [{"from": "阿依古丽买买提", "to": "阿依古丽·买买提"}]
    assert {r["name"]: r["votes"] for r in review["result"]["rows"]} == {"阿依古丽·买买提": 5, "阿依古丽买买提": 2}
    public = RECOMMEND.tally(cfg, ballots(votes), counts)
    assert [(r["name"], r["votes"]) for r in public["rows"]] == [("阿依古丽·买买提", 5)]
    assert public["write_ins_pooled"]["votes"] == 2 and "阿依古丽买买提" not in json.dumps(public, ensure_ascii=False)
    merged = RECOMMEND.merge(cfg, review["merge_proposals"], ballots(votes))
    review = RECOMMEND.write_in_review(merged, ballots(votes), counts)
    assert [(r["name"], r["votes"], r["spellings"]) for r in review["result"]["rows"]] == [
        ("阿依古丽·买买提", 7, ["阿依古丽·买买提", "阿依古丽买买提"])
    ]
    assert review["merges"] and not review["merge_proposals"]
    public = RECOMMEND.tally(merged, ballots(votes), counts)
    assert [(r["name"], r["votes"]) for r in public["rows"]] == [("阿依古丽·买买提", 7)]
    assert public["merges_confirmed"] == 1 and public["write_ins_pooled"] is None
    assert "阿依古丽买买提" not in json.dumps(public, ensure_ascii=False)  # the merged variant is never shown
    with pytest.raises(KindConfigError):
        RECOMMEND.merge(cfg, [{"from": "无此人", "to": "阿依古丽·买买提"}], ballots(votes))


def test_recommend_configuration_refusals():
    with pytest.raises(KindConfigError, match="须允许另行推荐"):
        RECOMMEND.parse_config({"seats": 2, "write_ins": False})
    with pytest.raises(KindConfigError, match="推荐名额"):
        RECOMMEND.parse_config({"seats": 0, "candidates": ["张伟"]})


# -- 民主测评 (docs/rules.md#evaluate) ---------------------------------------------------------------


def eval_config(**extra):
    raw = {"subjects": [{"name": "某局领导班子", "category": "team"}, "张伟", "王芳"], **extra}
    return EVALUATE.parse_config(raw)


def grades(*values):
    return {"grades": list(values)}


def test_evaluate_rates_and_mean_over_rated_ballots_as_in_rules_section_4():
    # 10 ballots, 4 优秀, 4 称职, 2 弃权 → 优秀率 4/8 = 50%, mean (400+320)/8 = 90, 弃权 2
    cfg = EVALUATE.parse_config({"subjects": ["张伟"]})
    votes = [grades("0")] * 4 + [grades("1")] * 4 + [grades("abstain")] * 2
    [subject] = EVALUATE.tally(cfg, ballots(votes), Counts(10, 10, 10))["subjects"]
    [cell] = subject["groups"]
    assert cell["top_rate"] == "50.00%" and cell["mean"] == "90" and cell["abstain"] == 2
    assert cell["good_or_better_rate"] == "100.00%" and cell["fail_rate"] == "0.00%"
    # the clerk may choose 收回票数 instead: then 40% and 72
    cfg = EVALUATE.parse_config({"subjects": ["张伟"], "denominator": "cast"})
    [cell] = EVALUATE.tally(cfg, ballots(votes), Counts(10, 10, 10))["subjects"][0]["groups"]
    assert cell["top_rate"] == "40.00%" and cell["mean"] == "72"


def test_evaluate_flags_per_group_and_pooled():
    # 0/10, 0/6, 2/5 不称职: the third group's flag fires, the pooled 2/21 does not
    cfg = EVALUATE.parse_config(
        {"subjects": ["张伟"], "weights": {"甲": "0.4", "乙": "0.3", "丙": "0.3"}, "open_groups": ["丙"]}
    )
    votes = (
        [BallotData(1, True, grades("1"))] * 10
        + [BallotData(2, True, grades("1"))] * 6
        + [BallotData(3, True, grades("1"))] * 3
        + [BallotData(3, True, grades("3"))] * 2
    )
    counts = Counts(21, 21, 21, groups=((1, "甲"), (2, "乙"), (3, "丙")), closed_groups=frozenset({1, 2, 3}))
    [subject] = EVALUATE.tally(cfg, votes, counts)["subjects"]
    flags = [g["flags"] for g in subject["groups"]]
    assert flags[0] == [] and flags[1] == [] and flags[2] == ["不称职票超过三分之一（2/5）"]
    assert subject["pooled_flags"] == []
    # composite = 0.4 × 80 + 0.3 × 80 + 0.3 × (3×80 + 2×0)/5 = 32 + 24 + 14.4 = 70.4
    assert subject["composite"] == "352/5" and subject["composite_display"] == "70.40"


def test_evaluate_withholds_a_small_group_and_any_composite_that_would_reveal_it():
    cfg = EVALUATE.parse_config({"subjects": ["张伟", "王芳"], "weights": {"干部群众": "0.6", "分管领导": "0.4"}})
    votes = [BallotData(1, True, grades("0", "1"))] * 8 + [BallotData(2, True, grades("3", "0"))] * 2
    counts = Counts(10, 10, 10, groups=((1, "干部群众"), (2, "分管领导")), closed_groups=frozenset({1, 2}))
    result = EVALUATE.tally(cfg, votes, counts)
    for subject in result["subjects"]:
        small = subject["groups"][1]
        assert small["withheld"] and "mean" not in small and "counts" not in small
        assert subject["composite"] is None and "暴露" in subject["composite_note"]
        assert subject["pooled"] is None
    # marked 不匿名 (e.g. two named 分管领导), the group is shown and the composite computed
    cfg = EVALUATE.parse_config(
        {"subjects": ["张伟", "王芳"], "weights": {"干部群众": "0.6", "分管领导": "0.4"}, "open_groups": ["分管领导"]}
    )
    result = EVALUATE.tally(cfg, votes, counts)
    zhang = next(s for s in result["subjects"] if s["name"] == "张伟")
    assert zhang["composite"] == "60"  # 0.6 × 100 + 0.4 × 0


def test_evaluate_composite_waits_until_every_group_has_closed():
    cfg = EVALUATE.parse_config({"subjects": ["张伟"], "weights": {"甲": "1/2", "乙": "1/2"}})
    votes = [BallotData(1, True, grades("0"))] * 5 + [BallotData(2, True, grades("1"))] * 5
    counts = Counts(10, 10, 10, groups=((1, "甲"), (2, "乙")), closed_groups=frozenset({1}))
    [subject] = EVALUATE.tally(cfg, votes, counts)["subjects"]
    assert subject["composite"] is None and "待所有测评组结束" in subject["composite_note"]
    assert subject["groups"][0]["mean"] == "100"  # the closed group's own figures are there


def test_evaluate_ranking_within_category_ties_share_a_rank_in_stroke_order():
    cfg = eval_config()
    votes = [grades("0", "1", "1")] * 5
    result = EVALUATE.tally(cfg, ballots(votes), Counts(5, 5, 5))
    assert result["rankings"]["个人"] == [
        {"name": "王芳", "rank": 1, "composite": "80.00"},
        {"name": "张伟", "rank": 1, "composite": "80.00"},
    ]
    assert result["rankings"]["班子"][0]["rank"] == 1


def test_evaluate_weights_must_sum_to_one_exactly():
    with pytest.raises(KindConfigError, match="之和须恰好为 1，现为 99/100"):
        EVALUATE.parse_config({"subjects": ["张伟"], "weights": {"甲": "0.33", "乙": "0.33", "丙": "0.33"}})
    EVALUATE.parse_config({"subjects": ["张伟"], "weights": {"甲": "1/3", "乙": "1/3", "丙": "1/3"}})


def test_evaluate_quota_percent_that_allows_none_is_refused_and_a_count_quota_holds():
    six = ["张一", "张二", "张三", "张四", "张五", "张六"]
    with pytest.raises(KindConfigError, match=r"⌊15% × 6⌋ = 0"):
        EVALUATE.parse_config({"subjects": six, "quotas": [{"grade": "优秀", "percent": "15%"}]})
    cfg = EVALUATE.parse_config({"subjects": six, "quotas": [{"grade": "优秀", "max": 1}]})
    with pytest.raises(CastError, match="不超过 1 人，本票评了 2 人"):
        EVALUATE.parse_cast(cfg, form(s0="0", s1="0"))
    assert EVALUATE.parse_cast(cfg, form(s0="0", s1="1"))["grades"][:3] == ["0", "1", "abstain"]


def test_evaluate_mixed_scales_and_unknown():
    cfg = eval_config(allow_unknown=True)
    team = cfg["subjects"][0]
    assert team["category"] == "team" and EVALUATE.options(cfg, team)[0] == ("0", "好")
    assert ("unknown", "不了解") in EVALUATE.options(cfg, cfg["subjects"][1])
    votes = [grades("1", "unknown", "0")] * 5
    result = EVALUATE.tally(cfg, ballots(votes), Counts(5, 5, 5))
    zhang = next(s for s in result["subjects"] if s["name"] == "张伟")
    assert zhang["groups"][0]["unknown"] == 5 and zhang["groups"][0]["rated"] == 0
    assert zhang["composite"] is None


# -- 差额票决 (docs/rules.md#contest) ----------------------------------------------------------------


def contest_config(seats=1, candidates=("张伟", "王芳"), **extra):
    return CONTEST.parse_config(
        {"posts": [{"post": "副局长", "seats": seats, "candidates": list(candidates)}], **extra}
    )


def marks(*chosen):
    return {"marks": [list(chosen)]}


def test_contest_winner_needs_the_most_votes_and_over_half_of_members():
    cfg = contest_config(candidates=("张伟", "王芳", "李强"))  # listed 王芳 李强 张伟
    votes = [marks(0)] * 6 + [marks(1)] * 5
    [post] = CONTEST.tally(cfg, ballots(votes), Counts(11, 11, 11))["posts"]
    assert post["elected"] == ["王芳"] and post["unfilled"] == 0  # 6 > 11/2
    votes = [marks(0)] * 5 + [marks(1)] * 4 + [marks(2)] * 2
    [post] = CONTEST.tally(cfg, ballots(votes), Counts(11, 11, 11))["posts"]
    assert post["elected"] == [] and post["unfilled"] == 1  # 5 of 11 is not 超过半数
    # next round: ⌈1.5 × 1⌉ = 2 unelected with the most votes
    assert post["next_round"]["candidates"] == ["王芳", "李强"]


def test_contest_tie_at_the_last_seat_leaves_it_unfilled_and_the_tied_go_to_the_next_round():
    cfg = contest_config(seats=2, candidates=("张伟", "王芳", "李强", "刘洋"))  # 王芳 刘洋 李强 张伟
    votes = [marks(0, 1)] * 6 + [marks(0, 2)] * 3  # 王芳 9, 刘洋 6, 李强 3
    [post] = CONTEST.tally(cfg, ballots(votes), Counts(9, 9, 9))["posts"]
    assert post["elected"] == ["王芳", "刘洋"]
    votes = [marks(0, 1)] * 3 + [marks(0, 2)] * 3 + [marks(1, 2)] * 3  # 6, 6, 6 of 9: all past half
    [post] = CONTEST.tally(cfg, ballots(votes), Counts(9, 9, 9))["posts"]
    assert post["elected"] == [] and post["tied"] == ["王芳", "刘洋", "李强"] and post["unfilled"] == 2
    assert post["next_round"]["candidates"] == ["王芳", "刘洋", "李强"]
    votes = [marks(0, 1)] * 5 + [marks(0, 2)] * 4  # 王芳 9, 刘洋 5 (> 4.5), 李强 4
    [post] = CONTEST.tally(cfg, ballots(votes), Counts(9, 9, 9))["posts"]
    assert post["elected"] == ["王芳", "刘洋"]


def test_contest_next_round_configuration_and_quorum():
    cfg = contest_config(candidates=("张伟", "王芳", "李强"))
    votes = [marks(0)] * 5 + [marks(1)] * 5 + [marks(2)] * 1
    result = CONTEST.tally(cfg, ballots(votes), Counts(11, 11, 11))
    nxt = CONTEST.next_round(cfg, result)
    assert nxt["round"] == 2 and nxt["posts"] == [{"post": "副局长", "seats": 1, "candidates": ["王芳", "李强"]}]
    second = CONTEST.parse_config(nxt)
    assert second["rule"] == cfg["rule"] and second["round"] == 2
    assert CONTEST.open_problems(cfg, Counts(11, 7, 11))  # 7 of 11 is below ⅔
    assert CONTEST.open_problems(cfg, Counts(11, 8, 11)) == []


def test_contest_refuses_too_many_marks_and_no_real_contest():
    cfg = contest_config(candidates=("张伟", "王芳", "李强"))
    with pytest.raises(CastError, match="只能选 1 名"):
        CONTEST.parse_cast(cfg, form(p0=["0", "1"]))
    with pytest.raises(KindConfigError, match="人选须多于名额"):
        contest_config(seats=2, candidates=("张伟", "王芳"))


# -- 评委打分 (docs/rules.md#score) ------------------------------------------------------------------


def test_score_trims_totals_by_default_and_sub_items_on_request():
    # five judges, A = 40,10,30,20,30 and B = 10,40,20,30,30: totals 50,50,50,50,60 → 50.00;
    # per sub-item: (30+20+30)/3 + (20+30+30)/3 = 26.67 + 26.67 = 53.33
    raw = {"candidates": ["张伟"], "sub_items": [{"name": "A", "max": 50}, {"name": "B", "max": 50}]}
    sheets = [("40", "10"), ("10", "40"), ("30", "20"), ("20", "30"), ("30", "30")]
    votes = [{"scores": [list(s)]} for s in sheets]
    totals = SCORE.tally(SCORE.parse_config(raw), ballots(votes), Counts(5, 5, 5))
    assert totals["rows"][0]["final"] == "50" and totals["rows"][0]["final_display"] == "50.00"
    per_item = SCORE.tally(SCORE.parse_config({**raw, "trim": "sub_items"}), ballots(votes), Counts(5, 5, 5))
    assert per_item["rows"][0]["final"] == "160/3" and per_item["rows"][0]["final_display"] == "53.33"


def test_score_rounds_half_up_on_the_exact_fraction():
    # 725/8 = 90.625 → 90.63 (a float round() gives 90.62): eight judges, no trimming
    cfg = SCORE.parse_config({"candidates": ["张伟"], "step": "0.125", "trim": "none"})
    votes = [{"scores": [["90.625"]]}] * 8
    assert SCORE.tally(cfg, ballots(votes), Counts(8, 8, 8))["rows"][0]["final_display"] == "90.63"


def test_score_drops_high_and_low_only_with_five_judges_and_weights_groups():
    cfg = SCORE.parse_config({"candidates": ["张伟", "王芳"], "weights": {"主会场": "0.7", "分会场": "0.3"}})
    main = [{"scores": [[s], ["80"]]} for s in ("90", "95", "85", "100", "70")]  # drop 100 and 70 → 90
    sub = [{"scores": [[s], ["80"]]} for s in ("80", "90", "100")]  # 3 judges: no trimming → 90
    votes = [BallotData(1, True, c) for c in main] + [BallotData(2, True, c) for c in sub]
    counts = Counts(8, 8, 8, groups=((1, "主会场"), (2, "分会场")))
    result = SCORE.tally(cfg, votes, counts)
    zhang = result["rows"][0]
    assert [g["mean"] for g in zhang["groups"]] == ["90", "90"] and zhang["final"] == "90"
    assert zhang["groups"][0]["dropped"] == [{"part": "总分", "high": "100", "low": "70"}]
    assert not zhang["groups"][1]["trimmed"]
    assert result["ranking"] == [
        {"name": "张伟", "rank": 1, "final": "90.00"},
        {"name": "王芳", "rank": 2, "final": "80.00"},
    ]


def test_score_refuses_out_of_range_off_step_and_missing_scores():
    cfg = SCORE.parse_config({"candidates": ["张伟"]})
    with pytest.raises(CastError, match="须在 0 到 100 之间"):
        SCORE.parse_cast(cfg, form(s0_0="101"))
    with pytest.raises(CastError, match="以 0.5 分为单位"):
        SCORE.parse_cast(cfg, form(s0_0="90.3"))
    with pytest.raises(CastError, match="请为“张伟”填写得分"):
        SCORE.parse_cast(cfg, form())
    with pytest.raises(KindConfigError, match="小分项满分之和须等于总分 100"):
        SCORE.parse_config({"candidates": ["张伟"], "sub_items": [{"name": "A", "max": 40}]})


# -- properties ----------------------------------------------------------------------------------


def random_form(kind, cfg, rng):
    """Any form a phone could submit, legal or not."""
    fields = {}
    if kind is RECOMMEND:
        for i in range(len(cfg["candidates"])):
            if rng.random() < 0.4:
                fields[f"c{i}"] = ["1"]
        for i in range(cfg["seats"]):
            if rng.random() < 0.2:
                fields[f"w{i}"] = [rng.choice(["孙丽", "周敏", "陳靜", "王芳"])]
    elif kind is CONTEST:
        for i, post in enumerate(cfg["posts"]):
            fields[f"p{i}"] = [str(j) for j in range(len(post["candidates"])) if rng.random() < 0.4]
    elif kind is EVALUATE:
        for i, subject in enumerate(cfg["subjects"]):
            values = [v for v, _ in EVALUATE.options(cfg, subject)]
            if rng.random() < 0.9:
                fields[f"s{i}"] = [rng.choice(values)]
    return fields


def accepted_casts(kind, cfg, rng, n) -> list[dict]:
    """The choices of those of n random forms the kind accepts."""
    accepted = []
    for _ in range(n):
        try:
            accepted.append(kind.parse_cast(cfg, random_form(kind, cfg, rng)))
        except CastError:
            continue
    return accepted


CONFIGS = {
    "recommend": lambda: RECOMMEND.parse_config(
        {"seats": 2, "candidates": ["张伟", "王芳", "李强"], "write_ins": True}
    ),
    "contest": lambda: CONTEST.parse_config(
        {
            "posts": [
                {"post": "甲", "seats": 2, "candidates": ["张伟", "王芳", "李强"]},
                {"post": "乙", "seats": 1, "candidates": ["刘洋", "陈静"]},
            ]
        }
    ),
    "evaluate": lambda: EVALUATE.parse_config(
        {"subjects": ["张伟", "王芳", "李强", "刘洋"], "quotas": [{"grade": "优秀", "max": 1}]}
    ),
}


@settings(max_examples=60, deadline=None)
@given(kind_key=st.sampled_from(sorted(CONFIGS)), seed=st.integers(0, 10**6), n=st.integers(0, 40))
def test_accepted_ballots_respect_limits_and_tallies_ignore_ballot_order(kind_key, seed, n):
    kind, cfg, rng = get_kind(kind_key), CONFIGS[kind_key](), random.Random(seed)
    accepted = accepted_casts(kind, cfg, rng, n)
    for choices in accepted:  # limits and quotas are never exceeded by an accepted ballot
        assert kind.check_choices(cfg, choices) == choices
        if kind is RECOMMEND:
            assert len(choices["chosen"]) + len(choices["written"]) <= cfg["seats"]
        if kind is CONTEST:
            assert all(len(m) <= p["seats"] for m, p in zip(choices["marks"], cfg["posts"], strict=True))
        if kind is EVALUATE:
            assert choices["grades"].count("0") <= 1
    counts = Counts(40, 40, 40)
    first = kind.tally(cfg, ballots(accepted), counts)
    shuffled = accepted[:]
    rng.shuffle(shuffled)
    assert kind.tally(cfg, ballots(shuffled), counts) == first
    assert first["counts"]["valid"] == len(accepted)
    if kind is EVALUATE:
        for subject in first["subjects"]:
            cell = subject["groups"][0]
            if not cell["withheld"]:
                assert sum(cell["counts"]) + cell["abstain"] + cell["unknown"] == len(accepted)
    if kind is CONTEST:
        for post, result in zip(cfg["posts"], first["posts"], strict=True):
            assert sum(r["votes"] for r in result["rows"]) == sum(
                len(c["marks"][cfg["posts"].index(post)]) for c in accepted
            )
            assert len(result["elected"]) <= post["seats"]


@settings(max_examples=60, deadline=None)
@given(votes=st.lists(st.sampled_from([0, 1, 2, None]), max_size=30), extra=st.integers(0, 2))
def test_one_more_vote_never_unelects_a_winner(votes, extra):
    cfg = contest_config(candidates=("张伟", "王芳", "李强"))
    before = [marks(v) if v is not None else marks() for v in votes]
    counts = Counts(31, 31, 31)
    [post] = CONTEST.tally(cfg, ballots(before), counts)["posts"]
    for winner in post["elected"]:
        index = cfg["posts"][0]["candidates"].index(winner)
        [after] = CONTEST.tally(cfg, ballots(before + [marks(index)]), counts)["posts"]
        assert winner in after["elected"]


@settings(max_examples=40, deadline=None)
@given(scores=st.lists(st.integers(0, 200), min_size=1, max_size=12))
def test_score_is_exact_and_order_free(scores):
    cfg = SCORE.parse_config({"candidates": ["张伟"]})
    votes = [{"scores": [[str(Fraction(s, 2))]]} for s in scores]
    result = SCORE.tally(cfg, ballots(votes), Counts(12, 12, 12))
    values = sorted(Fraction(s, 2) for s in scores)
    if len(values) >= 5:
        values = values[1:-1]
    assert Fraction(result["rows"][0]["final"]) == sum(values) / len(values)
    assert SCORE.tally(cfg, ballots(list(reversed(votes))), Counts(12, 12, 12)) == result


def test_evaluate_dimensions_are_each_graded_and_pooled_per_subject():
    cfg = EVALUATE.parse_config({"subjects": ["张伟", "王芳"], "dimensions": ["德", "能"], "quotas": [{"max": 1}]})
    assert EVALUATE.form_field_names(cfg) == ["s0_0", "s0_1", "s1_0", "s1_1"]
    # 优秀 at most 1 per dimension: 张伟 德 优秀 and 王芳 能 优秀 is fine; both 德 优秀 is not
    ok = EVALUATE.parse_cast(cfg, form(s0_0="0", s0_1="1", s1_0="1", s1_1="0"))
    with pytest.raises(CastError, match="（德）"):
        EVALUATE.parse_cast(cfg, form(s0_0="0", s1_0="0"))
    assert EVALUATE.review(cfg, ok)[:2] == [("张伟（德）", "优秀"), ("张伟（能）", "称职")]
    result = EVALUATE.tally(cfg, ballots([ok] * 5), Counts(5, 5, 5))
    zhang = result["subjects"][0]["groups"][0]
    assert zhang["counts"] == [5, 5, 0, 0] and zhang["mean"] == "90"  # (5×100 + 5×80) / 10 ratings
    assert [(d["name"], d["mean"]) for d in zhang["dimensions"]] == [("德", "100"), ("能", "80")]


def test_more_ballots_than_members_present_cannot_be_finalised():
    approval = get_kind("approval")
    cfg = approval.parse_config({"nominees": ["张三"], "order": "entered"})
    result = approval.tally(cfg, ballots([{"votes": ["yes"]}] * 9), Counts(11, 8, 11))
    assert result["finalised"] is False and result["rows"][0]["passed"] is None
    assert "须重新表决" in result["warnings"][0]
    cfg = contest_config(candidates=("张伟", "王芳"))
    result = CONTEST.tally(cfg, ballots([marks(0)] * 9), Counts(11, 8, 11))
    assert result["finalised"] is False and result["posts"][0]["elected"] == []
    assert result["posts"][0]["rows"][0]["votes"] == 9  # the counts stay visible


@settings(max_examples=60, deadline=None)
@given(votes=st.lists(st.sampled_from(["yes", "no", "abstain"]), max_size=25), expected=st.integers(1, 30))
def test_one_more_yes_never_turns_passed_into_not_passed(votes, expected):
    approval = get_kind("approval")
    cfg = approval.parse_config({"nominees": ["张三"], "order": "entered"})
    counts = Counts(expected, None, expected)
    before = approval.tally(cfg, ballots([{"votes": [v]} for v in votes]), counts)["rows"][0]["passed"]
    after = approval.tally(cfg, ballots([{"votes": [v]} for v in [*votes, "yes"]]), counts)["rows"][0]["passed"]
    assert not (before and not after)


@settings(max_examples=40, deadline=None)
@given(kind_key=st.sampled_from(sorted(CONFIGS)), seed=st.integers(0, 10**6), n=st.integers(0, 30))
def test_a_recount_of_the_anonymous_export_equals_the_live_tally(kind_key, seed, n):
    import json

    from ballot.counting.export import _canonical, ballot_export, recount

    kind, cfg, rng = get_kind(kind_key), CONFIGS[kind_key](), random.Random(seed)
    accepted = accepted_casts(kind, cfg, rng, n)
    written = sorted({w for c in accepted for w in c.get("written", [])}) if kind is RECOMMEND else []
    if len(written) >= 2:  # a merge the clerk confirmed: into another spelling or a listed candidate
        cfg = kind.merge(cfg, [{"from": written[0], "to": rng.choice([written[-1], "王芳"])}], ballots(accepted))
    counts = Counts(40, 35, 40, groups=((1, "全体"),), closed_groups=frozenset({1}))
    live = kind.tally(cfg, ballots(accepted), counts)
    export = json.loads(json.dumps(ballot_export("议题", kind_key, cfg, ballots(accepted), counts), ensure_ascii=False))
    assert recount(export) == live
    if kind is RECOMMEND:  # no ballot carries write-in text; the write-ins come apart, as totals
        assert all(set(b["choices"]) == {"chosen"} for b in export["ballots"]) and "write_ins" in export
    keys = [_canonical(b) for b in export["ballots"]]
    assert keys == sorted(keys)  # canonical order: nothing of the order ballots arrived in
    assert "receipt" not in json.dumps(export)
