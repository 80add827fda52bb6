"""Paper sheets at their edges: long lists of names printed whole on the 推荐票 and 差额选票, one
write-in box per place, a person marked and written in (or written twice) counted once before the
places limit (docs/rules.md#recommend), and typed lines that can only ever give a sheet or a PaperError."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_paper import enter_paper, finish, result, setup_item

from ballot.counting.kinds import get_kind
from ballot.documents import paperforms
from ballot.paper import paper

MEETING = {"title": "纸质票测试", "date": "2026-01-01"}
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "芳强伟洋静敏磊丽杰霞鹏燕军红峰涛平亮超斌"
NAMES_40 = [s + g for s, g in zip(SURNAMES, GIVEN, strict=True)] + [
    s + g + "华" for s, g in zip(SURNAMES, reversed(GIVEN), strict=True)
]


def recommend(names: list[str], seats: int, write_ins: bool = True) -> dict:
    return get_kind("recommend").parse_config({"candidates": names, "seats": seats, "write_ins": write_ins})


def pdf_pages(tmp_path, pdf: bytes) -> list[str]:
    if shutil.which("pdftotext") is None:
        pytest.skip("poppler-utils (scripts/setup.sh test)")
    path = tmp_path / "form.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout
    return [p for p in text.split("\f") if p.strip()]


# -- 1. long lists print whole --------------------------------------------------------------


@pytest.mark.parametrize("count, seats", [(22, 8), (40, 12)])
def test_every_name_and_one_write_in_box_per_place_is_printed_on_the_recommendation_form(tmp_path, count, seats):
    config = recommend(NAMES_40[:count], seats)
    pages = pdf_pages(tmp_path, paperforms.render(MEETING, "民主推荐", "recommend", config, "全体", 2))
    assert len(pages) == 2 and pages[0] == pages[1]  # one page a sheet, every copy the same
    missing = [n for n in config["candidates"] if n not in pages[0]]
    assert missing == []
    html = paperforms.form_html(MEETING, "民主推荐", "recommend", config, "全体")
    write_in = html[html.index('<table class="write-in">') :]
    write_in = write_in[: write_in.index("</table>")]
    assert write_in.count("<td></td>") == seats  # not capped at 5


def test_names_wrap_in_rows_numbered_in_the_order_the_keys_are_typed():
    config = recommend(NAMES_40, 3)
    rows = paperforms.name_rows(config["candidates"])
    assert len(rows) > 1 and all(len(r) <= paperforms.MAX_PER_ROW for r in rows)
    assert [n for row in rows for _, n in row] == config["candidates"]  # row after row, the item's order
    assert [k for row in rows for k, _ in row] == list(range(1, 41))
    # the number printed beside a name is its place in the entry page's list of boxes
    labels = [b.label for b in paper.boxes("recommend", config)]
    html = paperforms.form_html(MEETING, "民主推荐", "recommend", config, "全体")
    printed = re.findall(r'<span class="seq">(\d+)</span>([^<]+)</td>', html)
    assert [(int(k), n) for k, n in printed] == [(i + 1, n) for i, n in enumerate(labels)]
    # long names: fewer to a row, still every name in order
    long_names = [n + "·阿不都热合曼" for n in NAMES_40[:12]]
    rows = paperforms.name_rows(long_names)
    assert max(len(r) for r in rows) < 8 and [n for row in rows for _, n in row] == long_names


def test_every_candidate_of_a_long_contest_is_printed_with_numbers_across_posts(tmp_path):
    config = get_kind("contest").parse_config(
        {
            "posts": [
                {"post": "局长", "seats": 2, "candidates": NAMES_40[:18]},
                {"post": "副局长", "seats": 3, "candidates": NAMES_40[18:]},
            ]
        }
    )
    pages = pdf_pages(tmp_path, paperforms.render(MEETING, "差额票决", "contest", config, "常委", 2))
    assert len(pages) == 2 and pages[0] == pages[1]
    assert [n for p in config["posts"] for n in p["candidates"] if n not in pages[0]] == []
    html = paperforms.form_html(MEETING, "差额票决", "contest", config, "常委")
    printed = re.findall(r'<span class="seq">(\d+)</span>([^<]+)</td>', html)
    labels = [b.label.split("：", 1)[1] for b in paper.boxes("contest", config)]
    assert [(int(k), n) for k, n in printed] == [(i + 1, n) for i, n in enumerate(labels)]


def test_a_list_longer_than_a_page_runs_on_with_page_numbers_the_same_on_every_copy(tmp_path):
    names = [s + g + "明" for s in SURNAMES for g in GIVEN[:6]]  # 120 names
    config = recommend(names, 10)
    pages = pdf_pages(tmp_path, paperforms.render(MEETING, "民主推荐", "recommend", config, "全体", 2))
    per_sheet = len(pages) // 2
    assert per_sheet > 1 and pages[:per_sheet] == pages[per_sheet:]
    sheet = "".join(pages[:per_sheet])
    assert [n for n in names if n not in sheet] == []
    assert f"本票共 {per_sheet} 页 · 第 {per_sheet} 页" in pages[per_sheet - 1]


# -- 2. one person recommended twice is one recommendation ----------------------------------


def test_a_repeated_name_counts_once_and_then_the_places_limit_applies():
    config = recommend(["王芳", "李强", "张伟"], 2)  # printed 王芳, 李强, 张伟
    assert config["candidates"] == ["王芳", "李强", "张伟"]
    marked_and_written = paper.parse("recommend", config, "100+王芳")
    assert marked_and_written.valid and marked_and_written.choices == {"chosen": [0], "written": []}
    assert marked_and_written.line == "100+王芳"  # the two entries compare what was typed
    twice = paper.parse("recommend", config, "000+赵敏，赵敏")
    assert twice.valid and twice.choices == {"chosen": [], "written": ["赵敏"]}
    spaced = paper.parse("recommend", config, "000+赵敏,赵 敏")  # one name, spaced when typed
    assert spaced.valid and spaced.choices == {"chosen": [], "written": ["赵敏"]}
    two = paper.parse("recommend", config, "100+王芳,赵敏")  # 2 persons for 2 places
    assert two.valid and two.choices == {"chosen": [0], "written": ["赵敏"]}
    written_listed = paper.parse("recommend", config, "000+李强,李强,赵敏")
    assert written_listed.valid and written_listed.choices == {"chosen": [1], "written": ["赵敏"]}
    for line in ("110+赵敏", "100+王芳,赵敏,钱七", "000+赵敏,钱七,孙八,赵敏"):  # 3 persons
        sheet = paper.parse("recommend", config, line)
        assert (sheet.valid, sheet.reason) == (False, "overvote")
    blank = paper.parse("recommend", get_kind("recommend").parse_config({"seats": 2}), "+")  # 非定位推荐, blank
    assert (blank.line, blank.valid, blank.choices) == ("+", True, {"chosen": [], "written": []})
    with pytest.raises(paper.PaperError, match="没有另行推荐栏"):
        paper.parse("recommend", recommend(["王芳", "李强"], 1, write_ins=False), "10+王芳")


def test_the_form_says_a_repeated_name_counts_once():
    lines = paperforms.instructions("recommend", recommend(["王芳"], 2))
    assert any("只算推荐一次" in line for line in lines)
    assert not any(
        "只算推荐一次" in line for line in paperforms.instructions("recommend", recommend(["王芳"], 2, False))
    )


def test_repeated_names_on_paper_are_counted_once(app, world):
    toml = """
