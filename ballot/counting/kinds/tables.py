"""A result table as clerks lay results out on paper; each kind makes its own from its result."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    header: list[str]
    rows: list[list] = field(default_factory=list)
    caption: str = ""  # a line above the table (a post, an evaluated person with the composite)


def verdict(passed) -> str:
    return "通过" if passed else ("不能确认" if passed is None else "未通过")
