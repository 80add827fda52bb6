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

from ballot.counting.kinds import KINDS, get_kind
from ballot.paper.paper import SHEET_REASONS

from . import reportfonts
from .report import _environment

FORM_NAMES = {key: kind.paper_form_name for key, kind in KINDS.items()}
MAX_COPIES = 2000
ROW_WIDTH = 178  # mm between the page margins
NAME_CHAR = 4.4  # mm a Chinese character takes in a name cell (12pt), with room to spare
NAME_EXTRA = 2.1  # mm of a name cell besides the name and its small number: padding, borders
NUMBER_DIGIT = 1.2  # mm a digit of the small number takes
MAX_PER_ROW = 10
MIN_PER_ROW = 4  # longer names wrap inside their cell
WRITE_INS_PER_ROW = 6


def instructions(kind: str, config: dict) -> list[str]:
    """The rules printed on the form; each matches what paper.parse does with the marks (the
    kind's own words: kinds/<kind>/paper.py)."""
    return get_kind(kind).paper_instructions(config)


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
    view.update(kind_impl.paper_form_view(config, _Layout))
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


class _Layout:
    """The page's geometry, lent to a kind that lays names out in rows (差额选票, 推荐票)."""

    WRITE_INS_PER_ROW = WRITE_INS_PER_ROW
    name_rows = staticmethod(name_rows)
    even_rows = staticmethod(_even_rows)
    box_height = staticmethod(_box_height)
