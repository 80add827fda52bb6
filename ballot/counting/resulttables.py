"""An item of the signed report as tables, the way clerks lay results out on paper.

Made from one item of tally.json alone, so results.xlsx and report.pdf show the same rows in
the same order (the kind's own order: 姓氏笔画 or rank) with the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Table:
    header: list[str]
    rows: list[list] = field(default_factory=list)
    caption: str = ""  # a line above the table (a post, an evaluated person with the composite)


def _verdict(passed) -> str:
    return "通过" if passed else ("不能确认" if passed is None else "未通过")


def item_tables(item: dict) -> list[Table]:
    r = item["result"]
    kind = item["kind"]
    if kind == "approval":
        return [
            Table(
                ["人选", "职务", "同意", "不同意", "弃权", "同意率", "结果"],
                [
                    [x["name"], x["post"], x["yes"], x["no"], x["abstain"], x["rate_display"], _verdict(x["passed"])]
                    for x in r["rows"]
                ],
            )
        ]
    if kind == "contest":
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
    if kind == "recommend":
        rows = [
            [x["rank"], x["name"], "是" if x["written_in"] else "", x["votes"], x["rate_display"]] for x in r["rows"]
        ]
        pool = r.get("write_ins_pooled")
        if pool:  # written-in spellings carried by fewer than k ballots: a total, never a name
            rows.append(["—", pool["label"], f"{pool['persons']} 人", pool["votes"], "—"])
        return [Table(["名次", "人选", "另行推荐", "得票", "得票率"], rows)]
    if kind == "evaluate":
        tables = []
        paper_invalid = any(c.get("invalid") for s in r["subjects"] for c in s["groups"])
        for s in r["subjects"]:
            rows = []
            for cell in s["groups"]:
                if "counts" not in cell:
                    rows.append([cell["group"], "票数不足或未结束，不显示"])
                    continue
                rows.append(
                    [
                        cell["group"],
                        *cell["counts"],
                        cell["abstain"],
                        cell["unknown"],
                        cell["top_rate"],
                        cell["good_or_better_rate"],
                        cell["fail_rate"],
                        cell["mean_display"],
                        "；".join(cell["flags"]),
                    ]
                )
            grades = s["grades"]
            header = ["测评组", *grades, "弃权", "不了解", f"{grades[0]}率", f"{grades[1]}以上率", f"{grades[-1]}率"]
            if paper_invalid:  # paper ballots can be 无效 for one subject (docs/rules.md#evaluate)
                header.insert(len(grades) + 3, "无效")
                for row in rows:
                    if len(row) > 2:
                        cell = next(c for c in s["groups"] if c["group"] == row[0])
                        row.insert(len(grades) + 3, cell.get("invalid", 0))
            composite = f"综合得分 {s['composite_display']}" + (
                f"（{s['composite_note']}）" if s["composite_note"] else ""
            )
            tables.append(
                Table([*header, "平均分", "提示"], rows, caption=f"{s['name']}（{s['category_label']}）  {composite}")
            )
        return tables
    if kind == "score":
        groups = [g["group"] for g in r["rows"][0]["groups"]] if r["rows"] else []
        return [
            Table(
                ["名次", "人选", *groups, "最后得分"],
                [
                    [x["rank"], x["name"], *[g["mean_display"] for g in x["groups"]], x["final_display"]]
                    for x in r["rows"]
                ],
            )
        ]
    raise ValueError(f"unknown ballot kind {kind!r}")


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
