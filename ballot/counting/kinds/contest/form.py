"""差额票决 on the clerk's item form: one post a line (职位｜名额｜人选、人选), and the committee rule."""

from __future__ import annotations

from typing import Mapping

from ... import numbers
from .. import formfields
from ..approval.form import rule_fields, rule_values


def form_config(form: Mapping, groups) -> dict:
    posts = []
    for line in formfields.lines(form.get("con_posts", "")):
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        post, seats, names = (parts + ["", "", ""])[:3]
        posts.append({"post": post, "seats": numbers.form_integer(seats), "candidates": formfields.listed(names)})
    return {"posts": posts, "rule": rule_fields(form), "order": form.get("order", "strokes")}


def form_values(config: dict, groups) -> dict:
    return {
        "con_posts": "\n".join(f"{p['post']}｜{p['seats']}｜{'、'.join(p['candidates'])}" for p in config["posts"]),
        **rule_values(config["rule"]),
    }
