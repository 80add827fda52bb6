"""评委打分 in the signed report: one row per candidate in rank order, a column per group."""

from __future__ import annotations

from ..tables import Table


def tables(r: dict) -> list[Table]:
    groups = [g["group"] for g in r["rows"][0]["groups"]] if r["rows"] else []
    return [
        Table(
            ["名次", "人选", *groups, "最后得分"],
            [[x["rank"], x["name"], *[g["mean_display"] for g in x["groups"]], x["final_display"]] for x in r["rows"]],
        )
    ]
