"""Building the signed tally archive of a meeting (verify.py checks it offline).

Files (all but the signature are canonical JSON, RFC 8785, UTF-8):
- `tally.json`: the meeting (and its unit's name), every closed item's configuration, counts (应到/实到/发出/收回/有效/
  无效), result and times, slip reconciliation per group, the software version, the signing key's
  id and fingerprint, and the SHA-256 of `ballots.json`, `receipts.json` and `audit.log`;
- `tally.json.minisig` + `minisign.pub`: an Ed25519 signature in the minisign format;
- `report.pdf` + `report.pdf.minisig`: the same report as a PDF/A-3b document for the archive
  (report.py), with tally.json and its signature attached, signed by the same key;
- `ballots.json`: the anonymous ballot export of every closed item (export.py; no ballot carries
  write-in text, the write-ins of 民主推荐 come apart as public totals);
- `receipts.json`: the receipt codes counted, per item (inclusion only, never content);
- `audit.log`: the meeting's clerk and chair actions, one JSON object a line, hash-chained.
verify.py checks all of it without a server or a database and recounts every item.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ballot import __version__
from ballot.archive import signing
from ballot.archive.verify import EXTRA, FILES, FORMAT, canonical, sha256
from ballot.clock import utcnow
from ballot.counting import strokes
from ballot.counting.errors import OperationError
from ballot.counting.kinds import get_kind
from ballot.documents import report, reportfonts, workbook
from ballot.meetings import units
from ballot.meetings.results import export_item, item_result
from ballot.meetings.sittings import item_counts
from ballot.paper import paperentry
from ballot.storage import audit
from ballot.storage.models import Ballot, ItemStatus, Meeting
from ballot.voting import credentials


class UnprintableNames(OperationError):
    """Names with characters the report's fonts cannot print; the clerk must look before signing."""

    def __init__(self, gaps: list[reportfonts.Missing]):
        self.gaps = gaps
        super().__init__(
            "报告无法正确印出以下字符："
            + reportfonts.describe(gaps)
            + "。请改用规范汉字录入；若核对后仍要导出，请确认（tally.json 保存原字，PDF 中该字可能为空框）"
        )


def _iso(value) -> str | None:
    return value.isoformat() + "Z" if value else None


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def unprintable(tally: dict) -> list[reportfonts.Missing]:
    """Characters of the report (names, titles, witnesses …) that no report font prints faithfully."""
    return reportfonts.missing(_strings(tally))


def build(
    session: Session, meeting: Meeting, key: signing.SigningKey, accept_unprintable: bool = False
) -> dict[str, bytes]:
    """Every file of the archive, signed with `key`. Refused while a name has a character the
    report cannot print, unless the clerk has seen the list and accepts it (`accept_unprintable`):
    tally.json keeps the exact character either way, only the PDF would show an empty box."""
    items = [i for i in meeting.items if i.status == ItemStatus.CLOSED]
    if not items:
        raise OperationError("本会议还没有结束表决的议题，无可归档的结果")
    ballots = canonical(
        {
            "format": "ballot-archive/2",
            "meeting": meeting.id,
            "unit": units.unit_name(session, meeting.unit_id),
            "items": [{"item": i.id, **export_item(session, i)} for i in items],  # matched by id: titles repeat
        }
    )
    receipts = canonical(
        {
            "meeting": meeting.id,
            "items": [
                {
                    "item": i.id,
                    "receipts": sorted(
                        session.execute(
                            select(Ballot.receipt).where(Ballot.item_id == i.id, Ballot.receipt.is_not(None))
                        ).scalars()
                    ),
                }
                for i in items
            ],
        }
    )
    entries = audit.entries(session, meeting.id)
    log = "".join(json.dumps(audit.export_line(e), ensure_ascii=False, sort_keys=True) + "\n" for e in entries).encode()
    tally = {
        "format": FORMAT,
        "software": {"name": "ballot", "version": __version__},
        "key": {"id": key.public.id_hex, "fingerprint": key.public.fingerprint},
        "meeting": {
            "id": meeting.id,
            "unit": units.unit_name(session, meeting.unit_id),  # which unit's meeting the signature covers
            "title": meeting.title,
            "date": meeting.date,
            "location": meeting.location,
            "name_order": strokes.rule_text(meeting.single_given_first),
        },
        "items": [_item_entry(session, i) for i in items],
        "reconciliation": [{"group": g.name, **credentials.reconciliation(session, g.id)} for g in meeting.groups],
        "digests": {"ballots.json": sha256(ballots), "receipts.json": sha256(receipts), "audit.log": sha256(log)},
        "audit_head": entries[-1].hash if entries else None,
        "audit_entries": len(entries),
        "withdrawn": [
            {
                "id": i.id,
                "title": i.title,
                "reason": i.withdrawn_reason,
                "replaced_by": next((r.id for r in meeting.items if r.replaces_id == i.id), None),
            }
            for i in meeting.items
            if i.status == ItemStatus.WITHDRAWN
        ],
        "signed_at": _iso(utcnow()),
    }
    gaps = unprintable(tally)
    if gaps and not accept_unprintable:
        raise UnprintableNames(gaps)
    tally_bytes = canonical(tally)
    comment = f"ballot tally report, meeting {meeting.id}, sha256 {sha256(tally_bytes)}"
    tally_signature = key.sign(tally_bytes, comment).encode()
    pdf = report.render(tally_bytes, tally_signature)
    return {
        "results.xlsx": workbook.build(tally, json.loads(ballots)),
        "tally.json": tally_bytes,
        "tally.json.minisig": tally_signature,
        "minisign.pub": key.public.minisign().encode(),
        "report.pdf": pdf,
        "report.pdf.minisig": key.sign(pdf, f"ballot tally report PDF, meeting {meeting.id}").encode(),
        "ballots.json": ballots,
        "receipts.json": receipts,
        "audit.log": log,
    }


def _item_entry(session: Session, item) -> dict:
    counts = item_counts(session, item)
    return {
        "id": item.id,
        "title": item.title,
        "kind": item.kind,
        "opened_at": _iso(item.opened_at),
        "closed_at": _iso(item.closed_at),
        "config": get_kind(item.kind).public_config(item.config),
        "witnesses": json.loads(item.witnesses_json) if item.witnesses_json else None,
        "counts": {"expected": counts.expected, "present": counts.present, "issued": counts.issued},
        "result": item_result(session, item),
        "paper": paperentry.reconciliation(session, item),
    }


def write(files: dict[str, bytes], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


def zipped(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name in FILES + EXTRA:
            if name in files:
                z.writestr(name, files[name])
    return out.getvalue()
