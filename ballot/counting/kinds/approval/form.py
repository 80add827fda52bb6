"""逐人表态 on the clerk's item form: nominees one a line, and the committee rule (shared with 差额票决)."""

from __future__ import annotations

from typing import Mapping

from .. import formfields


def rule_fields(form: Mapping) -> dict:
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


def rule_values(rule: dict) -> dict:
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


def form_config(form: Mapping, groups) -> dict:
    return {
        "nominees": formfields.people(form.get("nominees", "")),
        "order": form.get("order", "strokes"),
        "rule": rule_fields(form),
    }


def form_values(config: dict, groups) -> dict:
    return {
        "nominees": "\n".join(f"{n['name']}，{n['post']}" if n["post"] else n["name"] for n in config["nominees"]),
        **rule_values(config["rule"]),
    }
