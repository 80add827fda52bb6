"""逐人表态 in the signed report: one row per nominee."""

from __future__ import annotations

from ..tables import Table, verdict


def tables(r: dict) -> list[Table]:
    return [
        Table(
            ["人选", "职务", "同意", "不同意", "弃权", "同意率", "结果"],
            [
                [x["name"], x["post"], x["yes"], x["no"], x["abstain"], x["rate_display"], verdict(x["passed"])]
                for x in r["rows"]
            ],
        )
    ]
