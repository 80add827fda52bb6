"""民主测评 in the signed report: a table per subject, one row per group, with the composite above."""

from __future__ import annotations

from ..tables import Table


def tables(r: dict) -> list[Table]:
    out = []
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
        composite = f"综合得分 {s['composite_display']}" + (f"（{s['composite_note']}）" if s["composite_note"] else "")
        out.append(
            Table([*header, "平均分", "提示"], rows, caption=f"{s['name']}（{s['category_label']}）  {composite}")
        )
    return out
