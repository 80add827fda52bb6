"""The signed tally archive of a meeting, and its offline verification.

Files (all but the signature are canonical JSON, RFC 8785, UTF-8):
- `tally.json`: the meeting, every closed item's configuration, counts (应到/实到/发出/收回/有效/
  无效), result and times, slip reconciliation per group, the software version, the signing key's
  id and fingerprint, and the SHA-256 of `ballots.json`, `receipts.json` and `audit.log`;
- `tally.json.minisig` + `minisign.pub`: an Ed25519 signature in the minisign format;
- `report.pdf` + `report.pdf.minisig`: the same report as a PDF/A-3b document for the archive
  (report.py), with tally.json and its signature attached, signed by the same key;
- `ballots.json`: the anonymous ballot export of every closed item (export.py);
- `receipts.json`: the receipt codes counted, per item (inclusion only, never content);
- `audit.log`: the meeting's clerk and chair actions, one JSON object a line, hash-chained.
`verify` checks all of it without a server or a database and recounts every item.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import rfc8785
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import __version__, audit, credentials, paperentry, report, reportfonts, signing, strokes, workbook
from .export import recount
from .meetings import OperationError, export_item, item_config, item_counts, item_result
from .models import Ballot, Meeting

FORMAT = "ballot-tally/1"
FILES = (
    "tally.json",
    "tally.json.minisig",
    "minisign.pub",
    "report.pdf",
    "report.pdf.minisig",
    "ballots.json",
    "receipts.json",
    "audit.log",
)
EXTRA = ("results.xlsx",)  # made from the signed files, for the clerk; not needed to verify


class UnprintableNames(OperationError):
    """Names with characters the report's fonts cannot print; the clerk must look before signing."""

    def __init__(self, gaps: list[reportfonts.Missing]):
        self.gaps = gaps
        super().__init__(
            "报告无法正确印出以下字符："
            + reportfonts.describe(gaps)
            + "。请改用规范汉字录入；若核对后仍要导出，请确认（tally.json 保存原字，PDF 中该字可能为空框）"
        )


def canonical(value) -> bytes:
    return rfc8785.dumps(value)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


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
    items = [i for i in meeting.items if i.status == "closed"]
    if not items:
        raise OperationError("本会议还没有结束表决的议题，无可归档的结果")
    ballots = canonical(
        {"format": "ballot-archive/1", "meeting": meeting.id, "items": [export_item(session, i) for i in items]}
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
    log = "".join(
        json.dumps(
            {
                "seq": e.seq,
                "at": _iso(e.at),
                "actor": e.actor,
                "role": e.role,
                "action": e.action,
                "detail": json.loads(e.detail_json),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            },
            ensure_ascii=False,
            sort_keys=True,
        )
        + "\n"
        for e in entries
    ).encode()
    tally = {
        "format": FORMAT,
        "software": {"name": "ballot", "version": __version__},
        "key": {"id": key.public.id_hex, "fingerprint": key.public.fingerprint},
        "meeting": {
            "id": meeting.id,
            "title": meeting.title,
            "date": meeting.date,
            "location": meeting.location,
            "name_order": strokes.rule_text(meeting.single_given_first),
        },
        "items": [_item_entry(session, i) for i in items],
        "reconciliation": [{"group": g.name, **credentials.reconciliation(session, g.id)} for g in meeting.groups],
        "digests": {"ballots.json": sha256(ballots), "receipts.json": sha256(receipts), "audit.log": sha256(log)},
        "audit_head": entries[-1].hash if entries else None,
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
        "config": item_config(item),
        "witnesses": json.loads(item.witnesses_json) if item.witnesses_json else None,
        "counts": {"expected": counts.expected, "present": counts.present, "issued": counts.issued},
        "result": item_result(session, item),
        "paper": paperentry.reconciliation(session, item),
    }


def _same_result(export: dict, reported: dict) -> bool:
    """A recount of the export equals the reported result; for a group too small to publish
    ballot by ballot (only its totals are in the report) the other groups' figures must agree."""
    counted = recount(export)
    if not export.get("withheld_groups"):
        return counted == reported
    withheld = {int(g) for g in export["withheld_groups"]}
    for mine, theirs in zip(counted.get("subjects", []), reported.get("subjects", []), strict=True):
        shown = [(a, b) for a, b in zip(mine["groups"], theirs["groups"], strict=True) if b["group_id"] not in withheld]
        if any(a != b for a, b in shown):
            return False
    return True


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


def read(path: Path) -> dict[str, bytes]:
    """The files of an archive folder or zip."""
    path = Path(path)
    if path.is_dir():
        return {name: (path / name).read_bytes() for name in FILES if (path / name).exists()}
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in FILES if name in z.namelist()}


