"""民主测评 on the clerk's item form: teams and persons one a line, dimensions, weights per group,
the groups published one by one, 不了解, the minimum of ballots and the 优秀 quota."""

from __future__ import annotations

from typing import Mapping

from ... import numbers
from .. import formfields


def form_config(form: Mapping, groups) -> dict:
    subjects = [{"name": name, "category": "team"} for name in formfields.names(form.get("ev_teams", ""))]
    subjects += [{"name": p["name"], "post": p["post"]} for p in formfields.people(form.get("ev_subjects", ""))]
    raw = {
        "subjects": subjects,
        "dimensions": formfields.listed(form.get("ev_dimensions", "")),
        "weights": formfields.weights(form, groups, "ev_weight_"),
        "open_groups": [g.name for g in groups if form.get(f"ev_open_{g.id}") == "1"],
        "allow_unknown": form.get("ev_unknown") == "1",
        "denominator": form.get("ev_denominator", "rated"),
        "order": form.get("order", "strokes"),
    }
    minimum = form.get("ev_min", "5").strip()
    raw["min_ballots"] = numbers.form_integer(minimum)
    if form.get("ev_quota", "").strip():
        quota = form["ev_quota"].strip()
        raw["quotas"] = [{"grade": "优秀", "max": numbers.form_integer(quota)}]
    return raw


def form_values(config: dict, groups) -> dict:
    teams = [s["name"] for s in config["subjects"] if s["category"] == "team"]
    persons = [s for s in config["subjects"] if s["category"] == "person"]
    values = {
        "ev_teams": "\n".join(teams),
        "ev_subjects": "\n".join(f"{s['name']}，{s['post']}" if s["post"] else s["name"] for s in persons),
        "ev_dimensions": "、".join(config.get("dimensions") or []),
        "ev_unknown": "1" if config["allow_unknown"] else "",
        "ev_denominator": config["denominator"],
        "ev_min": config["min_ballots"],
        "ev_quota": next((q["max"] for q in config["quotas"] if q["grade"] == "优秀"), ""),
    }
    for g in groups:
        values[f"ev_weight_{g.id}"] = (config["weights"] or {}).get(g.name, "")
        values[f"ev_open_{g.id}"] = "1" if g.name in config["open_groups"] else ""
    return values
