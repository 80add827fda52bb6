"""The interface every ballot kind implements: plain data in, plain data out.

A kind validates its configuration, turns a submitted form into choices (the same check runs
on every cast, whatever the page's constraints said), describes choices for the review page,
and tallies a list of ballots into a JSON-able result that pages, screens and reports share.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Mapping, Sequence

from .. import strokes
from ..errors import Refused
from .sheets import Box, PaperError, Sheet
from .tables import Table


class KindConfigError(Refused, ValueError):
    """The item's configuration is unusable; the message is Chinese, for the clerk."""


class CastError(Refused, ValueError):
    """The submitted ballot is malformed; the message is Chinese, for the voter."""


@dataclass(frozen=True)
class Counts:
    """The numbers of an item that do not come from its ballots."""

    expected: int  # 应到: sum of 应到 of the voting groups
    present: int | None  # 实到: None until the chair has entered it for every voting group
    issued: int  # 发出: codes issued (and not voided) to the voting groups
    groups: tuple[tuple[int, str], ...] = ()  # the voting groups (id, name), for kinds counted per group
    closed_groups: frozenset[int] = frozenset()  # groups whose voting on the item is over
    paper_issued: int | None = None  # 发出 on paper (sheets handed out); None: no paper ballots
    paper_pending: bool = False  # paper sheets still being entered and compared
    # per voting group, each checked (docs/rules.md#counting): 实到 where entered, and paper 发出 where recorded
    group_present: tuple[tuple[int, int], ...] = ()
    group_paper_issued: tuple[tuple[int, int], ...] = ()


CHANNELS = {"phone": "手机/自助机", "paper": "纸质票"}
INVALID_REASONS = {
    "overvote": "多选（超过应选人数，或同一人选划了多个符号）",
    "outside": "符号划在格外",
    "unreadable": "无法辨认",
    "range": "分数超出范围或不合步长",
    "blank_score": "漏评（有人选未打分）",
    "other": "其他（如非本次选票）",
}


@dataclass(frozen=True)
class BallotData:
    group_id: int
    valid: bool
    choices: dict
    channel: str = "phone"
    reason: str | None = None  # why a paper ballot is 无效 (an INVALID_REASONS key)


ORDERS = {"strokes": "姓氏笔画", "entered": "提名顺序"}


def people_order(raw, single_given_first: bool) -> dict:
    """How a list of people is ordered: 姓氏笔画 (default, as official lists are) or as entered
    (e.g. a 票决 slate listed post by post). The text is printed with the list."""
    if isinstance(raw, Mapping):  # a stored order (e.g. copied into a correction)
        raw = raw.get("key")
    key = {"姓氏笔画": "strokes", "提名顺序": "entered"}.get(str(raw), str(raw)) if raw is not None else "strokes"
    if key not in ORDERS:
        raise KindConfigError(f"未知的排列方式“{raw}”，可用：strokes（姓氏笔画）、entered（提名顺序）")
    text = strokes.rule_text(single_given_first) if key == "strokes" else "按提名顺序排列"
    return {"key": key, "text": text}


def counted(counts: Counts, ballots: Sequence[BallotData]) -> dict:
    """The numbers every result states: 应到, 实到, 发出, 收回, 有效, 无效 (docs/rules.md#words); with paper
    ballots also per channel, and 无效 by reason."""
    valid = sum(1 for b in ballots if b.valid)
    out = {
        "expected": counts.expected,
        "present": counts.present,
        "issued": counts.issued + (counts.paper_issued or 0),
        "cast": len(ballots),
        "valid": valid,
        "invalid": len(ballots) - valid,
    }
    if counts.paper_issued is not None or any(b.channel != "phone" for b in ballots):
        out["channels"] = []
        for channel, label in CHANNELS.items():
            mine = [b for b in ballots if b.channel == channel]
            ok = sum(1 for b in mine if b.valid)
            issued = counts.issued if channel == "phone" else (counts.paper_issued or 0)
            out["channels"].append(
                {
                    "channel": channel,
                    "label": label,
                    "issued": issued,
                    "cast": len(mine),
                    "valid": ok,
                    "invalid": len(mine) - ok,
                }
            )
    reasons: dict[str, int] = {}
    for b in ballots:
        if not b.valid and b.reason:
            reasons[b.reason] = reasons.get(b.reason, 0) + 1
    if reasons:
        out["invalid_reasons"] = [
            {"reason": key, "label": INVALID_REASONS.get(key, key), "count": reasons[key]}
            for key in INVALID_REASONS
            if key in reasons
        ]
    return out


