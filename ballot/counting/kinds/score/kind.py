"""评委打分 (docs/rules.md#score): judges score each candidate within a range and step, optionally by
sub-items (小分制) that sum to the total.

Per candidate and judge group: drop one highest and one lowest score (去掉一个最高分和一个最低分;
only in a group of at least `trim_min_judges` judges, default 5), then the mean; trimming applies
to each judge's total by default, or to each sub-item as an explicit option. Groups combine by
weights that sum to 1. Scores are exact Fractions, shown to 2 decimals ROUND_HALF_UP; equal final
scores share a rank.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping, Sequence

from ... import numbers
from ..base import BallotData, CastError, Counts, Kind, KindConfigError, count_warnings, counted, order_of, people_order
from ..common import (
    check_weighted_groups,
    clean_name,
    display_fraction,
    exact_fraction,
    fixed2,
    ordered,
    parse_names,
    ranked,
    stored_weights,
)
from ..sheets import Box, Sheet
from . import form as form_fields
from . import paper, tables

MAX_SUB_ITEMS = 10


class ScoreKind(Kind):
    per_group = True
    key = "score"
    tables_module = tables
    form_module = form_fields
    label = "评委打分（去掉最高分和最低分，分组加权）"
    paper_form_name = "评分表"

    supports_series = True

    def series(self, config: dict) -> str | None:
        return config.get("series")

    def series_items(self, title: str, config: dict) -> list[tuple[str, dict]]:
        """当场亮分: one item per candidate, in the order given, sharing a series."""
        candidates = config.get("candidates")
        if not isinstance(candidates, list) or not candidates:
            raise KindConfigError("逐人亮分须列出参评人选（candidates）")
        return [(f"{title}：{name}", {**config, "candidates": [name], "series": title}) for name in candidates]

    def paper_boxes(self, config: dict) -> list[Box]:
        return paper.boxes(self, config)

    def parse_sheet(self, config: dict, line: str) -> Sheet:
        return paper.sheet(self, config, line)

    def sheet_words(self, config: dict, line: str) -> str:
        return paper.words(self, config, line)

    def paper_keypad(self, boxes: list[Box]) -> list[tuple[str, str]]:
        return list(paper.KEYPAD)

    def paper_instructions(self, config: dict) -> list[str]:
        return paper.instructions(self, config)

    def paper_form_view(self, config: dict, layout) -> dict:
        return paper.form_view(self, config)

    def parse_config(self, raw: Mapping, *, single_given_first: bool = True) -> dict:
        candidates = parse_names(raw.get("candidates"), "参评人选")
        order = people_order(raw.get("order", "entered"), single_given_first)  # default: 抽签顺序 as entered
        low = exact_fraction(raw.get("min", 0), "最低分")
        high = exact_fraction(raw.get("max", 100), "最高分")
        step = exact_fraction(raw.get("step", "0.5"), "分值步长")
        if not (0 <= low < high <= 1000) or step <= 0 or (high - low) % step:
            raise KindConfigError("分值范围须满足 0 ≤ 最低分 < 最高分 ≤ 1000，且范围是步长的整数倍")
        sub_items = []
        for entry in raw.get("sub_items") or []:
            if not isinstance(entry, Mapping):
                raise KindConfigError("小分项须写成 {name = …, max = …}")
            item_max = exact_fraction(entry.get("max"), "小分项满分")
            if item_max <= 0 or item_max % step:
                raise KindConfigError("小分项满分须为正数，且是步长的整数倍")
            sub_items.append({"name": clean_name(entry.get("name"), "小分项"), "max": str(item_max)})
        if len(sub_items) > MAX_SUB_ITEMS:
            raise KindConfigError(f"小分项不能超过 {MAX_SUB_ITEMS} 个")
        if sub_items and (low != 0 or sum(Fraction(s["max"]) for s in sub_items) != high):
            raise KindConfigError(
                f"小分项满分之和须等于总分 {display_fraction(high)}（现为 "
                f"{display_fraction(sum(Fraction(s['max']) for s in sub_items))}），且最低分为 0"
            )
        trim = str(raw.get("trim", "totals"))
        if trim not in ("totals", "sub_items", "none"):
            raise KindConfigError("去分方式（trim）只能是 totals（按总分）、sub_items（按各小分项）或 none（不去分）")
        if trim == "sub_items" and not sub_items:
            raise KindConfigError("按小分项去分须先设置小分项")
        trim_min = raw.get("trim_min_judges", 5)
        if not isinstance(trim_min, int) or isinstance(trim_min, bool) or not 3 <= trim_min <= 100:
            raise KindConfigError("去分所需最少评委数（trim_min_judges）须为 3 到 100 的整数")
        weights = stored_weights(raw.get("weights"))
        return {
            "candidates": ordered(candidates, order, single_given_first),
            "order": order,
            "single_given_first": single_given_first,
            "min": str(low),
            "max": str(high),
            "step": str(step),
            "sub_items": sub_items,
            "trim": trim,
            "trim_min_judges": trim_min,
            "weights": weights,
            # 当场亮分: one item per candidate, ranked together by the series they share
            "series": " ".join(str(raw.get("series") or "").split())[:200] or None,
        }

    def people(self, config: dict) -> list[str]:
        return list(config["candidates"])

    def reorder(self, config: dict, *, single_given_first: bool) -> dict:
        if order_of(config)["key"] != "strokes":
            return {**config, "single_given_first": single_given_first}
        order = people_order("strokes", single_given_first)
        names = ordered(config["candidates"], order, single_given_first)
        return {**config, "candidates": names, "order": order, "single_given_first": single_given_first}

    def check_groups(self, config: dict, group_names: list[str]) -> None:
        check_weighted_groups(config["weights"], group_names, "打分")

    # -- casting ----------------------------------------------------------------------------

    def parts(self, config: dict) -> list[tuple[str, Fraction]]:
        """(label, maximum) of what a judge scores per candidate: the sub-items, or one total."""
        if config["sub_items"]:
            return [(s["name"], Fraction(s["max"])) for s in config["sub_items"]]
        return [("得分", Fraction(config["max"]))]

    def number(self, text: str) -> str:
        """A configured number as judges read it: 0.5, not 1/2."""
        return _decimal(Fraction(text))

    def form_field_names(self, config: dict) -> list[str]:
        return [f"s{i}_{j}" for i in range(len(config["candidates"])) for j in range(len(self.parts(config)))]

    def parse_cast(self, config: dict, form: Mapping[str, list[str]]) -> dict:
        allowed = set(self.form_field_names(config))
        if any(f[:1] == "s" and "_" in f and f not in allowed for f in form):
            raise CastError("表单内容与本议题不符，请返回重新填写")
        scores = []
        for i, name in enumerate(config["candidates"]):
            row = []
            for j, (label, _) in enumerate(self.parts(config)):
                values = form.get(f"s{i}_{j}", [])
                text = values[0].strip() if len(values) == 1 else ""
                if not text:
                    raise CastError(f"请为“{name}”填写{label}")
                row.append(text)
            scores.append(row)
        return self.check_choices(config, {"scores": scores})

    def check_choices(self, config: dict, choices) -> dict:
        scores = choices.get("scores") if isinstance(choices, dict) else None
        parts = self.parts(config)
        if not isinstance(scores, list) or len(scores) != len(config["candidates"]):
            raise CastError("评分内容无效，请返回重新填写")
        low, step = Fraction(config["min"]), Fraction(config["step"])
        checked = []
        for name, row in zip(config["candidates"], scores, strict=True):
            if not isinstance(row, list) or len(row) != len(parts):
                raise CastError("评分内容无效，请返回重新填写")
            values = []
            for (label, high), text in zip(parts, row, strict=True):
                # length and form before converting: "1e10000000" would hold the GIL for seconds
                value = numbers.number(text, f"“{name}”的{label}", error=CastError)
                part_low = low if len(parts) == 1 else Fraction(0)
                if not part_low <= value <= high:
                    raise CastError(f"“{name}”的{label}须在 {_decimal(part_low)} 到 {_decimal(high)} 之间")
                if (value - part_low) % step:
                    raise CastError(f"“{name}”的{label}须以 {_decimal(step)} 分为单位")
                values.append(display_fraction(value))
            checked.append(values)
        return {"scores": checked}

    def review(self, config: dict, choices: dict) -> list[tuple[str, str]]:
        parts = self.parts(config)
        lines = []
        for name, row in zip(config["candidates"], choices["scores"], strict=True):
            if len(parts) == 1:
                lines.append((name, f"{_decimal(Fraction(row[0]))} 分"))
            else:
                total = sum(Fraction(v) for v in row)
                detail = "，".join(f"{label} {_decimal(Fraction(v))}" for (label, _), v in zip(parts, row, strict=True))
                lines.append((name, f"{_decimal(total)} 分（{detail}）"))
        return lines

    # -- counting ---------------------------------------------------------------------------

    def tally(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> dict:
        warnings = count_warnings(counts, ballots)  # why the result cannot be finalised yet, if it cannot
        groups = dict(counts.groups) or {b.group_id: "全体评委" for b in ballots} or {0: "全体评委"}
        weights = {g: Fraction(w) for g, w in config["weights"].items()} if config["weights"] else None
        by_group = {gid: [b for b in ballots if b.valid and b.group_id == gid] for gid in groups}
        rows = []
        for i, name in enumerate(config["candidates"]):
            per_group = []
            for gid, group in groups.items():
                sheets = [[Fraction(v) for v in b.choices["scores"][i]] for b in by_group[gid]]
                per_group.append({"group": group, **self._group_score(config, sheets)})
            final, note = self._final(weights, per_group)
            rows.append(
                {
                    "name": name,
                    "groups": per_group,
                    "final": str(final) if final is not None else None,
                    "final_display": fixed2(final),
                    "note": note,
                }
            )
        rows_ranked = ranked(
            [dict(r) for r in rows],
            lambda r: Fraction(r["final"]) if r["final"] else None,
            lambda r: r["name"],
            config.get("single_given_first", True),
        )
        rank_of = {r["name"]: r["rank"] for r in rows_ranked}
        for row in rows:
            row["rank"] = rank_of[row["name"]]
        trim_words = {
            "totals": f"每组评委不少于 {config['trim_min_judges']} 人时，去掉每名人选总分中的一个最高分和一个最低分后取平均",
            "sub_items": f"每组评委不少于 {config['trim_min_judges']} 人时，每个小分项分别去掉一个最高分和一个最低分后取平均再相加",
            "none": "不去掉最高分和最低分，取平均",
        }[config["trim"]]
        weight_words = (
            "；".join(f"{g} {fixed2(Fraction(w) * 100)}%" for g, w in config["weights"].items())
            if config["weights"]
            else "单组评委"
        )
        return {
            "kind": self.key,
            "order_text": order_of(config)["text"]
            if order_of(config)["key"] == "strokes"
            else "按抽签（录入）顺序排列",
            "counts": counted(counts, ballots),
            "rows": rows,
            "ranking": [{"name": r["name"], "rank": r["rank"], "final": r["final_display"]} for r in rows_ranked],
            "rule_line": f"{trim_words}；最后得分 = Σ 组权重 × 该组平均分（{weight_words}）",
            "basis": "评委打分规则：去掉一个最高分和一个最低分",
            "warnings": warnings,
            "finalised": not warnings,
            "rounding": "得分按精确分数计算，显示时四舍五入（ROUND_HALF_UP）保留两位小数；最后得分相同者名次并列",
        }

    def _group_score(self, config: dict, sheets: list[list[Fraction]]) -> dict:
        judges = len(sheets)
        if not judges:
            return {"judges": 0, "mean": None, "mean_display": "—", "dropped": [], "trimmed": False}
        trim = config["trim"] != "none" and judges >= config["trim_min_judges"]
        dropped = []
        if config["trim"] == "sub_items" and trim:
            total = Fraction(0)
            for j in range(len(sheets[0])):
                values = sorted(s[j] for s in sheets)
                dropped.append(
                    {"part": config["sub_items"][j]["name"], "high": _decimal(values[-1]), "low": _decimal(values[0])}
                )
                total += Fraction(sum(values[1:-1]), len(values) - 2)
            mean = total
        else:
            totals = sorted(sum(s) for s in sheets)
            if trim:
                dropped.append({"part": "总分", "high": _decimal(totals[-1]), "low": _decimal(totals[0])})
                totals = totals[1:-1]
            mean = Fraction(sum(totals), len(totals))
        return {"judges": judges, "mean": str(mean), "mean_display": fixed2(mean), "dropped": dropped, "trimmed": trim}

    def _final(self, weights, per_group) -> tuple[Fraction | None, str]:
        if any(g["mean"] is None for g in per_group):
            return None, "有评委组尚未评分"
        if weights is None:
            return Fraction(per_group[0]["mean"]), ""
        return sum(weights[g["group"]] * Fraction(g["mean"]) for g in per_group), ""


def _decimal(value: Fraction) -> str:
    """An exact score as judges write it (90, 90.5); other fractions to 2 decimals."""
    if value.denominator == 1:
        return str(value.numerator)
    if (value * 100).denominator == 1:
        return f"{float(value):g}"
    return fixed2(value)
