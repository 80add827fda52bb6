"""results.xlsx: the signed report's numbers laid out as clerks lay them out, one sheet per item,
plus a sheet of the anonymous ballots. Made from tally.json and ballots.json alone."""

from __future__ import annotations

import io
import json

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

BOLD = Font(bold=True)


def _sheet_title(n: int, title: str) -> str:
    """Excel sheet names: at most 31 characters, none of []:*?/\\ ."""
    clean = "".join(ch for ch in title if ch not in "[]:*?/\\")
    return f"{n}.{clean}"[:31]


def _table(ws, header: list[str], rows: list[list]) -> None:
    ws.append(header)
    for cell in ws[ws.max_row]:
        cell.font = BOLD
    for row in rows:
        ws.append(row)


def _item_rows(ws, item: dict) -> None:
    r = item["result"]
    kind = item["kind"]
    if kind == "approval":
        _table(
            ws,
            ["人选", "职务", "同意", "不同意", "弃权", "同意率", "结果"],
            [
                [
                    x["name"],
                    x["post"],
                    x["yes"],
                    x["no"],
                    x["abstain"],
                    x["rate_display"],
                    "通过" if x["passed"] else ("不能确认" if x["passed"] is None else "未通过"),
                ]
                for x in r["rows"]
            ],
        )
    elif kind == "contest":
        for post in r["posts"]:
            ws.append([f"{post['post']}（{len(post['rows'])} 选 {post['seats']}）"])
            ws[ws.max_row][0].font = BOLD
            _table(
                ws,
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
            )
            ws.append([])
    elif kind == "recommend":
        _table(
            ws,
            ["名次", "人选", "另行推荐", "得票", "得票率"],
            [[x["rank"], x["name"], "是" if x["written_in"] else "", x["votes"], x["rate_display"]] for x in r["rows"]],
        )
        if r.get("shortlist"):
            ws.append([])
            ws.append([r["shortlist"]["words"], "、".join(r["shortlist"]["names"])])
    elif kind == "evaluate":
        for s in r["subjects"]:
            ws.append(
                [f"{s['name']}（{s['category_label']}）", "综合得分", s["composite_display"], s["composite_note"]]
            )
            ws[ws.max_row][0].font = BOLD
            header = [
                "测评组",
                *s["grades"],
                "弃权",
                "不了解",
                f"{s['grades'][0]}率",
                f"{s['grades'][1]}以上率",
                f"{s['grades'][-1]}率",
                "平均分",
                "提示",
            ]
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
            _table(ws, header, rows)
            ws.append([])
    elif kind == "score":
        groups = [g["group"] for g in r["rows"][0]["groups"]] if r["rows"] else []
        _table(
            ws,
            ["名次", "人选", *groups, "最后得分"],
            [[x["rank"], x["name"], *[g["mean_display"] for g in x["groups"]], x["final_display"]] for x in r["rows"]],
        )


def build(tally: dict, ballots: dict) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for n, item in enumerate(tally["items"], start=1):
        ws = wb.create_sheet(_sheet_title(n, item["title"]))
        c, r = item["counts"], item["result"]["counts"]
        ws.append([item["title"]])
        ws["A1"].font = Font(bold=True, size=14)
        ws.append([tally["meeting"]["title"], tally["meeting"]["date"]])
        ws.append(["应到", "实到", "发出", "收回", "有效", "无效"])
        ws.append([c["expected"], c["present"], c["issued"], r["cast"], r["valid"], r["invalid"]])
        ws.append([])
        _item_rows(ws, item)
        ws.append([])
        for line in (
            item["result"].get("order_text"),
            item["result"].get("rule_line"),
            item["result"].get("basis"),
            item["result"].get("rounding"),
        ):
            if line:
                ws.append([line])
                ws.cell(ws.max_row, 1).alignment = Alignment(wrap_text=False)
        for col in range(1, ws.max_column + 1):
            ws.column_dimensions[get_column_letter(col)].width = 14
        ws.column_dimensions["A"].width = 24
    ws = wb.create_sheet("匿名选票")
    _table(
        ws,
        ["议题", "表决组", "有效", "选择（与 ballots.json 相同）"],
        [
            [
                export["title"],
                ballot["group"],
                "是" if ballot["valid"] else "否",
                json.dumps(ballot["choices"], ensure_ascii=False, sort_keys=True),
            ]
            for export in ballots["items"]
            for ballot in export["ballots"]
        ],
    )
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["D"].width = 60
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
