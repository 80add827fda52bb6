"""差额票决 in the signed report: a table per post."""

from __future__ import annotations

from ..tables import Table


def tables(r: dict) -> list[Table]:
    return [
        Table(
            ["人选", "得票", "得票率", "过半数", "结果"],
            [
                [
                    x["name"],
                    x["votes"],
                    x["rate_display"],
                    "是" if x["majority"] else "否",
                    "当选" if x["elected"] else "",
                ]
                for x in post["rows"]
            ],
            caption=f"{post['post']}（{len(post['rows'])} 选 {post['seats']}）",
        )
        for post in r["posts"]
    ]
