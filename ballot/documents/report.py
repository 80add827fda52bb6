"""report.pdf: the signed tally report as an archival PDF/A-3b document.

It is a rendering of tally.json and nothing else: A4, Chinese, one table per item with the rule
and its denominators spelled out, signature lines for 监票人/计票人/主持人, and on every page the
signing key's fingerprint and a QR code of tally.json's SHA-256. tally.json and its minisign
signature are embedded as PDF attachments (PDF/A-3 allows this), so the PDF alone carries what
is needed to verify it. WeasyPrint lays it out with Pango and embeds a subset of every font it
uses (reportfonts.py picks them).
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import datetime

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ballot.assets import asset_dir
from ballot.counting.kinds import get_kind
from ballot.counting.resulttables import COUNT_HEADER, channel_table, count_row, item_notes, item_tables

from . import reportfonts
from .slips import qr_svg

RECONCILIATION_HEADER = ["表决组", "签发", "已使用", "未使用", "已作废", "核对"]


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(asset_dir("templates")), autoescape=select_autoescape(["html"]))
    env.filters["when"] = _when
    return env


def _when(iso: str | None) -> str:
    """UTC ISO time as the clerk reads it (the report says the times are UTC)."""
    if not iso:
        return "—"
    return datetime.fromisoformat(iso.removesuffix("Z")).strftime("%Y-%m-%d %H:%M:%S")


def _svg_data_uri(svg: str) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def digest_text(tally_bytes: bytes) -> str:
    """What the QR code on every page holds: enough to match the PDF to its tally.json."""
    return f"ballot-tally sha256:{hashlib.sha256(tally_bytes).hexdigest()}"


def _item_view(item: dict) -> dict:
    witnesses = item.get("witnesses") or {}
    return {
        "title": item["title"],
        "kind_label": get_kind(item["kind"]).label,
        "opened_at": item["opened_at"],
        "closed_at": item["closed_at"],
        "count_header": COUNT_HEADER,
        "count_row": ["—" if n is None else n for n in count_row(item)],
        "channels": channel_table(item),
        "paper": item.get("paper") or [],
        "finalised": item["result"].get("finalised", True),
        "tables": item_tables(item),
        "notes": item_notes(item),
        "scrutineers": witnesses.get("scrutineers", []),
        "tellers": witnesses.get("tellers", []),
    }


def _reconciliation_rows(tally: dict) -> list[list]:
    rows = []
    for r in tally["reconciliation"]:
        balanced = r["issued"] == r["used"] + r["unused"] + r["voided"]
        rows.append([r["group"], r["issued"], r["used"], r["unused"], r["voided"], "相符" if balanced else "不符"])
    return rows


def html(tally: dict, tally_bytes: bytes) -> str:
    digest = hashlib.sha256(tally_bytes).hexdigest()
    return (
        _environment()
        .get_template("report/report.html")
        .render(
            tally=tally,
            meeting=tally["meeting"],
            items=[_item_view(i) for i in tally["items"]],
            reconciliation_header=RECONCILIATION_HEADER,
            reconciliation=_reconciliation_rows(tally),
            digest=digest,
            digest_groups=" ".join(digest[i : i + 8] for i in range(0, len(digest), 8)),
            qr=_svg_data_uri(qr_svg(digest_text(tally_bytes), module_px=2)),
            fonts=reportfonts.css_family(),
            made_at=tally.get("made_at"),
        )
    )


def render(tally_bytes: bytes, signature: bytes) -> bytes:
    """The PDF/A-3b report of a signed tally.json, with it and its signature attached."""
    from weasyprint import HTML, Attachment

    tally = json.loads(tally_bytes)
    document = HTML(string=html(tally, tally_bytes), base_url=asset_dir("templates"))
    return document.write_pdf(
        pdf_variant="pdf/a-3b",
        attachments=[
            Attachment(
                string=tally_bytes,
                name="tally.json",
                description="签名计票报告（RFC 8785 JSON）",
                relationship="Source",
            ),
            Attachment(
                string=signature,
                name="tally.json.minisig",
                description="tally.json 的 minisign 签名",
                relationship="Supplement",
            ),
        ],
    )
