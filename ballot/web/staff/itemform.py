"""The clerk's item form: form fields to a kind's raw configuration and back.

Every kind's fields sit on one page (fields of the other kinds are ignored); the kind's own
`parse_config` then checks everything, exactly as for a meeting file or the API.
"""

from __future__ import annotations

from typing import Mapping

from ballot.counting import numbers

SEPARATORS = ("\t", "｜", "|", "，", ",")


def _lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def _split(line: str) -> tuple[str, str]:
    for sep in SEPARATORS:
        if sep in line:
            head, tail = line.split(sep, 1)
            return head.strip(), tail.strip()
    return line, ""


def _names(text: str) -> list[str]:
    return [_split(line)[0] for line in _lines(text)]


def _people(text: str) -> list[dict]:
    """One a line: 姓名, optionally followed by ，or | or a tab and the post."""
    return [{"name": name, "post": post} for name, post in map(_split, _lines(text))]


def _list(text: str) -> list[str]:
    for sep in ("、", "，", ",", " "):
        text = (text or "").replace(sep, "\n")
    return _lines(text)


def _weights(form: Mapping, groups, prefix: str) -> dict[str, str] | None:
    weights = {g.name: form.get(f"{prefix}{g.id}", "").strip() for g in groups}
    weights = {name: value for name, value in weights.items() if value}
    return weights or None


def _rule(form: Mapping) -> dict:
    preset = form.get("preset", "appointment")
    rule: dict = {"preset": preset}
    if preset == "custom":
        rule.update(
            pass_op=form.get("pass_op", ">"),
            pass_fraction=form.get("pass_fraction", "1/2"),
            denominator=form.get("denominator", "expected"),
            basis=form.get("basis", ""),
        )
        if form.get("quorum_fraction", "").strip():
            rule.update(quorum_op=form.get("quorum_op", ">="), quorum_fraction=form.get("quorum_fraction"))
    return rule


def raw_config(form: Mapping, kind: str, groups) -> dict:
    """The raw configuration of `kind` from the submitted form; `groups` are the meeting's groups."""
    return {
        **_kind_config(form, kind, groups),
        "live": form.get("live") == "1",
        "live_batch": form.get("live_batch", ""),
    }


def _kind_config(form: Mapping, kind: str, groups) -> dict:
    order = form.get("order", "strokes")
    if kind == "recommend":
        raw = {
            "seats": form.get("rec_seats", ""),
            "candidates": _names(form.get("rec_candidates", "")),
            "write_ins": form.get("rec_write_ins") == "1",
            "denominator": form.get("rec_denominator", "cast"),
            "order": order,
        }
        if form.get("rec_threshold", "").strip():
            raw["threshold"] = {"op": form.get("rec_threshold_op", ">="), "fraction": form["rec_threshold"].strip()}
        if form.get("rec_ratio", "").strip():
            raw["ratio"] = form["rec_ratio"].strip()
        return raw
    if kind == "contest":
        posts = []
        for line in _lines(form.get("con_posts", "")):
            parts = [p.strip() for p in line.replace("｜", "|").split("|")]
            post, seats, names = (parts + ["", "", ""])[:3]
            posts.append({"post": post, "seats": numbers.form_integer(seats), "candidates": _list(names)})
        return {"posts": posts, "rule": _rule(form), "order": order}
    if kind == "evaluate":
        subjects = [{"name": name, "category": "team"} for name in _names(form.get("ev_teams", ""))]
        subjects += [{"name": p["name"], "post": p["post"]} for p in _people(form.get("ev_subjects", ""))]
        raw = {
            "subjects": subjects,
            "dimensions": _list(form.get("ev_dimensions", "")),
            "weights": _weights(form, groups, "ev_weight_"),
            "open_groups": [g.name for g in groups if form.get(f"ev_open_{g.id}") == "1"],
            "allow_unknown": form.get("ev_unknown") == "1",
            "denominator": form.get("ev_denominator", "rated"),
            "order": order,
        }
        minimum = form.get("ev_min", "5").strip()
        raw["min_ballots"] = numbers.form_integer(minimum)
        if form.get("ev_quota", "").strip():
            quota = form["ev_quota"].strip()
            raw["quotas"] = [{"grade": "优秀", "max": numbers.form_integer(quota)}]
        return raw
    if kind == "score":
        sub_items = [{"name": name, "max": high} for name, high in map(_split, _lines(form.get("sc_sub_items", "")))]
        minimum = form.get("sc_trim_min", "5").strip()
        return {
            "candidates": _names(form.get("sc_candidates", "")),
            "min": form.get("sc_min", "0"),
            "max": form.get("sc_max", "100"),
            "step": form.get("sc_step", "0.5"),
            "sub_items": sub_items,
            "trim": form.get("sc_trim", "totals"),
            "trim_min_judges": numbers.form_integer(minimum),
            "weights": _weights(form, groups, "sc_weight_"),
            "order": order,
        }
    return {"nominees": _people(form.get("nominees", "")), "order": order, "rule": _rule(form)}


def _rule_values(rule: dict) -> dict:
    values = {"preset": rule["preset"], "basis": rule["basis"] if rule["preset"] == "custom" else ""}
    if rule["preset"] == "custom":
        values.update(
            pass_op=rule["passing"]["op"],
            pass_fraction=rule["passing"]["fraction"],
            denominator=rule["passing"]["denominator"],
        )
        if rule["quorum"]:
            values.update(quorum_op=rule["quorum"]["op"], quorum_fraction=rule["quorum"]["fraction"])
    return values


def form_values(kind: str, config: dict, groups) -> dict:
    """The form fields that show a stored configuration for editing."""
    order = (config.get("order") or {}).get("key", "entered")
    if kind == "recommend":
        values = {
            "rec_seats": config["seats"],
            "rec_candidates": "\n".join(config["candidates"]),
            "rec_write_ins": "1" if config["write_ins"] else "",
            "rec_denominator": config["denominator"],
            "rec_ratio": config["ratio"] or "",
        }
        if config["threshold"]:
            values.update(rec_threshold_op=config["threshold"]["op"], rec_threshold=config["threshold"]["fraction"])
    elif kind == "contest":
        values = {
            "con_posts": "\n".join(f"{p['post']}｜{p['seats']}｜{'、'.join(p['candidates'])}" for p in config["posts"]),
            **_rule_values(config["rule"]),
        }
    elif kind == "evaluate":
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
    elif kind == "score":
        values = {
            "sc_candidates": "\n".join(config["candidates"]),
            "sc_min": config["min"],
            "sc_max": config["max"],
            "sc_step": config["step"],
            "sc_sub_items": "\n".join(f"{s['name']}，{s['max']}" for s in config["sub_items"]),
            "sc_trim": config["trim"],
            "sc_trim_min": config["trim_min_judges"],
        }
        for g in groups:
            values[f"sc_weight_{g.id}"] = (config["weights"] or {}).get(g.name, "")
    else:
        values = {
            "nominees": "\n".join(f"{n['name']}，{n['post']}" if n["post"] else n["name"] for n in config["nominees"]),
            **_rule_values(config["rule"]),
        }
    live = config.get("live") or {}
    return {**values, "order": order, "live": "1" if live else "", "live_batch": live.get("batch", "")}