[[items]]
title = "民主推荐"
kind = "recommend"
seats = 2
candidates = ["王芳", "李强", "张伟"]
write_ins = true
"""
    gid, item_id = setup_item(app, world, toml, 10, 8, [])
    enter_paper(world, item_id, gid, 4, ["100+王芳", "000+赵敏,赵敏", "100+王芳,赵敏", "110+赵敏"])
    finish(world, item_id)
    r = result(world, item_id)
    assert (r["counts"]["cast"], r["counts"]["valid"], r["counts"]["invalid"]) == (4, 3, 1)
    votes = {x["name"]: x["votes"] for x in r["rows"]}
    assert votes["王芳"] == 2 and votes["李强"] == 0
    # 赵敏 once per sheet: 2 ballots, fewer than k = 5, so counted exactly but not named
    assert r["write_ins_pooled"] == {"persons": 1, "votes": 2, "label": "其他（2 票）", "meets_threshold": None}


# -- 3. scores, and every line either a sheet or a PaperError --------------------------------


def score_config(**extra) -> dict:
    return get_kind("score").parse_config({"candidates": ["张伟", "王芳"], **extra})


@pytest.mark.parametrize(
    "text",
    [
        "1" + "0" * 400 + ".5",
        "1e999999999",
        "1E5",
        "85.123456789",
        "1/2",
        "+85",
        "85.",
        ".5",
        "NaN",
        "inf",
        "٨٥",
        "0x55",
    ],
)
def test_a_score_that_is_not_a_short_plain_decimal_is_refused_at_once(text):
    started = time.monotonic()
    with pytest.raises(paper.PaperError, match="分数“.*”无法识别"):
        paper.parse("score", score_config(), f"90 {text}")
    assert time.monotonic() - started < 0.5


def test_scores_are_read_exactly_and_compare_equal_however_typed():
    config = score_config()
    assert paper.parse("score", config, "85.50 090").line == "85.5 90"
    assert paper.parse("score", config, "８５．５，１００").line == "85.5 100"  # typed with a Chinese input method
    sheet = paper.parse("score", config, "85.5 100")
    assert sheet.valid and sheet.choices == {"scores": [["171/2"], ["100"]]}
    off_step = paper.parse("score", config, "85.25 90")  # written on the sheet: 无效, as the form says
    assert (off_step.valid, off_step.reason, off_step.line) == (False, "range", "85.25 90")
    fine = score_config(step="0.25")
    assert paper.parse("score", fine, "85.25 90").valid


CONFIGS = {
    "approval": get_kind("approval").parse_config({"nominees": ["张三", "李四"]}),
    "contest": get_kind("contest").parse_config(
        {"posts": [{"post": "局长", "seats": 1, "candidates": ["张伟", "王芳", "李强"]}]}
    ),
    "recommend": recommend(["王芳", "李强"], 2),
    "recommend_open": get_kind("recommend").parse_config({"seats": 3}),
    "evaluate": get_kind("evaluate").parse_config({"subjects": ["张三", "李四"], "quotas": [{"max": 1}]}),
    "score": score_config(),
    "score_parts": get_kind("score").parse_config(
        {"candidates": ["张伟"], "sub_items": [{"name": "内容", "max": 60}, {"name": "表达", "max": 40}]}
    ),
}
TYPED = "0123456789xX+-*.，,、 。．０５王芳李强赵敏 eE/١"
TOKENS = ["0", "1", "2", "x", "+", "-", "*", ",", "、", "王芳", "赵敏", " ", "85.5", "１００", "1/2", "nan", "٣"]
NUMBERS = st.from_regex(r"\A[0-9]{1,4}(\.[0-9]{1,4})?([eE][+-]?[0-9]{1,4})?\Z")
LINES = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=TYPED, max_size=30),
    st.lists(st.one_of(st.sampled_from(TOKENS), NUMBERS), max_size=8).map("".join),
    st.lists(st.one_of(st.sampled_from(TOKENS), NUMBERS), max_size=6).map(" ".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(line=LINES)
def test_any_typed_line_is_a_sheet_or_a_paper_error(line):
    for name, config in CONFIGS.items():
        kind = name.split("_")[0]
        try:
            sheet = paper.parse(kind, config, line)
        except paper.PaperError as exc:
            assert str(exc)
        else:
            assert isinstance(sheet, paper.Sheet)
            assert paper.parse(kind, config, sheet.line) == sheet  # the canonical line reads the same
