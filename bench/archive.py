"""Bench: the signed archive of a meeting with 10 closed items of 3,000 ballots each.

    .venv/bin/python bench/archive.py [--items 10] [--ballots 3000]

Ballots are inserted directly (this measures the archive, not voting). Prints the seconds to build
and sign the archive (tally.json, report.pdf, ballots.json, receipts, audit log, results.xlsx), to
verify it offline (signature, digests, recount of every item), the archive's size and the peak RSS;
then the seconds to render report.pdf alone against a floor: WeasyPrint rendering a one-page
Chinese PDF/A with the same fonts in the same run (its fixed cost of fonts and layout).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from ballot.archive import build as archive  # noqa: E402
from ballot.archive import signing  # noqa: E402
from ballot.archive import verify as verifier  # noqa: E402
from ballot.documents import report, reportfonts  # noqa: E402
from ballot.meetings import meetingfile  # noqa: E402
from ballot.meetings.sittings import close_item, open_item, set_present  # noqa: E402
from ballot.storage import audit  # noqa: E402
from ballot.storage.db import Database  # noqa: E402
from ballot.storage.migrate import upgrade  # noqa: E402
from ballot.storage.models import Ballot, Meeting  # noqa: E402
from ballot.voting.codes import new_id, new_receipt  # noqa: E402

ACTOR = audit.Actor("bench", "admin")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=10)
    ap.add_argument("--ballots", type=int, default=3000)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ballot-bench-archive-"))
    url = f"sqlite:///{tmp / 'ballot.db'}"
    upgrade(url)
    db = Database(url)
    names = ", ".join(f'"{n}"' for n in ("张伟", "王芳", "李强", "刘洋", "陈静", "欧阳明", "禤小明", "亓秀英"))
    items = "\n".join(
        f'[[items]]\ntitle = "第{i + 1}项 逐人表态"\nrule = "general"\nnominees = [{names}]\n'
        for i in range(args.items)
    )
    with db.write() as s:
        m = meetingfile.load(
            s, ACTOR, f'[meeting]\ntitle = "归档基准"\n[[groups]]\nname = "全体"\nexpected = {args.ballots}\n{items}'
        )
        set_present(s, ACTOR, m.groups[0], args.ballots)
        meeting_id, group_id, item_ids = m.id, m.groups[0].id, [i.id for i in m.items]
    rng = random.Random(1)
    for item_id in item_ids:
        with db.write() as s:
            open_item(s, ACTOR, item_id)
            rows = [
                {
                    "id": new_id(),
                    "item_id": item_id,
                    "group_id": group_id,
                    "valid": True,
                    "choices_json": json.dumps({"votes": [rng.choice(["yes", "no", "abstain"]) for _ in range(8)]}),
                    "receipt": new_receipt(),
                }
                for _ in range(args.ballots)
            ]
            s.execute(insert(Ballot), rows)
        with db.write() as s:
            close_item(s, ACTOR, item_id)
    signing.create_key(tmp)
    key = signing.load_key(tmp)
    start = time.perf_counter()
    with db.read() as s:
        files = archive.build(s, s.get(Meeting, meeting_id), key)
    built = time.perf_counter() - start
    start = time.perf_counter()
    checks = verifier.verify(files, [key.public])
    verified = time.perf_counter() - start
    assert all(c.ok for c in checks), [c.line for c in checks if not c.ok]
    size = sum(len(v) for v in files.values())
    start = time.perf_counter()
    pdf = report.render(files["tally.json"], files["tally.json.minisig"])
    rendered = time.perf_counter() - start
    (tmp / "report.pdf").write_bytes(pdf)
    from weasyprint import HTML

    start = time.perf_counter()
    HTML(
        string=f'<html lang="zh-CN"><body style="font-family: {reportfonts.css_family()}">计票结果报告 张伟</body></html>'
    ).write_pdf(pdf_variant="pdf/a-3b")
    floor = time.perf_counter() - start
    print(
        f"report.pdf: rendered in {rendered:.2f} s ({len(pdf) / 1e3:.0f} kB, {tmp / 'report.pdf'}); "
        f"floor (one-page PDF/A, same fonts) {floor:.2f} s; ratio {rendered / floor:.1f}"
    )
    print(
        f"archive of {args.items} items x {args.ballots} ballots: built and signed in {built:.1f} s, "
        f"verified with a recount in {verified:.1f} s; {size / 1e6:.1f} MB "
        f"(results.xlsx {len(files['results.xlsx']) / 1e6:.1f} MB); "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
