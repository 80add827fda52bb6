"""The fonts of the archive report, and which characters none of them can print.

Noto Serif CJK SC covers all 8,105 通用规范汉字; HanaMin A/B (fonts-hanazono) and BabelStone Han
(fonts-babelstone-han) add the extension blocks a rare name may use. The PDF lists the families in
this order and embeds a subset of each. A name character that none of them has would print as an
empty box in a document meant to last, so the clerk is told before the report is signed.
Private-use characters (生僻字 typed with a vendor's own input method) are flagged as well: each
font draws its own glyph there, so what prints is not what the clerk typed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ballot.counting.errors import Refused

# (CSS family name, file, the face of a collection to take: a name it contains, or None)
CHAIN = (
    ("Noto Serif CJK SC", "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc", "Noto Serif CJK SC"),
    ("HanaMinA", "/usr/share/fonts/truetype/hanazono/HanaMinA.ttf", None),
    ("HanaMinB", "/usr/share/fonts/truetype/hanazono/HanaMinB.ttf", None),
    ("BabelStone Han", "/usr/share/fonts/truetype/babelstone/BabelStoneHan.ttf", None),
)
INSTALL_HINT = "请安装 fonts-noto-cjk、fonts-hanazono 与 fonts-babelstone-han"


class FontError(Refused, RuntimeError):
    """No usable CJK font: the report cannot be printed at all."""


@dataclass(frozen=True)
class Missing:
    char: str
    problem: str  # Chinese, for the clerk
    texts: tuple[str, ...]  # the names and titles it occurs in

    @property
    def codepoint(self) -> str:
        return f"U+{ord(self.char):04X}"


@lru_cache(maxsize=1)
def _coverage() -> tuple[tuple[str, frozenset[int]], ...]:
    from fontTools.ttLib import TTCollection, TTFont

    found = []
    for family, path, face in CHAIN:
        if not Path(path).exists():
            continue
        if path.endswith(".ttc"):
            fonts = TTCollection(path, lazy=True).fonts
            font = next((f for f in fonts if face and face in f["name"].getDebugName(4)), fonts[0])
        else:
            font = TTFont(path, lazy=True)
        found.append((family, frozenset(font.getBestCmap())))
    return tuple(found)


def families() -> list[str]:
    """The installed families of the chain, in order; FontError when there is none."""
    installed = [family for family, _ in _coverage()]
    if not installed or installed[0] != CHAIN[0][0]:
        raise FontError(f"找不到打印报告所需的中文字体 {CHAIN[0][0]}（{INSTALL_HINT}）")
    return installed


def css_family() -> str:
    return ", ".join(f'"{f}"' for f in families()) + ", serif"


def _problem(ch: str) -> str | None:
    if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"):
        return None
    if unicodedata.category(ch) == "Co":
        return "私用区字符（输入法自造字），各字库字形不同，打印出的不一定是原字"
    if not any(ord(ch) in cmap for _, cmap in _coverage()):
        return "已安装的字库都没有这个字，报告中会印成空框"
    return None


def missing(texts) -> list[Missing]:
    """Characters of `texts` that the report cannot print faithfully, in first-seen order."""
    families()
    where: dict[str, list[str]] = {}
    for text in texts:
        for ch in dict.fromkeys(text or ""):
            if _problem(ch):
                where.setdefault(ch, [])
                if text not in where[ch]:
                    where[ch].append(text)
    return [Missing(ch, _problem(ch), tuple(t)) for ch, t in where.items()]


def describe(gaps: list[Missing]) -> str:
    return "；".join(f"“{'、'.join(g.texts)}”中的 {g.codepoint}：{g.problem}" for g in gaps)
