"""Voter groups and their one-time codes: issuing, slips (streamed PDF jobs), voiding, attendance."""

from __future__ import annotations

import io
import re
import secrets
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    jsonify,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from ballot.archive import keyring
from ballot.clock import utcnow
from ballot.counting import numbers
from ballot.counting.errors import OperationError
from ballot.documents import csvexport
from ballot.documents.slips import PER_PAGE, SlipSheet, check_sheet, stream_slips
from ballot.meetings.setup import add_group, update_group
from ballot.meetings.sittings import set_present
from ballot.publicurl import voting_base_url
from ballot.storage.models import Meeting, SlipJob, SlipStatus, VoterGroup
from ballot.voting import credentials
from ballot.web.common import db, settings

from .common import actor, back_to_meeting, form_id, get_or_404, refuse, require, writing

bp = Blueprint("codes", __name__)


@bp.post("/meetings/<id:meeting_id>/groups")
@require("prepare")
def new_group(meeting_id: int):
    with writing(url_for("admin.meetings.meeting", meeting_id=meeting_id)) as s:
        add_group(
            s, actor(), get_or_404(s, Meeting, meeting_id), request.form.get("name"), request.form.get("expected")
        )
    return back_to_meeting(meeting_id)


@bp.post("/groups/<id:group_id>")
@require("prepare")
def edit_group(group_id: int):
    with writing(request.referrer or url_for("admin.account.home")) as s:
        group = get_or_404(s, VoterGroup, group_id)
        meeting_id = group.meeting_id
        update_group(s, actor(), group, request.form.get("name"), request.form.get("expected"))
    return back_to_meeting(meeting_id)


@bp.post("/groups/<id:group_id>/present")
@require("conduct")
def group_present(group_id: int):
    with writing(url_for("admin.account.home")) as s:
        group = get_or_404(s, VoterGroup, group_id)
        meeting_id = group.meeting_id
        set_present(s, actor(), group, request.form.get("present", ""))
    return back_to_meeting(meeting_id, "实到人数已录入。")


@bp.post("/groups/<id:group_id>/codes")
@require("prepare")
def issue(group_id: int):
    try:
        count = numbers.parse_int(request.form.get("count", ""), "签发数量", 1, credentials.MAX_BATCH)
    except numbers.NumberError as exc:
        return refuse(exc, url_for("admin.account.home"))
    with writing(url_for("admin.account.home")) as s:
        group = get_or_404(s, VoterGroup, group_id)
        meeting = group.meeting
        codes = credentials.issue_codes(s, settings().derived_key("credential"), group, count, actor())
        meta = {"meeting": meeting.title, "group": group.name, "meeting_id": meeting.id}
    # The codes exist in clear only in this response: nothing on the server can show them again.
    base = request.host_url.rstrip("/")
    rows = [(i, code, f"{base}/v/{code}") for i, code in enumerate(codes, start=1)]
    csv_text = _codes_csv(meta, rows)
    if request.form.get("format") == "csv":
        name = quote(f"{meta['meeting']}-{meta['group']}-票码.csv")
        return Response(
            csv_text.encode("utf-8-sig"),
            mimetype="text/csv",
            headers={"Content-Disposition": f"attachment; filename=codes.csv; filename*=UTF-8''{name}"},
        )
    return render_template(
        "admin/codes.html",
        meta=meta,
        rows=rows,
        csv_text=csv_text,
        csv_href="data:text/csv;charset=utf-8," + quote("\ufeff" + csv_text),
    )


@bp.post("/meetings/<id:meeting_id>/void")
@require("prepare")
def void(meeting_id: int):
    with writing(url_for("admin.meetings.meeting", meeting_id=meeting_id)) as s:
        get_or_404(s, Meeting, meeting_id)
        credentials.void_code(
            s, settings().derived_key("credential"), meeting_id, request.form.get("code", "")[:64], actor()
        )
    return back_to_meeting(meeting_id, "票码已作废，不能再用于投票（作废记录保留）。")


