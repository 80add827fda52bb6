"""评委打分 on paper: the scores, separated by spaces, candidate after candidate (and sub-item after
sub-item); - for a box left empty. A score is a plain decimal of at most MAX_SCORE_CHARS characters."""

from __future__ import annotations

import re

from ..base import CastError
from ..sheets import Box, PaperError, Sheet

MAX_SCORE_CHARS = 8  # a score as typed: "85", "85.5", "1000"; nothing longer can be a score
SCORE_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
FULL_WIDTH = str.maketrans("０１２３４５６７８９．。－", "0123456789..-")  # typed with a Chinese input method
KEYPAD = [(k, "") for k in "1234567890."] + [(" ", "下一个分数"), ("-", "未打分")]


def boxes(kind, config: dict) -> list[Box]:
    parts = kind.parts(config)
    return [
        Box(f"{c}{'：' + label if len(parts) > 1 else ''}", (("分数", f"{config['min']}–{high}"),))
        for c in config["candidates"]
        for label, high in parts
    ]


def sheet(kind, config: dict, line: str) -> Sheet:
    parts = kind.parts(config)
    texts = line.translate(FULL_WIDTH).replace("，", " ").replace(",", " ").split()
    expected = len(config["candidates"]) * len(parts)
    if len(texts) != expected:
        raise PaperError(f"应输入 {expected} 个分数（以空格分隔），实际 {len(texts)} 个")
    canonical = " ".join(t if t == "-" else score_text(t) for t in texts)
    if "-" in texts:  # a candidate left unscored: the sheet cannot count
        return Sheet(canonical, False, {}, "blank_score")
    rows = [texts[i * len(parts) : (i + 1) * len(parts)] for i in range(len(config["candidates"]))]
    try:
        choices = kind.check_choices(config, {"scores": rows})
    except CastError:  # out of range or off the step: the sheet is 无效, as its instructions say
        return Sheet(canonical, False, {}, "range")
    return Sheet(canonical, True, choices)


def score_text(text: str) -> str:
    """A typed score in one form (85.50 → 85.5, 090 → 90), so the same score typed two ways
    compares equal; anything but a short plain decimal (an exponent, a fraction, a sign, a long
    run of digits) is refused before it is read as a number."""
    if len(text) > MAX_SCORE_CHARS or not SCORE_TEXT.fullmatch(text):
        shown = text if len(text) <= 12 else text[:12] + "…"
        raise PaperError(
            f"分数“{shown}”无法识别：分数须写成 85 或 85.5 这样的数字（不超过 {MAX_SCORE_CHARS} 个字符，"
            "不用分数、正负号或科学记数法）；未打分的输入 -"
        )
    whole, _, decimals = text.partition(".")
    whole, decimals = whole.lstrip("0") or "0", decimals.rstrip("0")
    return f"{whole}.{decimals}" if decimals else whole


def words(kind, config: dict, line: str) -> str:
    return "；".join(f"{box.label} {value}" for box, value in zip(boxes(kind, config), line.split(), strict=True))


def instructions(kind, config: dict) -> list[str]:
    parts = kind.parts(config)
    ranges = "；".join(
        f"{label} {kind.number(config['min']) if len(parts) == 1 else '0'}–{kind.number(str(high))} 分"
        for label, high in parts
    )
    return [
        f"请在每名人选的空格内填写分数（{ranges}，以 {kind.number(config['step'])} 分为单位）。",
        "漏评、分数超出范围或无法辨认的，本表无效。",
    ]


def form_view(kind, config: dict) -> dict:
    return {"parts": [label for label, _ in kind.parts(config)]}
