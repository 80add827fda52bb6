"""results.xlsx: the signed report's numbers laid out as clerks lay them out, one sheet per item,
plus a sheet of the anonymous ballots. Made from tally.json and ballots.json alone."""

from __future__ import annotations

import io
import json

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from ballot.counting.resulttables import COUNT_HEADER, channel_table, count_row, item_notes, item_tables

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
    for table in item_tables(item):
        if table.caption:
            ws.append([table.caption])
            ws[ws.max_row][0].font = BOLD
        _table(ws, table.header, table.rows)
        ws.append([])


def build(tally: dict, ballots: dict) -> bytes:
    wb = Workbook()
    wb.remove(wb.active)
    for n, item in enumerate(tally["items"], start=1):
        ws = wb.create_sheet(_sheet_title(n, item["title"]))
        ws.append([item["title"]])
        ws["A1"].font = Font(bold=True, size=14)
        ws.append([tally["meeting"]["title"], tally["meeting"]["date"]])
        ws.append(COUNT_HEADER)
        ws.append(count_row(item))
        ws.append([])
        channels = channel_table(item)
        if channels:
            _table(ws, channels.header, channels.rows)
            ws.append([])
        _item_rows(ws, item)
        for line in item_notes(item):
            ws.append([line])
            ws.cell(ws.max_row, 1).alignment = Alignment(wrap_text=False)
        for col in range(1, ws.max_column + 1):
            ws.column_dimensions[get_column_letter(col)].width = 14
        ws.column_dimensions["A"].width = 24
    ws = wb.create_sheet("匿名选票")
    _table(ws, ["议题", "表决组", "有效", "选择（与 ballots.json 相同）"], _ballot_rows(ballots))
    ws.column_dimensions["A"].width = 28
    ws.column_dimensions["D"].width = 60
    for sheet in wb.worksheets:
        _text_stays_text(sheet)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _text_stays_text(ws) -> None:
    """openpyxl stores a string beginning with "=" as a formula and "#N/A" as an error: a write-in or
    title must never become a live formula (=HYPERLINK(…)) in the clerk's Excel, so every str is a
    string cell."""
    for row in ws.iter_rows():
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"


def _ballot_rows(ballots: dict) -> list[list]:
    """The rows of ballots.json, nothing more: a group withheld there (docs/rules.md#evaluate) is never listed, and
    a ballot carries its group only where ballots.json gives it (kinds counted per group)."""
    rows = []
    for export in ballots["items"]:
        names = {str(gid): name for gid, name in export.get("groups", [])}
        withheld = set(export.get("withheld_groups") or {})
        for ballot in export["ballots"]:
            if "group" in ballot and str(ballot["group"]) in withheld:
                continue
            group = names.get(str(ballot["group"]), ballot["group"]) if "group" in ballot else "（不按组计票）"
            rows.append(
                [
                    export["title"],
                    group,
                    "是" if ballot["valid"] else "否",
                    json.dumps(ballot["choices"], ensure_ascii=False, sort_keys=True),
                ]
            )
        if "write_ins" in export:  # 民主推荐: write-ins are kept apart from the ballots, as totals
            rows.append([export["title"], "另行推荐（不随选票）", "", json.dumps(export["write_ins"], ensure_ascii=False)])
    return rows
