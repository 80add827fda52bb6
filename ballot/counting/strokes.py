"""姓氏笔画 order: the order official Chinese name lists use (docs/rules.md#stroke-order).

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
`data_gaps`, never guessed. Data: ballot/counting/data/strokes.tsv (sources in ballot/counting/data/STROKES.md).
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

# A character's key is a string, so a name's key is one string and sorting compares strings (fast).
# Tiers first: known characters, then digits, Latin letters, and last anything without data. Within a
# tier every key of the same stroke count has the same length, so the concatenated keys of two names
# are decided inside the first character that differs and never by what follows it.
_HAN, _DIGIT, _LATIN, _OTHER = "0", "1", "2", "3"
_SURNAME_END = "\x01"  # below every tier: a surname sorts before a longer surname it begins


@dataclass(frozen=True)
class Stroke:
    count: int
    classes: str  # five-class digits, '' if the sequence is unknown
    forms: str
    source: str  # m manual, o cnchar-order, t cnchar-trad, d derived, r placed by rank, u count only
    after: str = ""  # r: the character with a sequence it sorts just after ('' = first of its count)
    rank: int = 0  # r: cn-sort's rank, orders characters placed after the same one


@lru_cache(maxsize=1)
def table() -> dict[str, Stroke]:
    result = {}
    with DATA.open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                continue
            char, count, seq, source, *place = line.rstrip("\n").split("\t")
            after, rank = place[0].split(":") if place else ("", "0")
            result[char] = Stroke(
                int(count),
                "".join(STROKE_CLASS[s] for s in seq),
                "".join(STROKE_FORM[s] for s in seq),
                source,
                after,
                int(rank),
            )
    return result


def normalise(name: str) -> str:
    """The form names are compared in: NFKC (full-width → half-width), no spaces, no ·."""
    text = name if unicodedata.is_normalized("NFKC", name) else unicodedata.normalize("NFKC", name)
    if text.isalnum():  # the common case: nothing to drop
        return text
    return "".join(ch for ch in text if not ch.isspace() and ch not in _SEPARATORS and ch.isprintable())


@lru_cache(maxsize=1)
def _han_keys() -> dict[str, str]:
    # a count without a sequence sorts after every known sequence of that count ('9' > '5')
    keys = {ch: f"{_HAN}{d.count:02d}{d.classes or '9'}{d.forms}{ord(ch):06x}" for ch, d in table().items()}
    for ch, d in table().items():
        if d.source == "r":  # just after its anchor ('~' > any tier or separator), or first of its count
            anchor = keys[d.after] + "~" if d.after else f"{_HAN}{d.count:02d}0"
            keys[ch] = f"{anchor}{d.rank:06d}"
    return keys


def char_key(ch: str) -> str:
    key = _han_keys().get(ch)
    if key is not None:
        return key
    if ch.isdecimal():
        return f"{_DIGIT}{unicodedata.decimal(ch)}{ord(ch):06x}"
    if ch.isascii() and ch.isalpha():
        return f"{_LATIN}{ch.lower()}{ord(ch):06x}"
    return f"{_OTHER}{ord(ch):06x}"


def surname_length(chars: str) -> int:
    return 2 if len(chars) >= 3 and chars[:2] in COMPOUND_SURNAMES else 1


def sort_key(name: str, *, single_given_first: bool = True) -> tuple[str, str]:
    chars = normalise(name)
    cut = surname_length(chars)
    keys = _han_keys()
    surname = "".join(keys.get(c) or char_key(c) for c in chars[:cut])
    given = "".join(keys.get(c) or char_key(c) for c in chars[cut:])
    flag = ("1" if len(chars) - cut > 1 else "0") if single_given_first else ""
    # the entered text breaks the last ties, so the order never depends on input order
    return (surname + _SURNAME_END + flag + given, name)


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
    names: tuple[str, ...]  # the names it occurs in, as entered


def data_gaps(names: Iterable[str]) -> list[Gap]:
    """Characters in the names whose place in the order is not backed by full source data."""
    found: dict[str, list[str]] = {}
    for name in names:
        for ch in dict.fromkeys(normalise(name)):
            if ch.isalpha() and not ch.isascii():
                data = table().get(ch)
                if data is None or not data.classes or data.source in "dr":
                    found.setdefault(ch, []).append(name)
    gaps = []
    for ch, where in found.items():
        data = table().get(ch)
        if data is None:
            problem = "没有笔画数据，排在所有已知字之后"
        elif data.source == "r":
            problem = f"笔顺数据缺失（{data.count}画），位置按 cn-sort 的笔画排序"
        elif not data.classes:
            problem = f"只知笔画数（{data.count}画），笔顺数据缺失，排在同笔画数的字之后"
        else:
            problem = f"笔顺由部件推导（{data.count}画），未经字典核对"
        gaps.append(Gap(ch, problem, tuple(dict.fromkeys(where))))
    return gaps
