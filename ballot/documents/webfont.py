"""A web font made of exactly the characters a meeting's names need.

Projector laptops and cheap phones often lack rare name characters (王𫖮, 禤, 訾 …) and show a
box instead. The app serves a subset of a CJK font on the server (Noto Sans CJK, else WenQuanYi
Zen Hei, else HanaMin for the rarest), cut to the meeting's names and titles: a few kilobytes,
served by the app itself (no CDN), cached per process.
"""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path

FAMILY = "MeetingNames"
# (file, the face of a collection to use: a name it contains, or None for the first)
SOURCES = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", "Noto Sans CJK SC"),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", None),
    ("/usr/share/fonts/truetype/hanazono/HanaMinA.ttf", None),
    ("/usr/share/fonts/truetype/hanazono/HanaMinB.ttf", None),
)


def characters(texts) -> str:
    """The distinct non-ASCII characters of the texts, in a fixed order."""
    return "".join(sorted({ch for text in texts for ch in text if ord(ch) > 0x7F and not ch.isspace()}))


def digest(chars: str) -> str:
    return hashlib.sha256(chars.encode()).hexdigest()[:16]


def _open(path: str, face: str | None):
    from fontTools.ttLib import TTCollection, TTFont

    if path.endswith(".ttc"):
        fonts = TTCollection(path, lazy=True).fonts
        index = next((i for i, f in enumerate(fonts) if face and face in f["name"].getDebugName(4)), 0)
        return TTFont(path, fontNumber=index)
    return TTFont(path)


@lru_cache(maxsize=32)
def subset_woff2(chars: str) -> bytes | None:
    """WOFF2 of the first installed source font that has the most of the characters, cut to them."""
    try:
        from fontTools import subset
    except ImportError:  # the font is a help, not a need: the page falls back to local fonts
        return None
    best = None
    for path, face in SOURCES:
        if not Path(path).exists():
            continue
        font = _open(path, face)
        covered = sum(1 for ch in chars if ord(ch) in font.getBestCmap())
        if best is None or covered > best[0]:
            best = (covered, font)
        if covered == len(chars):
            break
    if best is None or best[0] == 0:
        return None
    font = best[1]
    options = subset.Options()
    options.flavor = "woff2"
    options.layout_features = ["*"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=chars)
    subsetter.subset(font)
    out = io.BytesIO()
    font.flavor = "woff2"
    font.save(out)
    return out.getvalue()


def stylesheet(font_url: str) -> str:
    """CSS that puts the subset font first for the whole page (other characters fall through)."""
    return (
        f'@font-face {{ font-family: "{FAMILY}"; src: url("{font_url}") format("woff2"); font-display: swap; }}\n'
        f'body {{ font-family: "{FAMILY}", "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Zen Hei", '
        '"PingFang SC", "Microsoft YaHei", sans-serif; }\n'
    )