@bp.post("/groups/<id:group_id>/slips")
@require("prepare")
def slips_pdf(group_id: int):
    """Issue N codes and stream them out as a slip-sheet PDF, ten pages at a time, as it is made.

    The codes exist in clear only in this request's memory. Progress goes to a slip_jobs row
    (pages only, no codes) that the page polls from any worker.
    """
    try:
        count = numbers.parse_int(request.form.get("count", ""), "签发数量", 1, credentials.MAX_BATCH)
    except numbers.NumberError as exc:
        return refuse(exc, url_for("admin.account.home"))
    wifi = request.form.get("wifi", "").strip()[:40]
    token = request.form.get("token", "")
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        token = secrets.token_hex(16)
    base_url, _warnings = voting_base_url(settings(), request.host_url)
    with writing(url_for("admin.account.home")) as s:
        group = get_or_404(s, VoterGroup, group_id)
        meeting = group.meeting
        meeting_id = meeting.id
        keys = keyring.public_keys(s, settings().instance_path)
        sheet = SlipSheet(meeting.title, group.name, meeting.date, base_url, wifi, keys[0].fingerprint if keys else "")
        check_sheet(sheet)  # before any code exists: a sheet that cannot print issues nothing
        if s.get(SlipJob, token) is not None:
            token = secrets.token_hex(16)
        codes, batch_id = credentials.issue_codes_batch(s, settings().derived_key("credential"), group, count, actor())
        s.add(
            SlipJob(
                token=token,
                group_id=group.id,
                pages_total=(count + PER_PAGE - 1) // PER_PAGE,
                pages_done=0,
                status=SlipStatus.RUNNING,
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
    who = actor()

    def progress(done: int, total: int) -> None:
        with db().write() as s:
            s.get(SlipJob, token).pages_done = done
            s.get(SlipJob, token).updated_at = utcnow()  # alive: see slip_job_status

    def generate():
        try:
            yield from stream_slips(sheet, codes, progress)
        except BaseException:
            # The download broke off (or the clerk cancelled it): nobody may hold these codes.
            _finish_job(token, SlipStatus.FAILED)
            with db().write() as s:
                credentials.void_batch(s, meeting_id, batch_id, who)
            raise
        _finish_job(token, SlipStatus.DONE)

    name = quote(f"{sheet.title}-{sheet.group}-票.pdf")
    return Response(
        stream_with_context(generate()),
        mimetype="application/pdf",
        headers={"Content-Disposition": f"attachment; filename=slips.pdf; filename*=UTF-8''{name}"},
    )


def _finish_job(token: str, status: str) -> None:
    with db().write() as s:
        s.get(SlipJob, token).status = status


@bp.get("/slip-jobs/<token>")
@require("prepare")
def slip_job(token: str):
    with db().read() as s:
        job = s.get(SlipJob, token)  # one of a visible meeting (checked by `require`)
        if job is None:
            return jsonify({"status": "unknown"}), 404
        return jsonify(slip_job_status(job, utcnow()))


SLIP_JOB_STALL_SECONDS = 120  # ten pages take a second or two; a job silent this long lost its worker


def slip_job_status(job: SlipJob, now) -> dict:
    """What any worker of any app server reports for a job: one whose worker died (killed,
    restarted, its server gone) stops moving and is reported failed, never running for ever."""
    stalled = (
        job.status == SlipStatus.RUNNING
        and (now - (job.updated_at or job.created_at)).total_seconds() > SLIP_JOB_STALL_SECONDS
    )
    # a broken download voids its batch itself; a dead worker could not, so the clerk must
    status = SlipStatus.FAILED if stalled else job.status
    return {"status": status, "stalled": stalled, "pages_done": job.pages_done, "pages_total": job.pages_total}


@bp.post("/meetings/<id:meeting_id>/void-batch")
@require("prepare")
def void_batch(meeting_id: int):
    batch = form_id("batch")
    with writing(url_for("admin.meetings.meeting", meeting_id=meeting_id)) as s:
        if batch is None:
            raise credentials.IssueError("批次无效")
        n = credentials.void_batch(s, meeting_id, batch, actor())
    return back_to_meeting(meeting_id, f"已作废该批次 {n} 个票码（记录保留）。")


@bp.post("/groups/<id:group_id>/void-unused")
@require("prepare")
def void_unused(group_id: int):
    if request.form.get("confirm") != "1":
        return refuse(OperationError("请勾选确认后再作废"), request.referrer or url_for("admin.account.home"))
    with db().write() as s:
        group = get_or_404(s, VoterGroup, group_id)
        meeting_id = group.meeting_id
        n = credentials.void_unused(s, group, actor())
    return back_to_meeting(meeting_id, f"已作废“{group.name}”全部未使用的票 {n} 张：多余的票不能再投票。")


def _codes_csv(meta: dict, rows) -> str:
    out = io.StringIO()
    header = ["序号", "票码", "投票链接", "会议", "表决组"]
    csvexport.write_rows(out, [header] + [[i, code, url, meta["meeting"], meta["group"]] for i, code, url in rows])
    return out.getvalue()
