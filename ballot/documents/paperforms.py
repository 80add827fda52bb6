"""Printed paper ballots, as official forms look: 表决票, 差额选票, 推荐票, 测评表, 评分表.

A4, the meeting and item title, the instructions that decide validity (the same rules paper.py
applies when the sheets are entered), the names in the item's order with the rule printed
(姓氏笔画 as on the phone), boxes big enough to mark by pen, and a space for the 监票人's stamp.
Every copy is the same page: no serial number or anything else that could tell sheets apart.
The small digit beside each column is the key the 计票人 types for it; on 推荐票 and 差额选票 the
names wrap into rows, each with its boxes under it, numbered in the order the keys are typed
(row after row, as the entry page lists them), so any number of names prints whole.
"""

from __future__ import annotations

import math
import unicodedata

from ballot.counting.kinds import get_kind
from ballot.paper.paper import SHEET_REASONS, _grade_options

from . import reportfonts
from .report import _environment

FORM_NAMES = {
    "approval": "表决票",
    "contest": "差额选票",
    "recommend": "推荐票",
    "evaluate": "测评表",
    "score": "评分表",
}
MAX_COPIES = 2000
ROW_WIDTH = 178  # mm between the page margins
NAME_CHAR = 4.4  # mm a Chinese character takes in a name cell (12pt), with room to spare
NAME_EXTRA = 2.1  # mm of a name cell besides the name and its small number: padding, borders
NUMBER_DIGIT = 1.2  # mm a digit of the small number takes
MAX_PER_ROW = 10
MIN_PER_ROW = 4  # longer names wrap inside their cell
WRITE_INS_PER_ROW = 6


def instructions(kind: str, config: dict) -> list[str]:
    """The rules printed on the form; each matches what paper.parse does with the marks."""
    if kind == "approval":
        return [
            "请在每名人选右侧“同意”“不同意”“弃权”三格中选一格划○。",
            "不划的视为弃权；同一人选划两个以上○的，本票无效；符号划在格外或无法辨认的，本票无效。",
        ]
    if kind == "contest":
        seats = "、".join(f"“{p['post']}”最多划 {p['seats']} 人" for p in config["posts"])
        return [
            "同意的在姓名下方空格内划○，不同意或弃权的不划。",
            f"{seats}；多划的本票无效；符号划在格外或无法辨认的，本票无效。",
        ]
    if kind == "recommend":
        lines = [f"推荐的在姓名下方空格内划○，连同另行推荐的人选，合计不得超过 {config['seats']} 名，超过的本票无效。"]
        if config["write_ins"]:
            lines.append("另行推荐的，请在“另行推荐人选”栏内写上姓名；同一人既划○又写姓名或写了两次的，只算推荐一次。")
        lines.append("不划、不写的视为弃权（空白票有效）；符号划在格外或无法辨认的，本票无效。")
        return lines
    if kind == "evaluate":
        lines = [
            "请对每名测评对象在一个等次下的空格内划√；不划的视为弃权；同一对象划两个以上等次的，该对象的评价无效。"
        ]
        lines += [f"{q['words']}，超过的，这些对象的评价无效。" for q in config["quotas"]]
        return lines
    if kind == "score":
        score = get_kind("score")
        parts = score.parts(config)
        ranges = "；".join(
            f"{label} {score.number(config['min']) if len(parts) == 1 else '0'}–{score.number(str(high))} 分"
            for label, high in parts
        )
        return [
            f"请在每名人选的空格内填写分数（{ranges}，以 {score.number(config['step'])} 分为单位）。",
            "漏评、分数超出范围或无法辨认的，本表无效。",
        ]
    raise ValueError(kind)


