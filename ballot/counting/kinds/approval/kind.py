"""逐人表态: each nominee gets 同意 / 不同意 / 弃权 (会议推荐 of a slate, 常委会票决).

Result per nominee: the three counts, 同意率 against the denominator the item's rule names,
and whether 同意 meets the rule's threshold (exact Fractions, strict for 超过).
"""

from __future__ import annotations

from fractions import Fraction
from operator import itemgetter
from typing import Mapping, Sequence

from ... import strokes
from ...rules import DENOMINATORS, PRESETS, RuleError, Threshold, parse_fraction, percent
from ..base import BallotData, CastError, Counts, Kind, KindConfigError, count_warnings, counted, order_of, people_order
from ..sheets import Box, Sheet
from . import form as form_fields
from . import paper, tables

CHOICES = {"yes": "同意", "no": "不同意", "abstain": "弃权"}
MAX_NOMINEES = 200
MAX_NAME = 50
MAX_POST = 100


def _parse_nominees(raw) -> list[dict]:
    if not isinstance(raw, (list, tuple)) or not raw:
        raise KindConfigError("请至少填写一名人选")
    if len(raw) > MAX_NOMINEES:
        raise KindConfigError(f"人选不能超过 {MAX_NOMINEES} 名")
    nominees, seen = [], set()
    for entry in raw:
        if isinstance(entry, str):
            name, post = entry, ""
        elif isinstance(entry, Mapping):
            name, post = entry.get("name", ""), entry.get("post", "")
        else:
            raise KindConfigError("人选格式无效：每名人选写姓名，或写成 {name = …, post = …}")
        name, post = str(name).strip(), str(post or "").strip()
        if not name:
            raise KindConfigError("人选姓名不能为空")
        if not (name + post).isprintable():
            raise KindConfigError(f"人选“{name!r}”含有不可见的控制字符")
        if len(name) > MAX_NAME or len(post) > MAX_POST:
            raise KindConfigError(f"人选“{name[:MAX_NAME]}”的姓名或职务过长")
        if name in seen:
            raise KindConfigError(f"人选“{name}”重复出现")
        seen.add(name)
        nominees.append({"name": name, "post": post})
    return nominees


def parse_rule(raw) -> dict:
    """A committee rule (docs/rules.md#approval): a preset's key, or a custom table with its 依据; stored form accepted."""
    raw = raw if raw is not None else "appointment"
    if isinstance(raw, str):
        raw = {"preset": raw}
    if not isinstance(raw, Mapping):
        raise KindConfigError("表决规则格式无效")
    key = str(raw.get("preset", "custom"))
    try:
        if key in PRESETS:
            preset = PRESETS[key]
            return {
                "preset": key,
                "label": preset.label,
                "quorum": preset.quorum.to_dict() if preset.quorum else None,
                "passing": preset.passing.to_dict(),
                "basis": preset.basis,
            }
        if key != "custom":
            raise KindConfigError(f"未知的规则“{key}”，可用：{'、'.join(PRESETS)}、custom")
        if isinstance(raw.get("passing"), Mapping):  # a stored rule (e.g. copied into a correction)
            passing = Threshold.from_dict(raw["passing"])
            quorum = Threshold.from_dict(raw["quorum"]) if isinstance(raw.get("quorum"), Mapping) else None
        else:
            passing = Threshold(
                str(raw.get("pass_op", ">")),
                parse_fraction(raw.get("pass_fraction", "1/2")),
                str(raw.get("denominator", "expected")),
            )
            quorum = None
            if raw.get("quorum_fraction"):
                quorum = Threshold(str(raw.get("quorum_op", ">=")), parse_fraction(raw["quorum_fraction"]), "expected")
        basis = " ".join(str(raw.get("basis", "")).split())  # no control characters survive
        if not basis:
            raise KindConfigError("自定义规则须写明依据（basis），它会和结果一起打印")
        return {
            "preset": "custom",
            "label": "自定义",
            "quorum": quorum.to_dict() if quorum else None,
            "passing": passing.to_dict(),
            "basis": basis[:500],
        }
    except RuleError as exc:
        raise KindConfigError(str(exc)) from None
    except (KeyError, TypeError):
        raise KindConfigError("表决规则格式无效") from None


