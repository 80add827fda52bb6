"""Paper ballots: what a 计票人 types for one sheet, and what that sheet counts as (docs/rules.md#words, #recommend, #evaluate).

One line per sheet, one key per box group, so entry is fast with a keyboard alone:
- 逐人表态: one key per nominee – 1 同意, 2 不同意, 3 弃权, 0 未划 (弃权), x 同一人选划了多个符号;
- 差额票决: one key per candidate, post after post – 1 划了, 0 未划;
- 民主推荐: one key per listed candidate – 1 划了, 0 未划; then `+姓名,姓名` for names written in
  (one person marked and written in, or written twice, is one recommendation);
- 民主测评: one key per subject (and dimension) – the grade's number as printed (1 = 优秀 …), 0 未划
  (弃权), x 划了多个等次;
- 评委打分: the scores, separated by spaces, candidate after candidate (and sub-item after sub-item);
  - for a box left empty. A score is a plain decimal of at most MAX_SCORE_CHARS characters.
A line `*1` … `*4` is a sheet that is 无效 as a whole, for a reason chosen from SHEET_REASONS.

Validity as docs/rules.md says: a blank sheet is valid (弃权); more marks than seats → 无效; a subject
marked twice, or more 优秀 than the quota allows, is 无效 for those subjects only (测评).
Spaces inside a line are ignored (except between scores); the canonical form is what the two
entries of a batch are compared by. Whatever is typed, parse returns a Sheet or raises PaperError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ballot.counting.errors import Refused
from ballot.counting.kinds import CastError, get_kind
from ballot.counting.kinds.common import same_name_key
from ballot.counting.kinds.evaluate import ABSTAIN, INVALID

SHEET_REASONS = {"1": "outside", "2": "unreadable", "3": "other", "4": "overvote"}  # typed after *
MAX_SCORE_CHARS = 8  # a score as typed: "85", "85.5", "1000"; nothing longer can be a score
_SCORE_TEXT = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．。－", "0123456789..-")  # typed with a Chinese input method


class PaperError(Refused, ValueError):
    """The line cannot be a sheet of this item; the message is Chinese, for the 计票人."""


@dataclass(frozen=True)
class Sheet:
    line: str  # canonical
    valid: bool
    choices: dict
    reason: str | None = None  # an INVALID_REASONS key when not valid


@dataclass(frozen=True)
class Box:
    """A group of boxes on the form and the keys that fill it (for the entry page and the forms)."""

    label: str
    keys: tuple[tuple[str, str], ...]  # (key, meaning)


def boxes(kind: str, config: dict) -> list[Box]:
    if kind == "approval":
        keys = (("1", "同意"), ("2", "不同意"), ("3", "弃权"), ("0", "未划"), ("x", "多划"))
        return [Box(n["name"], keys) for n in config["nominees"]]
    if kind == "contest":
        return [
            Box(f"{p['post']}：{c}", (("1", "划了"), ("0", "未划"))) for p in config["posts"] for c in p["candidates"]
        ]
    if kind == "recommend":
        return [Box(c, (("1", "划了"), ("0", "未划"))) for c in config["candidates"]]
    if kind == "evaluate":
        evaluate = get_kind("evaluate")
        out = []
        for i, dimension, _ in evaluate.units(config):
            subject = config["subjects"][i]
            options = [(str(n + 1), label) for n, (value, label) in enumerate(_grade_options(config, subject))]
            label = f"{subject['name']}（{dimension}）" if dimension else subject["name"]
            out.append(Box(label, (*options, ("0", "未划"), ("x", "多划"))))
        return out
    if kind == "score":
        parts = get_kind("score").parts(config)
        return [
            Box(f"{c}{'：' + label if len(parts) > 1 else ''}", (("分数", f"{config['min']}–{high}"),))
            for c in config["candidates"]
            for label, high in parts
        ]
    raise PaperError(f"未知的表决类型 {kind}")


def _grade_options(config: dict, subject: dict) -> list[tuple[str, str]]:
    """The grades a sheet prints for a subject, 弃权 left out (an unmarked subject is 弃权)."""
    return [(v, label) for v, label in get_kind("evaluate").options(config, subject) if v != ABSTAIN]


def _void(line: str) -> Sheet:
    code = line[1:].strip()
    if code not in SHEET_REASONS:
        raise PaperError("整张无效请输入 *1（划在格外）、*2（无法辨认）、*3（其他）或 *4（多选）")
    return Sheet("*" + code, False, {}, SHEET_REASONS[code])


def parse(kind: str, config: dict, line: str) -> Sheet:
    """One typed line → the sheet it records; PaperError when it cannot be one."""
    line = (line or "").strip()
    if not line:
        raise PaperError("空行：每张票一行（空白票按每格输入 0）")
    if line.startswith("*"):
        return _void(line)
    if kind == "score":
        return _score(config, line)
    head, _, written = line.partition("+")
    keys = "".join(head.split()).lower()
    expected = len(boxes(kind, config))
    if len(keys) != expected:
        raise PaperError(f"应输入 {expected} 个键（每格一个），实际 {len(keys)} 个")
    if written and kind != "recommend":
        raise PaperError("只有民主推荐票可以用 + 输入另行推荐的姓名")
    if kind == "approval":
        return _approval(config, keys)
    if kind == "contest":
        return _contest(config, keys)
    if kind == "recommend":
        return _recommend(config, keys, written)
    if kind == "evaluate":
        return _evaluate(config, keys)
    raise PaperError(f"未知的表决类型 {kind}")


def _only(keys: str, allowed: str) -> None:
    bad = sorted({k for k in keys if k not in allowed})
    if bad:
        raise PaperError(f"无效的键“{''.join(bad)}”：本票只能输入 {'、'.join(allowed)}")


def _approval(config: dict, keys: str) -> Sheet:
    _only(keys, "1230x")
    if "x" in keys:
        return Sheet(keys, False, {}, "overvote")
    votes = [{"1": "yes", "2": "no"}.get(k, "abstain") for k in keys]
    return Sheet(keys, True, _checked("approval", config, {"votes": votes}))


def _contest(config: dict, keys: str) -> Sheet:
    _only(keys, "01")
    marks, at = [], 0
    for post in config["posts"]:
        n = len(post["candidates"])
        marks.append([i for i, k in enumerate(keys[at : at + n]) if k == "1"])
        at += n
    if any(len(m) > p["seats"] for m, p in zip(marks, config["posts"], strict=True)):
        return Sheet(keys, False, {}, "overvote")
    return Sheet(keys, True, _checked("contest", config, {"marks": marks}))


def _checked(kind: str, config: dict, choices: dict) -> dict:
    """The kind's own check of the choices a sheet records; its refusal is the 计票人's error."""
    try:
        return get_kind(kind).check_choices(config, choices)
    except CastError as exc:
        raise PaperError(str(exc)) from None


def _recommend(config: dict, keys: str, written: str) -> Sheet:
    _only(keys, "01")
    names = [n for n in (" ".join(x.split()) for x in written.replace("，", ",").replace("、", ",").split(",")) if n]
    # as typed, names and all: what the two entries compare ("+" alone: a blank sheet with no list)
    canonical = keys + ("+" + ",".join(names) if names else "") or "+"
    if names and not config["write_ins"]:
        raise PaperError("本票没有另行推荐栏，不能用 + 输入姓名")
    # One person recommended twice is one recommendation (docs/rules.md#recommend: the limit is on persons, not marks): a
    # written-in name of a listed candidate counts for that candidate, whether or not it is also
    # marked, and a name written twice counts once; the places limit then applies to the persons.
    listed = {same_name_key(n): i for i, n in enumerate(config["candidates"])}
    chosen = {i for i, k in enumerate(keys) if k == "1"}
    others: dict[str, str] = {}
    for name in names:
        key = same_name_key(name)
        if key in listed:
            chosen.add(listed[key])
        else:
            others.setdefault(key, name)
    if len(chosen) + len(others) > config["seats"]:  # docs/rules.md#recommend: more than the posts → 无效
        return Sheet(canonical, False, {}, "overvote")
    try:
        choices = _checked("recommend", config, {"chosen": sorted(chosen), "written": list(others.values())})
    except PaperError as exc:  # the same rule as on phones: a name only, so no sheet carries a marker
        if "只能填写汉字姓名" not in str(exc):
            raise
        raise PaperError(f"{exc}；选票上写有姓名以外内容的，按无效票（*3 其他）录入") from None
    return Sheet(canonical, True, choices)


def _evaluate(config: dict, keys: str) -> Sheet:
    evaluate = get_kind("evaluate")
    units = evaluate.units(config)
    grades = []
    for (i, _, _), key in zip(units, keys, strict=True):
        options = _grade_options(config, config["subjects"][i])
        allowed = "0x" + "".join(str(n + 1) for n in range(len(options)))
        _only(key, allowed)
        grades.append(INVALID if key == "x" else ABSTAIN if key == "0" else options[int(key) - 1][0])
    for quota in config["quotas"]:  # over the quota: 无效 for those subjects (docs/rules.md#evaluate)
        index = evaluate.quota_grade(config, quota)
        for _, covered in evaluate.quota_units(config, quota):
            if sum(1 for n in covered if grades[n] == index) > quota["max"]:
                for n in covered:
                    grades[n] = INVALID
    return Sheet(keys, True, {"grades": grades})


def _score(config: dict, line: str) -> Sheet:
    parts = get_kind("score").parts(config)
    texts = line.translate(_FULL_WIDTH).replace("，", " ").replace(",", " ").split()
    expected = len(config["candidates"]) * len(parts)
    if len(texts) != expected:
        raise PaperError(f"应输入 {expected} 个分数（以空格分隔），实际 {len(texts)} 个")
    canonical = " ".join(t if t == "-" else _score_text(t) for t in texts)
    if "-" in texts:  # a candidate left unscored: the sheet cannot count
        return Sheet(canonical, False, {}, "blank_score")
    rows = [texts[i * len(parts) : (i + 1) * len(parts)] for i in range(len(config["candidates"]))]
    try:
        choices = get_kind("score").check_choices(config, {"scores": rows})
    except CastError:  # out of range or off the step: the sheet is 无效, as its instructions say
        return Sheet(canonical, False, {}, "range")
    return Sheet(canonical, True, choices)


def _score_text(text: str) -> str:
    """A typed score in one form (85.50 → 85.5, 090 → 90), so the same score typed two ways
    compares equal; anything but a short plain decimal (an exponent, a fraction, a sign, a long
    run of digits) is refused before it is read as a number."""
    if len(text) > MAX_SCORE_CHARS or not _SCORE_TEXT.fullmatch(text):
        shown = text if len(text) <= 12 else text[:12] + "…"
        raise PaperError(
            f"分数“{shown}”无法识别：分数须写成 85 或 85.5 这样的数字（不超过 {MAX_SCORE_CHARS} 个字符，"
            "不用分数、正负号或科学记数法）；未打分的输入 -"
        )
    whole, _, decimals = text.partition(".")
    whole, decimals = whole.lstrip("0") or "0", decimals.rstrip("0")
    return f"{whole}.{decimals}" if decimals else whole
