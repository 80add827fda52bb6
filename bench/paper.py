"""Paper ballots: a hall's paper entered twice and counted, and the blank forms printed.

    .venv/bin/python bench/paper.py [--sheets 1000] [--copies 300]

1. A 测评 item of 20 subjects; `--sheets` paper ballots typed by two 计票人 in stacks of 100
   (both entries agree): seconds for all the entries (parse, store, compare, count) and for the
   tally afterwards. Floor, in the same run: inserting the same number of ballot rows directly.
2. `--copies` identical 测评表 pages to one PDF: seconds and size. Floor: one page.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from ballot.documents import paperforms  # noqa: E402
from ballot.meetings import meetingfile  # noqa: E402
from ballot.meetings.results import item_result  # noqa: E402
from ballot.meetings.sittings import close_item, open_item, set_present  # noqa: E402
from ballot.paper import paperentry  # noqa: E402
from ballot.storage import audit  # noqa: E402
from ballot.storage.db import Database  # noqa: E402
from ballot.storage.migrate import upgrade  # noqa: E402
from ballot.storage.models import Ballot, Item  # noqa: E402
from ballot.voting.codes import new_id  # noqa: E402

CLERK = audit.Actor("bench-clerk", "clerk")
TELLERS = (audit.Actor("teller1", "teller"), audit.Actor("teller2", "teller"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗"


def meeting_file(sheets: int) -> str:
    subjects = ", ".join(f'"{s}{g}"' for s, g in zip(SURNAMES, "明华强军平伟芳敏静丽磊洋勇艳杰娟涛超霞刚", strict=True))
    return f"""
[meeting]
title = "纸质票基准"
[[groups]]
name = "全体"
expected = {sheets}
[[items]]
title = "民主测评（纸质）"
kind = "evaluate"
subjects = [{subjects}]
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sheets", type=int, default=1000)
    ap.add_argument("--copies", type=int, default=300)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ballot-bench-paper-"))
    url = f"sqlite:///{tmp / 'ballot.db'}"
    upgrade(url)
    db = Database(url)
    with db.write() as s:
        m = meetingfile.load(s, CLERK, meeting_file(args.sheets))
        set_present(s, CLERK, m.groups[0], args.sheets)
        item_id, group_id = m.items[0].id, m.groups[0].id
        open_item(s, CLERK, item_id)
        paperentry.set_paper_issued(s, CLERK, item_id, group_id, args.sheets)
    rng = random.Random(7)
    lines = ["".join(rng.choice("12340") for _ in range(20)) for _ in range(args.sheets)]
    start = time.perf_counter()
    for at in range(0, len(lines), 100):
        stack = "\n".join(lines[at : at + 100])
        with db.write() as s:
            batch_id = paperentry.new_batch(s, CLERK, item_id, group_id).id
        for teller in TELLERS:
            with db.write() as s:
                paperentry.submit_entry(s, teller, batch_id, stack)
    entered = time.perf_counter() - start
    with db.write() as s:
        close_item(s, CLERK, item_id)
    with db.write() as s:
        paperentry.finish(s, CLERK, item_id)
    start = time.perf_counter()
    with db.read() as s:
        result = item_result(s, s.get(Item, item_id))
    tallied = time.perf_counter() - start
    assert result["counts"]["cast"] == args.sheets and result["finalised"]

    # floor: the same number of ballot rows inserted directly, stack by stack
    floor_db = Database(f"sqlite:///{tmp / 'floor.db'}")
    upgrade(floor_db.url)
    start = time.perf_counter()
    for at in range(0, len(lines), 100):
        with floor_db.write() as s:
            s.execute(
                insert(Ballot),
                [
                    {"id": new_id(), "item_id": 1, "group_id": 1, "valid": True, "choices_json": json.dumps(line)}
                    for line in lines[at : at + 100]
                ],
            )
    floor = time.perf_counter() - start
    print(
        f"paper entry: {args.sheets} 测评 sheets of 20 subjects, typed twice in stacks of 100: "
        f"{entered:.2f} s ({args.sheets * 2 / entered:.0f} sheet entries/s); tally after {tallied:.2f} s; "
        f"floor (direct inserts) {floor:.2f} s; ratio {entered / floor:.1f}"
    )

    with db.read() as s:
        item = s.get(Item, item_id)
        config, title = item.config, item.title
    meeting = {"title": "纸质票基准", "date": "2026-11-23"}
    start = time.perf_counter()
    one = paperforms.render(meeting, title, "evaluate", config, "全体", 1)
    one_s = time.perf_counter() - start
    start = time.perf_counter()
    many = paperforms.render(meeting, title, "evaluate", config, "全体", args.copies)
    many_s = time.perf_counter() - start
    print(
        f"blank forms: {args.copies} identical 测评表 pages in {many_s:.2f} s ({len(many) / 1e6:.1f} MB); "
        f"floor (one page) {one_s:.2f} s ({len(one) / 1e3:.0f} kB); ratio {many_s / one_s:.1f}"
    )


if __name__ == "__main__":
    main()
