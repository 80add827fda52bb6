"""Reading the clerk's item form: the text fields every kind's form is made of, as plain data.

The form arrives as a mapping of field names to strings (no web framework here); each kind turns
its own fields into a raw configuration and back (kinds/<kind>/form.py).
"""

from __future__ import annotations

from typing import Mapping

SEPARATORS = ("\t", "｜", "|", "，", ",")


def lines(text: str) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def split(line: str) -> tuple[str, str]:
    for sep in SEPARATORS:
        if sep in line:
            head, tail = line.split(sep, 1)
            return head.strip(), tail.strip()
    return line, ""


def names(text: str) -> list[str]:
    return [split(line)[0] for line in lines(text)]


def people(text: str) -> list[dict]:
    """One a line: 姓名, optionally followed by ，or | or a tab and the post."""
    return [{"name": name, "post": post} for name, post in map(split, lines(text))]


def listed(text: str) -> list[str]:
    for sep in ("、", "，", ",", " "):
        text = (text or "").replace(sep, "\n")
    return lines(text)


def weights(form: Mapping, groups, prefix: str) -> dict[str, str] | None:
    found = {g.name: form.get(f"{prefix}{g.id}", "").strip() for g in groups}
    found = {name: value for name, value in found.items() if value}
    return found or None