def count_warnings(counts: Counts, ballots: Sequence[BallotData]) -> list[str]:
    """Why a result cannot be finalised (docs/rules.md#words, #approval, #counting): paper still being entered, more paper
    ballots back than handed out, or more ballots than members present – in the item as a whole
    and in each voting group (a surplus in one group is not hidden by a shortfall in another)."""
    warnings = []
    if counts.paper_pending:
        warnings.append("纸质票尚未全部录入并核对一致，结果暂不能确认")
    paper = sum(1 for b in ballots if b.channel == "paper")
    if paper and paper > (counts.paper_issued or 0):
        warnings.append(f"纸质票收回 {paper} 张，多于发出 {counts.paper_issued or 0} 张，本次表决无效，须重新表决")
    if counts.present is not None and len(ballots) > counts.present:
        warnings.append(f"收回票数 {len(ballots)} 多于实到人数 {counts.present}，本次表决结果不能确认，须重新表决")
    if len(counts.groups) > 1:
        names = dict(counts.groups)
        paper_issued = dict(counts.group_paper_issued)
        present = dict(counts.group_present)
        for gid, name in counts.groups:
            mine = [b for b in ballots if b.group_id == gid]
            on_paper = sum(1 for b in mine if b.channel == "paper")
            if on_paper > paper_issued.get(gid, 0):
                warnings.append(
                    f"{names[gid]}：纸质票收回 {on_paper} 张，多于发出 {paper_issued.get(gid, 0)} 张，"
                    "本次表决无效，须重新表决"
                )
            if gid in present and len(mine) > present[gid]:
                warnings.append(
                    f"{names[gid]}：收回票数 {len(mine)} 多于实到人数 {present[gid]}，本次表决结果不能确认，须重新表决"
                )
    return warnings


def order_of(config: dict) -> dict:
    """A stored configuration's order; items stored before orders existed kept their entered order."""
    return config.get("order") or {"key": "entered", "text": "按提名顺序排列"}