@dataclass(frozen=True)
class Check:
    ok: bool
    line: str  # Chinese, one line: what was checked and the verdict


def _checker(checks: list[Check]):
    def check(ok: bool, what: str, why: str = "") -> bool:
        checks.append(Check(ok, f"{'通过' if ok else '失败'}：{what}{'' if ok else '：' + why}"))
        return ok

    return check


def verify_report(tally_bytes: bytes, signature: bytes, keys: list[signing.PublicKey]) -> list[Check]:
    """tally.json and its signature alone (no ballots, so no recount), against any of `keys`."""
    checks: list[Check] = []
    check = _checker(checks)
    if not keys:
        check(False, "签名", "没有可用的公钥：请同时上传会前公布的 minisign.pub")
        return checks
    errors = []
    for key in keys:
        try:
            signing.verify(tally_bytes, signature.decode(), key)
        except (signing.SigningError, UnicodeDecodeError) as exc:
            errors.append(str(exc))
            continue
        check(True, f"tally.json 的签名（密钥 {key.id_hex}，指纹 {key.fingerprint}）")
        break
    else:
        check(False, "tally.json 的签名", errors[0] if len(keys) == 1 else "不是所给任何公钥签署的，或文件被改动过")
        return checks
    try:
        tally = json.loads(tally_bytes)
        check(True, f"报告可读：{tally['meeting']['title']}，{len(tally['items'])} 个议题")
    except (ValueError, KeyError, TypeError):
        check(False, "报告可读", "JSON 格式无效")
    return checks


def verify(files: dict[str, bytes], public_key: signing.PublicKey | None = None) -> list[Check]:
    """Every check, each passed or failed with its reason. `public_key`: the key the scrutineers
    noted (else the archive's own minisign.pub, and the check says so)."""
    checks: list[Check] = []
    check = _checker(checks)
    missing = [n for n in FILES if n not in files]
    if not check(not missing, "归档文件齐全", f"缺少 {'、'.join(missing)}"):
        return checks
    try:
        key = public_key or signing.PublicKey.parse(files["minisign.pub"].decode())
        signing.verify(files["tally.json"], files["tally.json.minisig"].decode(), key)
        check(
            True,
            f"签名（密钥 {key.id_hex}，指纹 {key.fingerprint}）"
            + ("" if public_key else "；请核对该指纹与会前公布的一致"),
        )
    except (signing.SigningError, UnicodeDecodeError) as exc:
        check(False, "签名", str(exc))
        return checks
    try:
        signing.verify(files["report.pdf"], files["report.pdf.minisig"].decode(), key)
        check(True, "report.pdf 的签名")
    except (signing.SigningError, UnicodeDecodeError) as exc:
        check(False, "report.pdf 的签名", str(exc))
    try:
        tally = json.loads(files["tally.json"])
        ballots = json.loads(files["ballots.json"])
    except ValueError:
        check(False, "报告可读", "JSON 格式无效")
        return checks
    for name in ("ballots.json", "receipts.json", "audit.log"):
        check(
            sha256(files[name]) == tally["digests"][name],
            f"{name} 与签名报告中的摘要一致",
            "文件内容与报告记录的 SHA-256 不符，文件被改动过",
        )
    by_title = {e["title"]: e for e in ballots.get("items", [])}
    for item in tally["items"]:
        export = by_title.get(item["title"])
        if export is None:
            check(False, f"议题“{item['title']}”重新计票", "选票导出中没有该议题")
            continue
        try:
            same, why = _same_result(export, item["result"]), "按导出的选票重新计票，结果与报告不一致"
        except Exception as exc:  # a tampered export may not even parse as ballots
            same, why = False, f"选票导出无法计票（{type(exc).__name__}）"
        check(same, f"议题“{item['title']}”按选票导出重新计票，与报告一致", why)
    return checks
