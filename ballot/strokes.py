"""姓氏笔画 order: the order official Chinese name lists use (RULES.md §6).

Names compare character by character, surname first. A character compares by
1. its stroke count (fewer first),
2. its stroke sequence folded into the five classes 横 竖 撇 点 折 (GB 13000.1 字序规范:
   提 → 横, 竖钩 → 竖, 捺 → 点, every bent or hooked form → 折), stroke by stroke,
3. the finer stroke forms where the five classes tie (先主后附: 竖 before 竖钩, so 干 before 于),
4. its code point, a fixed order for the few full ties left (叶/申/甲).
A character is compared whole before the next one, so two surnames never interleave.

Same surname: 单名优先 (Xinhua's lists: 李希, 李强, 李干杰) puts a one-character given name before
longer ones; 逐字比较 compares the given names character by character (陈学敏, 陈春, 陈清州).

Names are normalised for comparison only (NFKC, spaces and the · of ethnic names dropped) and the
order is total: two different strings never compare equal, so ballots and reports always agree.
Characters with incomplete data sort deterministically after the known ones and are reported by
`data_gaps`, never guessed. Data: ballot/data/strokes.tsv (sources in ballot/data/STROKES.md).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable

DATA = Path(__file__).parent / "data" / "strokes.tsv"

# cnchar stroke letter -> (five-class digit, rank of the form within its class: main form first).
# 折 forms follow the order of GB 13000.1 字符集汉字折笔规范: 横-initial, 竖-initial, 撇-initial, then 钩.
_FORMS = {
    "1": "ji",  # 横, 提
    "2": "fg",  # 竖, 竖钩
    "3": "s",  # 撇
    "4": "kdl",  # 点, 左点, 捺
    "5": "cerpvaowqbhxuznmyt",  # 横折 横撇/横钩 横折钩 横折提 横折折/横折弯 横折折撇 横斜钩 横折折折钩 横折折折
    #                             竖弯/竖折 竖提 竖折撇 竖弯钩 竖折折钩 撇折 撇点 斜钩/卧钩 弯钩
}
STROKE_CLASS = {letter: cls for cls, letters in _FORMS.items() for letter in letters}
STROKE_FORM = {letter: chr(ord("a") + letters.index(letter)) for letters in _FORMS.values() for letter in letters}
CLASS_NAMES = {"1": "横", "2": "竖", "3": "撇", "4": "点", "5": "折"}

# Compound surnames (复姓) common enough that a three-character name starting with one is 复姓 + 单名.
COMPOUND_SURNAMES = frozenset(
    "欧阳 司马 上官 诸葛 皇甫 尉迟 公孙 令狐 慕容 长孙 宇文 司徒 司空 夏侯 轩辕 端木 独孤 南宫 西门 呼延 澹台"
    " 申屠 万俟 钟离 淳于 赫连 拓跋 完颜 公羊 东郭 闻人 歐陽 司馬 諸葛 長孫 軒轅 獨孤 南宮 鍾離".split()
)
# Dropped for comparison: the separators of ethnic and foreign names (· and its look-alikes).
_SEPARATORS = frozenset("·•‧∙・･.．-‐–—")

SINGLE_GIVEN_FIRST = "单名优先"
CHAR_BY_CHAR = "逐字比较"

# Tiers of a character key: known characters first, then those with a count but no sequence, digits,
# Latin letters, and last anything without data.
_HAN, _DIGIT, _LATIN, _OTHER = 0, 1, 2, 3


@dataclass(frozen=True)
class Stroke:
    count: int
    classes: str  # five-class digits, '' if the sequence is unknown
    forms: str
    source: str  # m manual, o cnchar-order, t cnchar-trad, d derived, u count only


@lru_cache(maxsize=1)
def table() -> dict[str, Stroke]:
    result = {}
    with DATA.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            char, count, seq, source = line.rstrip("\n").split("\t")
            result[char] = Stroke(
                int(count),
                "".join(STROKE_CLASS[s] for s in seq),
                "".join(STROKE_FORM[s] for s in seq),
                source,
            )
    return result


def normalise(name: str) -> str:
    """The form names are compared in: NFKC (full-width → half-width), no spaces, no ·."""
    text = unicodedata.normalize("NFKC", name)
    return "".join(ch for ch in text if not ch.isspace() and ch not in _SEPARATORS and ch.isprintable())


@lru_cache(maxsize=65536)
def char_key(ch: str) -> tuple:
    data = table().get(ch)
    if data is not None:
        # a count without a sequence sorts after every known sequence of that count ('9' > '5')
        return (_HAN, data.count, data.classes or "9", data.forms, ord(ch))
    if ch.isdigit():
        return (_DIGIT, unicodedata.digit(ch, 0), ord(ch))
    if ch.isascii() and ch.isalpha():
        return (_LATIN, ch.casefold(), ord(ch))
    return (_OTHER, ord(ch))


def surname_length(chars: str) -> int:
    return 2 if len(chars) >= 3 and chars[:2] in COMPOUND_SURNAMES else 1


def sort_key(name: str, *, single_given_first: bool = True) -> tuple:
    chars = normalise(name)
    cut = surname_length(chars)
    surname = tuple(char_key(c) for c in chars[:cut])
    given = tuple(char_key(c) for c in chars[cut:])
    if single_given_first:
        key = (surname, len(given) > 1, given)
    else:
        key = (surname, given)
    return (key, name)  # the entered text breaks the last ties, so the order never depends on input order


def sort_names(names: Iterable[str], *, single_given_first: bool = True) -> list[str]:
    return sorted(names, key=lambda n: sort_key(n, single_given_first=single_given_first))


def sorted_by_name(items: Iterable, name_of, *, single_given_first: bool = True) -> list:
    """Any records ordered by the name `name_of(record)` returns."""
    return sorted(items, key=lambda r: sort_key(name_of(r), single_given_first=single_given_first))


def rule_text(single_given_first: bool = True) -> str:
    """The phrase printed with every list in this order."""
    return f"按姓氏笔画排序（{SINGLE_GIVEN_FIRST if single_given_first else CHAR_BY_CHAR}）"


def describe(ch: str) -> str:
    """A character's data for people: '干 3画 横横竖'."""
    data = table().get(ch)
    if data is None:
        return f"{ch} 无笔画数据"
    if not data.classes:
        return f"{ch} {data.count}画 笔顺数据缺失"
    return f"{ch} {data.count}画 " + "".join(CLASS_NAMES[c] for c in data.classes)


@dataclass(frozen=True)
class Gap:
    char: str
    problem: str  # Chinese, for the clerk


def data_gaps(names: Iterable[str]) -> list[Gap]:
    """Characters in the names whose place in the order is not backed by full source data."""
    gaps, seen = [], set()
    for name in names:
        for ch in normalise(name):
            if ch in seen or not (ch.isalpha() and not ch.isascii()):
                continue
            seen.add(ch)
            data = table().get(ch)
            if data is None:
                gaps.append(Gap(ch, "没有笔画数据，排在所有已知字之后"))
            elif not data.classes:
                gaps.append(Gap(ch, f"只知笔画数（{data.count}画），笔顺数据缺失，排在同笔画数的字之后"))
            elif data.source == "d":
                gaps.append(Gap(ch, f"笔顺由部件推导（{data.count}画），未经字典核对"))
    return gaps