class Kind(ABC):
    key: str
    label: str
    per_group = False  # True: each voting group may open and close on its own (separate sittings)

    @abstractmethod
    def parse_config(self, raw: Mapping, *, single_given_first: bool = True) -> dict:
        """Validate and normalise a configuration; raise KindConfigError.

        Lists of people are stored in the order they are shown; `single_given_first` is the meeting's
        same-surname rule for 姓氏笔画 order (see strokes.py)."""

    @abstractmethod
    def parse_cast(self, config: dict, form: Mapping[str, list[str]]) -> dict:
        """Turn submitted form fields into choices; raise CastError."""

    @abstractmethod
    def check_choices(self, config: dict, choices) -> dict:
        """Validate choices already in stored form (e.g. carried in a session); raise CastError."""

    @abstractmethod
    def review(self, config: dict, choices: dict) -> list[tuple[str, str]]:
        """(what, chosen) lines for the voter's review page."""

    @abstractmethod
    def tally(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> dict:
        """Exact result description (JSON-able; Fractions as strings)."""

    def people(self, config: dict) -> list[str]:
        """Every person's name the configuration lists (for stroke-data checks)."""
        return []

    def reorder(self, config: dict, *, single_given_first: bool) -> dict:
        """The configuration with its lists re-ordered under another same-surname rule."""
        return config

    def withheld_groups(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> set[int]:
        """Groups too small for their ballots to be published one by one (docs/rules.md#evaluate)."""
        return set()

    def check_groups(self, config: dict, group_names: list[str]) -> None:
        """Refuse a configuration that does not fit the item's voting groups (e.g. weights)."""

    def open_problems(self, config: dict, counts: Counts) -> list[str]:
        """Reasons the item may not open now (e.g. no quorum); empty when it may."""
        return []

    def form_field_names(self, config: dict) -> list[str]:
        """Names of the form fields a cast carries (used to carry them through review)."""
        return []

    # -- the anonymous export (export.py): what of a ballot and a configuration may be published

    def public_config(self, config: dict) -> dict:
        """The configuration as published in the export and the signed report."""
        return config

    def exported_choices(self, config: dict, choices: dict) -> dict:
        """A valid ballot's choices as the export carries them."""
        return choices

    def export_extra(self, config: dict, ballots: Sequence[BallotData]) -> dict:
        """Parts of the export kept apart from the ballots (the exported ones are given)."""
        return {}

    def recount(self, config: dict, ballots: Sequence[BallotData], counts: Counts, export: dict) -> dict:
        """The result from the export alone: its ballots (choices as exported) and its other parts."""
        return self.tally(config, ballots, counts)

    # -- what only some kinds can do: each says so here, so callers ask the flag, never the key

    supports_next_round = False  # 差额票决: a further round for the seats left unfilled
    supports_merge = False  # 民主推荐: the clerk merges written-in spellings of one person
    supports_write_in_review = False  # 民主推荐: the written-in spellings, for that clerk

    def next_round(self, config: dict, result: dict) -> dict | None:
        """The next round's configuration, or None when every seat is filled."""
        raise NotImplementedError(f"{self.key} has no next round")

    def next_round_candidates(self, proposal: dict) -> dict[str, list[str]]:
        """A next round's candidates, post by post (recorded as proposed and as confirmed)."""
        raise NotImplementedError(f"{self.key} has no next round")

    def edit_next_round(self, proposal: dict, edited: dict[str, list[str]]) -> dict:
        """The proposal with the chair's candidates, post by post; raise KindConfigError."""
        raise NotImplementedError(f"{self.key} has no next round")

    def merge(self, config: dict, merges: list[dict], ballots: Sequence[BallotData]) -> dict:
        """The configuration with these spellings merged; raise KindConfigError."""
        raise NotImplementedError(f"{self.key} has no write-ins to merge")

    def write_in_review(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> dict:
        """Every written-in spelling with its ballots (never published)."""
        raise NotImplementedError(f"{self.key} has no write-ins")

    supports_series = False  # 评委打分: items of one series (one per candidate) rank together

    def series(self, config: dict) -> str | None:
        """The series an item's result is ranked with (items of one kind sharing it), or None."""
        return None

    def series_items(self, title: str, config: dict) -> list[tuple[str, dict]]:
        """(title, raw configuration) of each item of a series made from one (a meeting file's
        `per_candidate = true`); raise KindConfigError."""
        raise NotImplementedError(f"{self.key} has no series")

    # -- paper ballots (kinds/<kind>/paper.py): the form's boxes, a typed line, the printed words

    paper_form_name = ""  # the printed form's name (表决票 …)
    sheet_write_ins = False  # True: a typed line may carry `+姓名,…` (names written in)

    def paper_boxes(self, config: dict) -> list[Box]:
        """The box groups of the form, in the order the 计票人 types their keys."""
        raise PaperError(f"未知的表决类型 {self.key}")

    def parse_sheet(self, config: dict, line: str) -> Sheet:
        """A typed line (not empty, not a `*` void) → the sheet; one key per box group."""
        head, _, written = line.partition("+")
        keys = "".join(head.split()).lower()
        expected = len(self.paper_boxes(config))
        if len(keys) != expected:
            raise PaperError(f"应输入 {expected} 个键（每格一个），实际 {len(keys)} 个")
        if written and not self.sheet_write_ins:
            raise PaperError("只有民主推荐票可以用 + 输入另行推荐的姓名")
        return self.sheet_from_keys(config, keys, written)

    def sheet_from_keys(self, config: dict, keys: str, written: str) -> Sheet:
        """The sheet the keys (one per box group) and the written-in names record."""
        raise PaperError(f"未知的表决类型 {self.key}")

    def sheet_choices(self, config: dict, choices: dict) -> dict:
        """The kind's own check of the choices a sheet records; its refusal is the 计票人's error."""
        try:
            return self.check_choices(config, choices)
        except CastError as exc:
            raise PaperError(str(exc)) from None

    def sheet_words(self, config: dict, line: str) -> str:
        """A valid sheet's line in words, for the 监票人 comparing two entries with the paper in hand."""
        head, _, written = line.partition("+")
        words = []
        for box, key in zip(self.paper_boxes(config), head, strict=True):
            label = dict(box.keys).get(key, key)
            if label not in ("未划",):
                words.append(f"{box.label} {label}")
        if written:
            words.append(f"另行推荐 {written}")
        return "；".join(words) or "空白票（弃权）"

    def paper_keypad(self, boxes: list[Box]) -> list[tuple[str, str]]:
        """The keys the entry page offers, with what each means."""
        return list(dict.fromkeys(key for box in boxes for key in box.keys))

    def paper_instructions(self, config: dict) -> list[str]:
        """The rules printed on the form; each matches what parse_sheet does with the marks."""
        raise ValueError(self.key)

    def paper_form_view(self, config: dict, layout) -> dict:
        """What the printed form's template needs besides the common parts; `layout` lays names
        out in rows that fit the page (documents/paperforms.py)."""
        return {}

    # -- the signed report (kinds/<kind>/tables.py)

    # A kind's folder holds tables.py (`tables(result)`) and form.py (`form_config(form, groups)`,
    # `form_values(config, groups)`); the kind names them once and these methods use them.
    tables_module = None
    form_module = None

    def result_tables(self, result: dict) -> list[Table]:
        """The item's result as tables, the way clerks lay results out on paper."""
        if self.tables_module is None:
            raise ValueError(f"unknown ballot kind {self.key!r}")
        return self.tables_module.tables(result)

    # -- the clerk's item form (kinds/<kind>/form.py): field names and strings, no web framework

    def form_config(self, form: Mapping, groups) -> dict:
        """The raw configuration from the submitted form fields; `groups` have .id and .name."""
        return self.form_module.form_config(form, groups) if self.form_module else {}

    def form_values(self, config: dict, groups) -> dict:
        """The form fields that show a stored configuration for editing."""
        return self.form_module.form_values(config, groups) if self.form_module else {}
