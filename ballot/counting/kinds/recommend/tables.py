"""民主推荐 in the signed report: one row per person in rank order, and the pooled written-in total."""

from __future__ import annotations

from ..tables import Table


def tables(r: dict) -> list[Table]:
    rows = [[x["rank"], x["name"], "是" if x["written_in"] else "", x["votes"], x["rate_display"]] for x in r["rows"]]
    pool = r.get("write_ins_pooled")
    if pool:  # written-in spellings carried by fewer than k ballots: a total, never a name
        rows.append(["—", pool["label"], f"{pool['persons']} 人", pool["votes"], "—"])
    return [Table(["名次", "人选", "另行推荐", "得票", "得票率"], rows)]
