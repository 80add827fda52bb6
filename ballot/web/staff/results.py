"""Results: an item's result page, the signed meeting archive, the meeting's audit log."""

from __future__ import annotations

import json

from flask import (
    Blueprint,
    Response,
    render_template,
    request,
    url_for,
)

from ballot.archive import keyring, signing
from ballot.counting.errors import OperationError
from ballot.meetings.results import item_result, result_available, series_ranking, write_in_review
from ballot.meetings.setup import item_group_ids
from ballot.storage import audit
from ballot.storage.models import (
    Item,
    Meeting,
)
from ballot.web.common import db, message_page, settings

from .common import _note, actor, get_or_404, may_here, refuse, require

bp = Blueprint("results", __name__)


@bp.route("/meetings/<id:meeting_id>/archive.zip", methods=["GET", "POST"])
@require("publish")
def archive_zip(meeting_id: int):
    """The signed tally archive of the meeting's closed items, as one zip: the instance key signs
    it, so only those who may publish results ask for it, and each signing is recorded. While a
    name has a character the report cannot print, they first see the list and confirm (POST)."""
    from ballot.archive import build as archive
    from ballot.documents import reportfonts

    accept = request.method == "POST" and request.form.get("accept_unprintable") == "1"
    try:
        with db().read() as s:
            key = keyring.signing_key(s, settings().instance_path)  # the current key of every server
            m = get_or_404(s, Meeting, meeting_id)
            files = archive.build(s, m, key, accept_unprintable=accept)
    except archive.UnprintableNames as exc:
        return render_template("admin/unprintable.html", meeting_id=meeting_id, gaps=exc.gaps)
    except (OperationError, signing.SigningError, reportfonts.FontError) as exc:
        return refuse(exc, url_for("admin.meetings.meeting", meeting_id=meeting_id))
    with db().write() as s:  # after it was signed: a refused build signed nothing
        audit.record(s, actor(), "archive.sign", meeting_id, key=key.public.id_hex, accept_unprintable=accept)
    name = f"ballot-archive-{meeting_id}.zip"
    return Response(
        archive.zipped(files),
        mimetype="application/zip",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )


@bp.get("/items/<id:item_id>/result")
@require("observe")
def result(item_id: int):
    with db().read() as s:
        item = get_or_404(s, Item, item_id)
        if not result_available(item):
            return message_page(
                "表决尚未结束",
                "表决进行中不显示结果，结束表决后再查看。",
                409,
                back=url_for("admin.meetings.meeting", meeting_id=item.meeting_id),
            )
        res = item_result(s, item)
        series = series_ranking(s, item)
        review = write_in_review(s, item) if may_here("prepare") else None  # the clerk's, unpublished
        meeting = item.meeting
        groups = [gr.name for gr in meeting.groups if gr.id in item_group_ids(item)]
    return render_template(
        "admin/result.html",
        item=item,
        meeting=meeting,
        result=res,
        review=review,
        groups=groups,
        series=series,
        note=_note(),
    )


@bp.get("/meetings/<id:meeting_id>/audit")
@require("observe")
def audit_log(meeting_id: int):
    with db().read() as s:
        m = get_or_404(s, Meeting, meeting_id)
        ok, summary = audit.verify_meeting(s, meeting_id)
        rows = [{"e": e, "detail": json.loads(e.detail_json)} for e in audit.entries(s, meeting_id)]
    return render_template("admin/audit.html", meeting=m, rows=rows, chain_ok=ok, chain_summary=summary)
