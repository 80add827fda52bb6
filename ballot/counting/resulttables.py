"""An item of the signed report as tables, the way clerks lay results out on paper.

Made from one item of tally.json alone, so results.xlsx and report.pdf show the same rows in the
same order (the kind's own order: 姓氏笔画 or rank) with the same words; each kind lays out its own
tables (kinds/<kind>/tables.py), the parts every result has are here.
"""

from __future__ import annotations

from .kinds import KINDS
from .kinds.tables import Table

__all__ = ["COUNT_HEADER", "Table", "channel_table", "count_row", "item_notes", "item_tables"]


def item_tables(item: dict) -> list[Table]:
    """The item's result as its kind lays it out (kinds/<kind>/tables.py)."""
    kind = KINDS.get(item["kind"])
    if kind is None:
        raise ValueError(f"unknown ballot kind {item['kind']!r}")
    return kind.result_tables(item["result"])


def channel_table(item: dict) -> Table | None:
    """发出/收回/有效/无效 per channel (phone, paper) and in total, when the item had paper ballots."""
    c = item["result"]["counts"]
    if not c.get("channels"):
        return None
    rows = [[ch["label"], ch["issued"], ch["cast"], ch["valid"], ch["invalid"]] for ch in c["channels"]]
    rows.append(["合计", c["issued"], c["cast"], c["valid"], c["invalid"]])
    return Table(["渠道", "发出", "收回", "有效", "无效"], rows)


def item_notes(item: dict) -> list[str]:
    """The lines printed under the tables: warnings first, then 无效 by reason, the shortlist,
    order, rule and rounding."""
    r = item["result"]
    lines = list(r.get("warnings") or [])
    reasons = r["counts"].get("invalid_reasons")
    if reasons:
        lines.append("无效票：" + "；".join(f"{x['label']} {x['count']} 张" for x in reasons))
    if r.get("shortlist"):
        lines.append(f"{r['shortlist']['words']}：{'、'.join(r['shortlist']['names']) or '无'}")
        if r["shortlist"].get("unnamed_words"):
            lines.append(r["shortlist"]["unnamed_words"])
        if r["shortlist"].get("tied_at_cutoff") or r["shortlist"].get("tied_unnamed"):
            tied = list(r["shortlist"]["tied_at_cutoff"])
            if r["shortlist"].get("tied_unnamed"):
                tied.append(f"{r['shortlist']['tied_unnamed']} 名不公布姓名的另行推荐人选")
            lines.append(f"末位得票相同、未自动取舍：{'、'.join(tied)}")
    lines += [r[k] for k in ("write_in_words", "order_text", "rule_line", "basis", "rounding") if r.get(k)]
    return lines


COUNT_HEADER = ["应到", "实到", "发出", "收回", "有效", "无效"]


def count_row(item: dict) -> list[int]:
    r = item["result"]["counts"]  # 发出 there is codes + paper sheets
    return [r["expected"], r["present"], r["issued"], r["cast"], r["valid"], r["invalid"]]