class ApprovalKind(Kind):
    key = "approval"
    tables_module = tables
    form_module = form_fields
    label = "逐人表态（同意/不同意/弃权）"
    paper_form_name = "表决票"

    def paper_boxes(self, config: dict) -> list[Box]:
        return paper.boxes(config)

    def sheet_from_keys(self, config: dict, keys: str, written: str) -> Sheet:
        return paper.sheet(self, config, keys)

    def paper_instructions(self, config: dict) -> list[str]:
        return paper.instructions(config)

    def parse_config(self, raw: Mapping, *, single_given_first: bool = True) -> dict:
        config = {
            "nominees": _parse_nominees(raw.get("nominees")),
            "order": people_order(raw.get("order"), single_given_first),
            "rule": parse_rule(raw.get("rule")),
        }
        return self.reorder(config, single_given_first=single_given_first)

    def people(self, config: dict) -> list[str]:
        return [n["name"] for n in config["nominees"]]

    def reorder(self, config: dict, *, single_given_first: bool) -> dict:
        if order_of(config)["key"] != "strokes":
            return config
        nominees = strokes.sorted_by_name(config["nominees"], itemgetter("name"), single_given_first=single_given_first)
        order = people_order("strokes", single_given_first)
        return {**config, "nominees": nominees, "order": order}

    def form_field_names(self, config: dict) -> list[str]:
        return [f"n{i}" for i in range(len(config["nominees"]))]

    def parse_cast(self, config: dict, form: Mapping[str, list[str]]) -> dict:
        names = self.form_field_names(config)
        allowed = set(names)
        for field in form:
            if field.startswith("n") and field not in allowed:
                raise CastError("表单内容与本议题不符，请返回重新填写")
        votes = []
        for field in names:
            values = form.get(field, [])
            if len(values) > 1:
                raise CastError("每名人选只能选择一项")
            value = values[0] if values else "abstain"  # unmarked counts as 弃权
            if value not in CHOICES:
                raise CastError("表单内容无效，请返回重新填写")
            votes.append(value)
        return {"votes": votes}

    def check_choices(self, config: dict, choices) -> dict:
        votes = choices.get("votes") if isinstance(choices, dict) else None
        if not isinstance(votes, list) or len(votes) != len(config["nominees"]) or any(v not in CHOICES for v in votes):
            raise CastError("选票内容无效，请返回重新填写")
        return {"votes": list(votes)}

    def review(self, config: dict, choices: dict) -> list[tuple[str, str]]:
        return [(_display(n), CHOICES[v]) for n, v in zip(config["nominees"], choices["votes"], strict=True)]

    def open_problems(self, config: dict, counts: Counts) -> list[str]:
        return quorum_problems(config["rule"], counts)

    def tally(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> dict:
        valid_ballots, passing, base, minimum = committee_count(config["rule"], ballots, counts)
        rows = []
        for index, nominee in enumerate(config["nominees"]):
            tally = {"yes": 0, "no": 0, "abstain": 0}
            for ballot in valid_ballots:
                tally[ballot.choices["votes"][index]] += 1
            rate = Fraction(tally["yes"], base) if base else None
            rows.append(
                {
                    "name": nominee["name"],
                    "post": nominee["post"],
                    "yes": tally["yes"],
                    "no": tally["no"],
                    "abstain": tally["abstain"],
                    "rate": str(rate) if rate is not None else None,
                    "rate_display": percent(rate),
                    "passed": passing.met(tally["yes"], base),
                }
            )
        quorum = quorum_result(config["rule"], counts)
        base_label = DENOMINATORS[passing.denominator]
        base_text = (
            f"{base_label} {base} 人" if passing.denominator in ("expected", "present") else f"{base_label} {base} 张"
        )
        if base is None:
            base_text = f"{base_label}未录入"
        rule_line = f"依据：{passing.words('同意票')}（{base_text}"
        rule_line += f"，至少需 {minimum} 票）" if minimum is not None else "）"
        warnings = count_warnings(counts, ballots)  # no one passes on a vote that cannot be finalised
        if warnings:  # cannot be finalised: no one passes on this vote
            for row in rows:
                row["passed"] = None
        return {
            "kind": self.key,
            "order_text": order_of(config)["text"],
            "counts": counted(counts, ballots),
            "denominator": passing.denominator,
            "denominator_label": base_label,
            "denominator_value": base,
            "minimum": minimum,
            "rule_label": config["rule"]["label"],
            "rule_line": rule_line,
            "basis": config["rule"]["basis"],
            "quorum": quorum,
            "rows": rows,
            "finalised": not warnings,
            "warnings": warnings,
            "rounding": "百分比按精确分数四舍五入（ROUND_HALF_UP）保留两位小数，仅用于显示；是否通过按精确分数判断",
        }


def quorum_problems(rule: dict, counts: Counts) -> list[str]:
    """Why an item under this rule may not open now (实到 missing or below the quorum)."""
    if not rule["quorum"]:
        return []
    threshold = Threshold.from_dict(rule["quorum"])
    if counts.present is None:
        return ["本议题有到会人数要求，请先录入各表决组的实到人数"]
    if not threshold.met(counts.present, counts.expected):
        need = threshold.minimum(counts.expected)
        return [
            f"到会人数不足：{threshold.words('实到人数')}，应到 {counts.expected} 人，"
            f"至少需 {need} 人，现实到 {counts.present} 人，不能开始表决"
        ]
    return []


def quorum_result(rule: dict, counts: Counts) -> dict | None:
    if not rule["quorum"]:
        return None
    q = Threshold.from_dict(rule["quorum"])
    return {
        "words": q.words("实到人数"),
        "minimum": q.minimum(counts.expected),
        "met": q.met(counts.present, counts.expected) if counts.present is not None else None,
    }


def base_of(denominator: str, counts: Counts, cast: int, valid: int) -> int | None:
    return {"expected": counts.expected, "present": counts.present, "cast": cast, "valid": valid}[denominator]


def committee_count(rule: dict, ballots: Sequence[BallotData], counts: Counts):
    """(valid ballots, the passing threshold, its denominator's value, the fewest votes that pass)."""
    valid_ballots = [b for b in ballots if b.valid]
    passing = Threshold.from_dict(rule["passing"])
    base = base_of(passing.denominator, counts, len(ballots), len(valid_ballots))
    return valid_ballots, passing, base, passing.minimum(base)


def _display(nominee: dict) -> str:
    return f"{nominee['name']}（{nominee['post']}）" if nominee["post"] else nominee["name"]
