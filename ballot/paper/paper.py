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
Each kind's own keys and rules live in its folder (ballot/counting/kinds/<kind>/paper.py); here is
what all sheets share: an empty line, a sheet void as a whole, and the kind looked up.
"""

from __future__ import annotations

from ballot.counting.kinds import KINDS, Kind
from ballot.counting.kinds.score.paper import MAX_SCORE_CHARS
from ballot.counting.kinds.sheets import SHEET_REASONS, Box, PaperError, Sheet

__all__ = ["MAX_SCORE_CHARS", "SHEET_REASONS", "Box", "PaperError", "Sheet", "boxes", "parse"]


def _kind(kind: str) -> Kind:
    try:
        return KINDS[kind]
    except KeyError:
        raise PaperError(f"未知的表决类型 {kind}") from None


def boxes(kind: str, config: dict) -> list[Box]:
    return _kind(kind).paper_boxes(config)


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
    return _kind(kind).parse_sheet(config, line)
