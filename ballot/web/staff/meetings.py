"""Setting a meeting up: creating or loading it, its page, its roles, kiosk mode, the screen key
and the order of names."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from sqlalchemy import select

from ballot.archive import keyring
from ballot.counting import strokes
from ballot.counting.errors import OperationError
from ballot.documents.slips import qr_svg
from ballot.live import screen
from ballot.meetings import meetingfile, units
from ballot.meetings.results import result_available
from ballot.meetings.setup import create_meeting, item_frozen, item_group_ids, name_gaps, name_texts, set_same_surname
from ballot.meetings.sittings import cast_count, item_counts
from ballot.publicurl import voting_base_url
from ballot.storage import audit
from ballot.storage.models import (
    MEETING_ROLES,
    ROLE_LABELS,
    IssueBatch,
    Meeting,
)
from ballot.voting import credentials
from ballot.web.common import db, settings

from .common import (
    _note,
    actor,
    back_to_meeting,
    chosen_unit,
    form_id,
    get_or_404,
    item_sittings,
    may_here,
    refuse,
    require,
    writing,
)

bp = Blueprint("meetings", __name__)


def _unprintable(m: Meeting) -> dict:
    """Name characters the archive report cannot print (or why no report can be printed at all)."""
    from ballot.documents import reportfonts

    try:
        return {"gaps": reportfonts.missing(name_texts(m)), "error": None}
    except reportfonts.FontError as exc:
        return {"gaps": [], "error": str(exc)}


@bp.post("/meetings")
@require("prepare")
def new_meeting():
    with writing(url_for("admin.account.home")) as s:
        f = request.form
        m = create_meeting(
            s,
            actor(),
            f.get("title"),
            f.get("date", ""),
            f.get("location", ""),
            f.get("same_surname"),
            chosen_unit(s),
        )
    return back_to_meeting(m.id, "会议已创建，请添加表决组和议题。")


@bp.post("/meetings/<id:meeting_id>/kiosk")
@require("prepare")
def kiosk_mode(meeting_id: int):
    """This device becomes the meeting's shared kiosk: the staff login ends here (a voter must
    not inherit it); a staff login on the device later ends kiosk mode."""
    with db().write() as s:
        m = get_or_404(s, Meeting, meeting_id)
        audit.record(s, actor(), "kiosk.start", m.id)
    session.clear()
    session.permanent = True
    session["k"] = meeting_id
    return redirect(url_for("vote.kiosk"), code=303)


@bp.post("/meetings/<id:meeting_id>/screen-key")
@require("prepare")
def screen_key(meeting_id: int):
    """A new projector link (shown once); the old one stops working."""
    with db().write() as s:
        key = screen.new_key(s, actor(), get_or_404(s, Meeting, meeting_id), settings().derived_key("screen"))
    base, _warnings = voting_base_url(settings(), request.host_url)
    url = base.rstrip("/") + url_for("screen.page", key=key)
    return back_to_meeting(
        meeting_id, f"大屏链接（只显示这一次，请在投影电脑上打开并收藏；重新生成后旧链接作废）：{url}"
    )


@bp.post("/meetings/<id:meeting_id>/screen-key/revoke")
@require("prepare")
def screen_key_revoke(meeting_id: int):
    with db().write() as s:
        screen.revoke_key(s, actor(), get_or_404(s, Meeting, meeting_id))
    return back_to_meeting(meeting_id, "大屏链接已作废。")


@bp.post("/meetings/<id:meeting_id>/name-order")
@require("prepare")
def name_order(meeting_id: int):
    with writing(url_for("admin.meetings.meeting", meeting_id=meeting_id)) as s:
        m = get_or_404(s, Meeting, meeting_id)
        kept = set_same_surname(s, actor(), m, request.form.get("same_surname"))
        rule = strokes.rule_text(m.single_given_first)
    note = f"人选现{rule}。"
    if kept:
        note += f"已冻结的议题保持原顺序：{'、'.join(kept)}。"
    return back_to_meeting(meeting_id, note)


@bp.post("/meetings/load")
@require("prepare")
def load_meeting():
    upload = request.files.get("file")
    try:
        text = meetingfile.decode(upload.read()) if upload and upload.filename else request.form.get("toml", "")
        with db().write() as s:
            m = meetingfile.load(s, actor(), text, chosen_unit(s))
    except OperationError as exc:
        return refuse(exc, url_for("admin.account.home"))
    return back_to_meeting(m.id, "会议文件已导入。")


@bp.get("/meetings/<id:meeting_id>")
@require("observe")
def meeting(meeting_id: int):
    with db().read() as s:
        m = get_or_404(s, Meeting, meeting_id)
        groups = list(m.groups)
        items = []
        for item in m.items:
            counts = item_counts(s, item)
            items.append(
                {
                    "item": item,
                    "cast": cast_count(s, item.id),
                    "counts": counts,
                    "frozen": item_frozen(item),
                    "groups": [gr.name for gr in groups if gr.id in item_group_ids(item)],
                    "sittings": item_sittings(s, item, groups),
                    "result_available": result_available(item),
                }
            )
        reconcile = {gr.id: credentials.reconciliation(s, gr.id) for gr in groups}
        batches = list(
            s.execute(select(IssueBatch).where(IssueBatch.meeting_id == m.id).order_by(IssueBatch.id)).scalars()
        )
        gaps = name_gaps(m)
        unprintable = _unprintable(m)
        keys = keyring.public_keys(s, settings().instance_path)
        unit = units.unit_name(s, m.unit_id)
        named = units.meeting_role_rows(s, m)
        role_candidates = units.candidates(s, m) if may_here("prepare") else []
    note = _note()
    base_url, url_warnings = voting_base_url(settings(), request.host_url)
    return render_template(
        "admin/meeting.html",
        meeting=m,
        gaps=gaps,
        unprintable=unprintable,
        signing_key=keys[0] if keys else None,
        name_rule=strokes.rule_text(m.single_given_first),
        groups=groups,
        items=items,
        reconcile=reconcile,
        batches=batches,
        note=note,
        base_url=base_url,
        url_warnings=url_warnings,
        scan_test_svg=qr_svg(f"{base_url}/SCAN-TEST".upper()),
        group_names={gr.id: gr.name for gr in groups},
        unit_name=unit,
        named=named,
        role_candidates=role_candidates,
        meeting_roles=MEETING_ROLES,
    )


@bp.post("/meetings/<id:meeting_id>/roles")
@require("prepare")
def meeting_roles(meeting_id: int):
    """Name (or un-name) a chair, 监票人 or 计票人 for this meeting alone; audited."""
    back = url_for("admin.meetings.meeting", meeting_id=meeting_id) + "#roles"
    role = request.form.get("role", "")
    with writing(back) as s:
        m = get_or_404(s, Meeting, meeting_id)
        if request.form.get("action") == "remove":
            units.unname_for_meeting(s, actor(), m, form_id("user"), role)
            note = f"已取消本会议的{ROLE_LABELS.get(role, '')}指定。"
        else:
            user = units.name_for_meeting(s, actor(), m, form_id("user"), role)
            note = f"已指定“{user.username}”为本会议的{ROLE_LABELS[role]}。"
    flash(note)
    return redirect(back, code=303)
