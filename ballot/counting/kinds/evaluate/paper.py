"""民主测评 on paper: one key per subject (and dimension) – the grade's number as printed (1 = 优秀 …),
0 未划 (弃权), x 划了多个等次; a subject marked twice, or more 优秀 than the quota allows, is 无效 for
those subjects only (docs/rules.md#evaluate)."""

from __future__ import annotations

from ..sheets import Box, Sheet, only
from .values import ABSTAIN, INVALID


def grade_options(kind, config: dict, subject: dict) -> list[tuple[str, str]]:
    """The grades a sheet prints for a subject, 弃权 left out (an unmarked subject is 弃权)."""
    return [(v, label) for v, label in kind.options(config, subject) if v != ABSTAIN]


def boxes(kind, config: dict) -> list[Box]:
    out = []
    for i, dimension, _ in kind.units(config):
        subject = config["subjects"][i]
        options = [(str(n + 1), label) for n, (value, label) in enumerate(grade_options(kind, config, subject))]
        label = f"{subject['name']}（{dimension}）" if dimension else subject["name"]
        out.append(Box(label, (*options, ("0", "未划"), ("x", "多划"))))
    return out


def sheet(kind, config: dict, keys: str) -> Sheet:
    units = kind.units(config)
    grades = []
    for (i, _, _), key in zip(units, keys, strict=True):
        options = grade_options(kind, config, config["subjects"][i])
        allowed = "0x" + "".join(str(n + 1) for n in range(len(options)))
        only(key, allowed)
        grades.append(INVALID if key == "x" else ABSTAIN if key == "0" else options[int(key) - 1][0])
    for quota in config["quotas"]:  # over the quota: 无效 for those subjects (docs/rules.md#evaluate)
        index = kind.quota_grade(config, quota)
        for _, covered in kind.quota_units(config, quota):
            if sum(1 for n in covered if grades[n] == index) > quota["max"]:
                for n in covered:
                    grades[n] = INVALID
    return Sheet(keys, True, {"grades": grades})


def instructions(config: dict) -> list[str]:
    lines = ["请对每名测评对象在一个等次下的空格内划√；不划的视为弃权；同一对象划两个以上等次的，该对象的评价无效。"]
    lines += [f"{q['words']}，超过的，这些对象的评价无效。" for q in config["quotas"]]
    return lines


def form_view(kind, config: dict) -> dict:
    view: dict = {
        "rows": [
            {
                "name": config["subjects"][i]["name"] + (f"（{d}）" if d else ""),
                "post": config["subjects"][i].get("post", ""),
                "grades": [label for _, label in grade_options(kind, config, config["subjects"][i])],
            }
            for i, d, _ in kind.units(config)
        ]
    }
    view["grade_header"] = view["rows"][0]["grades"] if view["rows"] else []
    view["same_scale"] = all(r["grades"] == view["grade_header"] for r in view["rows"])
    view["max_grades"] = max((len(r["grades"]) for r in view["rows"]), default=1)
    return view