def form_html(meeting: dict, item_title: str, kind: str, config: dict, group: str, *, pages: int = 1) -> str:
    """The form as HTML; `pages` > 1 prints 本票共 N 页 · 第 n 页 at the foot (the same on every copy)."""
    kind_impl = get_kind(kind)
    view = {
        "kind": kind,
        "config": config,
        "form_name": FORM_NAMES[kind],
        "instructions": instructions(kind, config),
        "pages": pages,
    }
    if kind == "evaluate":
        units = kind_impl.units(config)
        view["rows"] = [
            {
                "name": config["subjects"][i]["name"] + (f"（{d}）" if d else ""),
                "post": config["subjects"][i].get("post", ""),
                "grades": [label for _, label in _grade_options(config, config["subjects"][i])],
            }
            for i, d, _ in units
        ]
        view["grade_header"] = view["rows"][0]["grades"] if view["rows"] else []
        view["same_scale"] = all(r["grades"] == view["grade_header"] for r in view["rows"])
        view["max_grades"] = max((len(r["grades"]) for r in view["rows"]), default=1)
    if kind == "score":
        view["parts"] = [label for label, _ in kind_impl.parts(config)]
    if kind == "contest":
        at, view["posts"] = 0, []
        for post in config["posts"]:
            view["posts"].append({**post, "rows": name_rows(post["candidates"], at)})
            at += len(post["candidates"])
        view["box_height"] = _box_height(sum(len(p["rows"]) for p in view["posts"]) + len(view["posts"]) // 2)
    if kind == "recommend":
        view["rows"] = name_rows(config["candidates"])
        view["write_in_rows"] = _even_rows(
            list(range(config["seats"])) if config["write_ins"] else [], WRITE_INS_PER_ROW
        )
        lines = len(view["rows"]) + len(view["write_in_rows"])
        view["box_height"] = _box_height(lines)
        view["write_in_height"] = 13 if lines <= 6 else 11
    return (
        _environment()
        .get_template("paper/form.html")
        .render(
            meeting=meeting,
            title=item_title,
            group=group,
            order_text=(config.get("order") or {}).get("text", ""),
            fonts=reportfonts.css_family(),
            void_reasons=SHEET_REASONS,
            **view,
        )
    )


def name_rows(names: list[str], first: int = 0) -> list[list[tuple[int, str]]]:
    """Names with their key numbers (from first + 1) in rows that fit the page width: as many per
    row as the longest name allows (at most MAX_PER_ROW), the rows about equally full, row-major."""
    if not names:
        return []
    cell = max(_width(n) for n in names) * NAME_CHAR + NAME_EXTRA + NUMBER_DIGIT * len(str(first + len(names)))
    fit = max(MIN_PER_ROW, min(MAX_PER_ROW, int(ROW_WIDTH // cell)))
    return _even_rows([(first + i + 1, n) for i, n in enumerate(names)], fit)


def _box_height(lines: int) -> int:
    """mm of a mark box: roomy for a short list, smaller as rows of names add up, so that a list
    of about 40 names still fits the page (a longer one runs onto further pages)."""
    return 18 if lines <= 4 else 14 if lines <= 6 else 11


def _width(name: str) -> float:
    """A name's width in Chinese characters (Latin letters and digits take about half)."""
    return sum(1 if unicodedata.east_asian_width(ch) in "WF" else 0.55 for ch in name)


def _even_rows(values: list, most: int) -> list[list]:
    """values in as few rows of at most `most` as possible, the rows about equally full."""
    if not values:
        return []
    size = math.ceil(len(values) / math.ceil(len(values) / most))
    return [values[i : i + size] for i in range(0, len(values), size)]


def render(meeting: dict, item_title: str, kind: str, config: dict, group: str, copies: int) -> bytes:
    """`copies` identical sheets (one layout, its pages repeated): one sheet per voter. A sheet is
    one page unless its list of names is too long for one; then each page is numbered."""
    from weasyprint import HTML

    if not 1 <= copies <= MAX_COPIES:
        raise ValueError(f"份数须在 1 到 {MAX_COPIES} 之间")
    document = HTML(string=form_html(meeting, item_title, kind, config, group)).render()
    if len(document.pages) > 1:  # a long list: every page says which of the sheet's pages it is
        html = form_html(meeting, item_title, kind, config, group, pages=len(document.pages))
        document = HTML(string=html).render()
    return document.copy(document.pages * copies).write_pdf()
