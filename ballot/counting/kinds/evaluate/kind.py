"""民主测评 / 三元测评 (docs/rules.md#evaluate): each voter grades every subject on its scale.

Per subject and voter group: counts per grade, 弃权 and 不了解 apart; rates and mean points over
有效评价票 (ballots that graded the subject; 收回票数 if the clerk chooses); 优秀率, 称职以上率,
不称职率. Across groups: composite = Σ weight × group mean (groups weighted, never pooled), a
ranking by composite within each category (班子 / 个人), flags per group and pooled. A group with
fewer valid ballots than the minimum shows no figure, and a composite or pooled figure (or flag)
that would give its numbers back is withheld too, unless the group is marked 不匿名.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Mapping, Sequence

from ...rules import percent
from ..base import BallotData, CastError, Counts, Kind, KindConfigError, count_warnings, counted, order_of, people_order
from ..common import (
    check_weighted_groups,
    clean_name,
    display_fraction,
    exact_fraction,
    fixed2,
    ranked,
    same_name_key,
    stored_weights,
)
from ..sheets import Box, Sheet
from . import form as form_fields
from . import paper, tables
from .values import ABSTAIN, INVALID, UNKNOWN

# name -> (grades best first, points per grade); the last grade is the failing one
SCALES = {
    "competence": (("优秀", "称职", "基本称职", "不称职"), (100, 80, 60, 0)),
    "quality": (("好", "较好", "一般", "差"), (100, 80, 60, 0)),
    "satisfaction": (("满意", "基本满意", "不满意"), (100, 60, 0)),
}
SCALE_LABELS = {
    "competence": "优秀/称职/基本称职/不称职",
    "quality": "好/较好/一般/差",
    "satisfaction": "满意/基本满意/不满意",
}
CATEGORIES = {"person": "个人", "team": "班子"}
DEFAULT_SCALE = {"person": "competence", "team": "quality"}
FLAGS = {
    "fail_over_third": ("不称职票超过三分之一", Fraction(1, 3)),
}
MAX_SUBJECTS = 100
MAX_POINTS = 10_000  # points per grade (100, 85 …); bounded so a mean never works on huge numbers


class EvaluateKind(Kind):
    per_group = True
    key = "evaluate"
    tables_module = tables
    form_module = form_fields
    label = "民主测评 / 三元测评（按等次评价，分组加权）"
    paper_form_name = "测评表"

    def paper_boxes(self, config: dict) -> list[Box]:
        return paper.boxes(self, config)

    def sheet_from_keys(self, config: dict, keys: str, written: str) -> Sheet:
        return paper.sheet(self, config, keys)

    def paper_instructions(self, config: dict) -> list[str]:
        return paper.instructions(config)

    def paper_form_view(self, config: dict, layout) -> dict:
        return paper.form_view(self, config)

    def parse_config(self, raw: Mapping, *, single_given_first: bool = True) -> dict:
        scales = self._scales(raw.get("scales") or {})
        subjects = self._subjects(raw.get("subjects"), scales)
        unknown = raw.get("allow_unknown", False)
        if not isinstance(unknown, bool):
            raise KindConfigError("allow_unknown（不了解）须为 true 或 false")
        weights = stored_weights(raw.get("weights"))
        minimum = raw.get("min_ballots", 5)
        if not isinstance(minimum, int) or isinstance(minimum, bool) or not 1 <= minimum <= 1000:
            raise KindConfigError("每组最少票数（min_ballots）须为 1 到 1000 的整数")
        open_groups = raw.get("open_groups", [])
        if not isinstance(open_groups, list) or not all(isinstance(g, str) for g in open_groups):
            raise KindConfigError("不匿名的组（open_groups）须写成组名列表")
        denominator = str(raw.get("denominator", "rated"))
        if denominator not in ("rated", "cast"):
            raise KindConfigError("比率分母只能是 rated（有效评价票）或 cast（收回票数）")
        quotas = self._quotas(raw.get("quotas") or [], subjects, scales)
        dimensions = raw.get("dimensions") or []
        if not isinstance(dimensions, list) or len(dimensions) > 10:
            raise KindConfigError('测评维度（dimensions）须写成不超过 10 项的列表，如 ["德", "能", "勤", "绩", "廉"]')
        dimensions = [clean_name(d, "测评维度") for d in dimensions]
        if len(set(dimensions)) != len(dimensions):
            raise KindConfigError("测评维度重复")
        order = people_order(raw.get("order", "entered"), single_given_first)
        config = {
            "scales": scales,
            "subjects": subjects,
            "allow_unknown": unknown,
            "weights": weights,
            "min_ballots": minimum,
            "open_groups": sorted(set(open_groups)),
            "denominator": denominator,
            "quotas": quotas,
            "dimensions": dimensions,
            "order": order,
            "single_given_first": single_given_first,
        }
        return self.reorder(config, single_given_first=single_given_first)

    # -- configuration parts ----------------------------------------------------------------

    def _scales(self, raw) -> dict:
        scales = {key: {"grades": list(g), "points": list(p)} for key, (g, p) in SCALES.items()}
        if not isinstance(raw, Mapping):
            raise KindConfigError("自定义等次（scales）须写成 {名称 = {grades = [...], points = [...]}}")
        for key, spec in raw.items():
            if not isinstance(spec, Mapping):
                raise KindConfigError(f"等次“{key}”格式无效")
            grades = [clean_name(g, "等次") for g in spec.get("grades") or []]
            points = spec.get("points") or []
            if not 2 <= len(grades) <= 7 or len(set(grades)) != len(grades):
                raise KindConfigError(f"等次“{key}”须有 2 到 7 个互不相同的等次")
            if len(points) != len(grades) or not all(
                isinstance(p, int) and not isinstance(p, bool) and abs(p) <= MAX_POINTS for p in points
            ):
                raise KindConfigError(f"等次“{key}”的分值须为 -{MAX_POINTS} 到 {MAX_POINTS} 的整数，个数与等次相同")
            if points != sorted(points, reverse=True):
                raise KindConfigError(f"等次“{key}”的分值须从高到低排列")
            scales[str(key)] = {"grades": grades, "points": points}
        return scales

    def _subjects(self, raw, scales) -> list[dict]:
        if not isinstance(raw, list) or not raw:
            raise KindConfigError("请至少填写一个测评对象")
        if len(raw) > MAX_SUBJECTS:
            raise KindConfigError(f"测评对象不能超过 {MAX_SUBJECTS} 个")
        subjects, seen = [], set()
        for entry in raw:
            if isinstance(entry, str):
                entry = {"name": entry}
            if not isinstance(entry, Mapping):
                raise KindConfigError("测评对象须写姓名，或写成 {name = …, category = …, scale = …}")
            name = clean_name(entry.get("name"), "测评对象")
            category = str(entry.get("category", "person"))
            category = {"个人": "person", "班子": "team"}.get(category, category)
            if category not in CATEGORIES:
                raise KindConfigError(f"测评对象“{name}”的类别只能是 person（个人）或 team（班子）")
            scale = str(entry.get("scale", DEFAULT_SCALE[category]))
            if scale not in scales:
                raise KindConfigError(f"测评对象“{name}”的等次“{scale}”未定义")
            if same_name_key(name) in seen:
                raise KindConfigError(f"测评对象“{name}”重复出现")
            seen.add(same_name_key(name))
            post = " ".join(str(entry.get("post", "")).split())[:100]
            subjects.append({"name": name, "category": category, "scale": scale, "post": post})
        return subjects

    def _quotas(self, raw, subjects, scales) -> list[dict]:
        """Caps on a grade per ballot: at most `max` subjects, or at most `percent` of the subjects on
        that scale (⌊x% × n⌋); a percentage that allows none is refused with the number to use."""
        if not isinstance(raw, list):
            raise KindConfigError("等次比例限制（quotas）须写成列表")
        quotas = []
        for spec in raw:
            if not isinstance(spec, Mapping):
                raise KindConfigError("等次比例限制格式无效")
            scale = str(spec.get("scale", "competence"))
            if scale not in scales:
                raise KindConfigError(f"等次比例限制中的等次“{scale}”未定义")
            grade = str(spec.get("grade", scales[scale]["grades"][0]))
            if grade not in scales[scale]["grades"]:
                raise KindConfigError(f"等次“{grade}”不在“{scale}”中")
            n = sum(1 for s in subjects if s["scale"] == scale)
            if "max" in spec:
                cap = spec["max"]
                if not isinstance(cap, int) or isinstance(cap, bool) or cap < 0:
                    raise KindConfigError("等次限制人数（max）须为非负整数")
                words = f"每票评为“{grade}”的不超过 {cap} 人"
            elif "percent" in spec:
                share = exact_fraction(spec["percent"], "等次限制比例")
                share = share / 100 if share > 1 else share
                cap = math.floor(share * n)
                if cap == 0:
                    raise KindConfigError(
                        f"按 {display_fraction(share * 100)}% 计算，{n} 名测评对象中一个“{grade}”也不能评"
                        f"（⌊{display_fraction(share * 100)}% × {n}⌋ = 0）。请改用人数限制（max），例如 max = 1"
                    )
                words = f"每票评为“{grade}”的不超过 {display_fraction(share * 100)}%（{n} 人中至多 {cap} 人）"
            else:
                raise KindConfigError("等次比例限制须写 max（人数）或 percent（比例）")
            quotas.append({"scale": scale, "grade": grade, "max": cap, "words": words})
        return quotas

    def people(self, config: dict) -> list[str]:
        return [s["name"] for s in config["subjects"]]

    def reorder(self, config: dict, *, single_given_first: bool) -> dict:
        """班子 first, then persons; persons in 姓氏笔画 order unless the order is as entered."""
        order = order_of(config)
        subjects = list(config["subjects"])
        if order["key"] == "strokes":
            from ... import strokes

            order = people_order("strokes", single_given_first)
            teams = [s for s in subjects if s["category"] == "team"]
            persons = strokes.sorted_by_name(
                [s for s in subjects if s["category"] == "person"],
                lambda s: s["name"],
                single_given_first=single_given_first,
            )
            subjects = teams + persons
        return {**config, "subjects": subjects, "order": order, "single_given_first": single_given_first}

    # -- casting ----------------------------------------------------------------------------

    def units(self, config: dict) -> list[tuple[int, str | None, str]]:
        """What a ballot grades, in order: (subject index, dimension or None, form field)."""
        dims = config.get("dimensions") or []
        if not dims:
            return [(i, None, f"s{i}") for i in range(len(config["subjects"]))]
        return [(i, d, f"s{i}_{k}") for i in range(len(config["subjects"])) for k, d in enumerate(dims)]

    def form_field_names(self, config: dict) -> list[str]:
        return [field for _, _, field in self.units(config)]

    def options(self, config: dict, subject: dict) -> list[tuple[str, str]]:
        """(value, label) for one subject's choices on the phone and the paper form."""
        grades = config["scales"][subject["scale"]]["grades"]
        opts = [(str(i), g) for i, g in enumerate(grades)]
        if config["allow_unknown"]:
            opts.append((UNKNOWN, "不了解"))
        return opts + [(ABSTAIN, "弃权")]

    def parse_cast(self, config: dict, form: Mapping[str, list[str]]) -> dict:
        names = self.form_field_names(config)
        allowed = set(names)
        if any(f[:1] == "s" and f[1:].replace("_", "").isdigit() and f not in allowed for f in form):
            raise CastError("表单内容与本议题不符，请返回重新填写")
        grades = []
        for field in names:
            values = form.get(field, [])
            if len(values) > 1:
                raise CastError("每个测评对象只能选择一个等次")
            grades.append(values[0] if values else ABSTAIN)  # unmarked counts as 弃权
        return self.check_choices(config, {"grades": grades})

    def check_choices(self, config: dict, choices) -> dict:
        grades = choices.get("grades") if isinstance(choices, dict) else None
        subjects, units = config["subjects"], self.units(config)
        if not isinstance(grades, list) or len(grades) != len(units):
            raise CastError("选票内容无效，请返回重新填写")
        for (i, _, _), grade in zip(units, grades, strict=True):
            valid = {v for v, _ in self.options(config, subjects[i])}
            if grade not in valid:
                raise CastError("选票内容无效，请返回重新填写")
        for quota in config["quotas"]:
            index = self.quota_grade(config, quota)
            for dimension, covered in self.quota_units(config, quota):
                used = sum(1 for n in covered if grades[n] == index)
                if used > quota["max"]:
                    where = f"（{dimension}）" if dimension else ""
                    raise CastError(f"{quota['words']}{where}，本票评了 {used} 人，请修改后再提交")
        return {"grades": list(grades)}

    def quota_grade(self, config: dict, quota: dict) -> str:
        """The stored value of the grade a quota caps (e.g. "0" for 优秀)."""
        return str(config["scales"][quota["scale"]]["grades"].index(quota["grade"]))

    def quota_units(self, config: dict, quota: dict) -> list[tuple[str | None, list[int]]]:
        """(dimension, the unit indices a quota covers there): with dimensions the cap holds in each."""
        units = self.units(config)
        return [
            (
                dimension,
                [
                    n
                    for n, (i, d, _) in enumerate(units)
                    if d == dimension and config["subjects"][i]["scale"] == quota["scale"]
                ],
            )
            for dimension in config.get("dimensions") or [None]
        ]

    def review(self, config: dict, choices: dict) -> list[tuple[str, str]]:
        lines = []
        for (i, dimension, _), grade in zip(self.units(config), choices["grades"], strict=True):
            subject = config["subjects"][i]
            label = dict(self.options(config, subject))[grade]
            lines.append((f"{subject['name']}（{dimension}）" if dimension else subject["name"], label))
        return lines

    # -- counting ---------------------------------------------------------------------------

    def withheld_groups(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> set[int]:
        """The one rule for both the tally and the ballot export (docs/rules.md#evaluate): a closed group, not
        marked 不匿名, whose VALID ballots are fewer than the minimum. The tally shows no figure of
        it; the export carries none of its ballots, valid or invalid – only their number."""
        groups = _voting_groups(counts, ballots)
        closed = set(counts.closed_groups) if counts.groups else set(groups)
        valid = [b for b in ballots if b.valid and b.group_id in groups]
        return _small_groups(config, groups, valid) & closed

    def check_groups(self, config: dict, group_names: list[str]) -> None:
        check_weighted_groups(config["weights"], group_names, "测评")
        unknown = [g for g in config["open_groups"] if g not in group_names]
        if unknown:
            raise KindConfigError(f"不匿名的组“{'、'.join(unknown)}”不是参加测评的组")

    def tally(self, config: dict, ballots: Sequence[BallotData], counts: Counts) -> dict:
        """Per group as `counts.groups` names them; the composite needs every group in
        `counts.closed_groups`. Without groups, all ballots are one closed group."""
        warnings = count_warnings(counts, ballots)  # why the result cannot be finalised yet, if it cannot
        groups = _voting_groups(counts, ballots)
        closed = set(counts.closed_groups) if counts.groups else set(groups)
        weights = {g: Fraction(w) for g, w in config["weights"].items()} if config["weights"] else None
        sgf = config.get("single_given_first", True)
        by_group = {gid: [b for b in ballots if b.group_id == gid and b.valid] for gid in groups}
        withheld = self.withheld_groups(config, ballots, counts)
        # Pooled figures and flags are shown only when every group is closed and may be shown: pooled
        # minus the visible groups gives a withheld (or still voting) group's numbers back.
        if withheld:
            pooled_note = "有测评组票数不足，合并各组的数字和提示会暴露该组结果，不显示"
        elif set(groups) - closed:
            pooled_note = "待所有测评组结束后再合并各组"
        else:
            pooled_note = ""
        subjects_out = []
        for index, subject in enumerate(config["subjects"]):
            scale = config["scales"][subject["scale"]]
            per_group = []
            for gid, name in groups.items():
                cell = self._cell(config, scale, self._unit_indices(config, index), by_group[gid])
                if config.get("dimensions") and gid in closed and gid not in withheld:
                    cell["dimensions"] = [
                        {"name": d, **self._cell(config, scale, [u], by_group[gid])}
                        for d, u in zip(config["dimensions"], self._unit_indices(config, index), strict=True)
                    ]
                cell.update(
                    group=name,
                    group_id=gid,
                    ballots=len(by_group[gid]),
                    withheld=gid in withheld,
                    closed=gid in closed,
                    open_group=name in config["open_groups"],
                )
                if cell["withheld"] or not cell["closed"]:  # too few ballots, or still voting: no figure
                    cell = {k: cell[k] for k in ("group", "group_id", "ballots", "withheld", "closed", "open_group")}
                per_group.append(cell)
            pooled = self._cell(
                config, scale, self._unit_indices(config, index), [b for gid in groups for b in by_group[gid]]
            )
            composite, composite_note = self._composite(weights, per_group, groups, withheld, closed)
            subjects_out.append(
                {
                    "name": subject["name"],
                    "post": subject["post"],
                    "category": subject["category"],
                    "category_label": CATEGORIES[subject["category"]],
                    "grades": scale["grades"],
                    "groups": per_group,
                    "pooled_flags": [] if pooled_note else pooled["flags"],
                    "pooled": None if pooled_note else pooled,
                    "pooled_note": pooled_note,
                    "composite": str(composite) if composite is not None else None,
                    "composite_display": fixed2(composite),
                    "composite_note": composite_note,
                }
            )
        rank_order = {
            c: ranked(
                [s for s in subjects_out if s["category"] == c],
                lambda s: Fraction(s["composite"]) if s["composite"] else None,
                lambda s: s["name"],
                sgf,
            )
            for c in CATEGORIES
        }
        den = "有效评价票（评了等次的票，弃权、不了解不计入）" if config["denominator"] == "rated" else "收回票数"
        weight_words = (
            "；".join(f"{g} {fixed2(Fraction(w) * 100)}%" for g, w in config["weights"].items())
            if config["weights"]
            else "单组测评，无加权"
        )
        return {
            "kind": self.key,
            "order_text": order_of(config)["text"],
            "counts": counted(counts, ballots),
            "groups": [
                {
                    "id": gid,
                    "name": name,
                    "ballots": len(by_group[gid]),
                    "withheld": gid in withheld,
                    "closed": gid in closed,
                    "open_group": name in config["open_groups"],
                    "weight": config["weights"].get(name) if config["weights"] else None,
                }
                for gid, name in groups.items()
            ],
            "subjects": subjects_out,
            "rankings": {
                CATEGORIES[c]: [
                    {"name": s["name"], "rank": s["rank"], "composite": s["composite_display"]} for s in rows
                ]
                for c, rows in rank_order.items()
                if rows
            },
            "quotas": [q["words"] for q in config["quotas"]],
            "rule_line": f"比率与平均分的分母：{den}；综合得分 = Σ 组权重 × 该组平均分（{weight_words}），各组分别计算、不合并",
            "basis": f"每组有效票少于 {config['min_ballots']} 张时不显示该组任何数字，含该组的综合得分和合并各组的数字、提示"
            "一并不显示，该组选票也不逐张导出（标为不匿名的组除外）；不称职票超过三分之一等提示只作提示，不自动产生后果",
            "warnings": warnings,
            "finalised": not warnings,
            "rounding": "比率、平均分、综合得分按精确分数四舍五入（ROUND_HALF_UP）保留两位小数，仅用于显示；排名按精确值，相同者并列",
        }

    def _unit_indices(self, config: dict, subject_index: int) -> list[int]:
        return [k for k, (i, _, _) in enumerate(self.units(config)) if i == subject_index]

    def _cell(self, config, scale, indices, ballots) -> dict:
        """Counts over the given units of every ballot (one unit, or a subject's dimensions)."""
        grades = scale["grades"]
        counts = [0] * len(grades)
        abstain = unknown = invalid = 0
        for b in ballots:
            for index in indices:
                g = b.choices["grades"][index]
                if g == ABSTAIN:
                    abstain += 1
                elif g == UNKNOWN:
                    unknown += 1
                elif g == INVALID:
                    invalid += 1
                else:
                    counts[int(g)] += 1
        rated = sum(counts)
        base = rated if config["denominator"] == "rated" else len(ballots) * len(indices)
        points = sum(c * p for c, p in zip(counts, scale["points"], strict=True))

        def rate(n):
            return Fraction(n, base) if base else None

        top, fail = rate(counts[0]), rate(counts[-1])
        good = rate(counts[0] + counts[1])
        mean = Fraction(points, base) if base else None
        flags = []
        if counts[-1] * 3 > base and base:  # 超过三分之一: strict
            flags.append(f"{grades[-1]}票超过三分之一（{counts[-1]}/{base}）")
        return {
            "counts": counts,
            "abstain": abstain,
            "unknown": unknown,
            "invalid": invalid,
            "rated": rated,
            "base": base,
            "rates": [percent(rate(c)) for c in counts],
            "top_rate": percent(top),
            "good_or_better_rate": percent(good),
            "fail_rate": percent(fail),
            "mean": str(mean) if mean is not None else None,
            "mean_display": fixed2(mean),
            "flags": flags,
        }

    def _composite(self, weights, per_group, groups, withheld, closed) -> tuple[Fraction | None, str]:
        if weights is None:
            if len(per_group) == 1 and not per_group[0]["withheld"] and per_group[0].get("mean") is not None:
                return Fraction(per_group[0]["mean"]), ""
            if len(per_group) == 1:
                return None, "票数不足，不显示" if per_group[0]["withheld"] else "无有效评价"
            return None, "未设置各组权重，不计算综合得分"
        if set(groups) - closed:
            return None, "待所有测评组结束后计算"
        if withheld:
            return None, "有测评组票数不足，综合得分会暴露该组结果，不显示"
        total = Fraction(0)
        for cell in per_group:
            weight = weights.get(cell["group"])
            if weight is None:
                return None, f"“{cell['group']}”未设置权重"
            if cell.get("mean") is None:
                return None, f"“{cell['group']}”对该对象没有有效评价"
            total += weight * Fraction(cell["mean"])
        return total, ""


def _voting_groups(counts: Counts, ballots: Sequence[BallotData]) -> dict[int, str]:
    """id -> name of the groups counted apart; without groups, all ballots are one group."""
    return dict(counts.groups) or {b.group_id: "全体" for b in ballots} or {0: "全体"}


def _small_groups(config: dict, groups: dict[int, str], ballots: Sequence[BallotData]) -> set[int]:
    """Groups with fewer of `ballots` than the minimum and not marked 不匿名 (callers pass the valid ones)."""
    sizes: dict[int, int] = {}
    for b in ballots:
        sizes[b.group_id] = sizes.get(b.group_id, 0) + 1
    return {
        gid
        for gid, name in groups.items()
        if sizes.get(gid, 0) < config["min_ballots"] and name not in config["open_groups"]
    }
