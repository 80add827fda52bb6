"""Conducting a sitting: the console, turnout, opening and closing an item, the next round and
what the projector screen shows."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for

from ballot.counting.errors import OperationError
from ballot.counting.kinds import KINDS
from ballot.live import screen
from ballot.meetings.results import result_available
from ballot.meetings.rounds import next_round
from ballot.meetings.sittings import cast_count, close_item, item_counts, open_item, parse_witnesses
from ballot.storage.models import Item, ItemStatus, Meeting
from ballot.voting.sealing import compact_pending
from ballot.web.common import db

from .common import _note, actor, back_to_meeting, form_id, get_or_404, item_sittings, refuse, require, writing

bp = Blueprint("conduct", __name__)


@bp.post("/meetings/<id:meeting_id>/screen")
@require("conduct")
def screen_show(meeting_id: int):
    """The chair puts an item on the screen, and reveals or hides its result."""
    back = request.referrer or url_for("admin.conduct.console", meeting_id=meeting_id)
    with writing(back) as s:
        screen.show(s, actor(), get_or_404(s, Meeting, meeting_id), form_id("item"), request.form.get("reveal") == "1")
    return redirect(back, code=303)


@bp.get("/meetings/<id:meeting_id>/console")
@require("conduct")
def console(meeting_id: int):
    """The chair's console: phone-friendly, one card per item."""
    with db().read() as s:
        m = get_or_404(s, Meeting, meeting_id)
        groups = list(m.groups)
        cards = []
        for item in m.items:
            if item.status == ItemStatus.WITHDRAWN:
                continue
            counts = item_counts(s, item)
            cards.append(
                {
                    "item": item,
                    "cast": cast_count(s, item.id),
                    "counts": counts,
                    "problems": KINDS[item.kind].open_problems(item.config, counts)
                    if item.status == ItemStatus.DRAFT
                    else [],
                    "sittings": item_sittings(s, item, groups),
                    "result_available": result_available(item),
                    "on_screen": m.screen_item_id == item.id,
                }
            )
    return render_template("admin/console.html", meeting=m, groups=groups, cards=cards, note=_note())


@bp.get("/meetings/<id:meeting_id>/turnout.json")
@require("observe")
def turnout_json(meeting_id: int):
    """Turnout of every item, for the console's live figures (polled)."""
    with db().read() as s:
        m = get_or_404(s, Meeting, meeting_id)
        data = {str(item.id): {"cast": cast_count(s, item.id), "status": item.status} for item in m.items}
    return jsonify(data)


@bp.post("/items/<id:item_id>/open")
@require("conduct")
def open_(item_id: int):
    group_id = form_id("group")
    with writing(request.referrer or url_for("admin.account.home")) as s:
        item = open_item(s, actor(), item_id, group_id)
        meeting_id = item.meeting_id
    return back_to_meeting(meeting_id, "该表决组已开始表决。" if group_id else "已开始表决。")


@bp.route("/items/<id:item_id>/close", methods=["GET", "POST"])
@require("conduct")
def close(item_id: int):
    with db().read() as s:
        item = get_or_404(s, Item, item_id)
        cast = cast_count(s, item.id)
        counts = item_counts(s, item)
        groups = list(item.meeting.groups)
    group_id = form_id("group") if request.method == "POST" else (request.args.get("group", type=int) or None)
    group_name = next((gr.name for gr in groups if gr.id == group_id), None) if group_id else None
    if request.method == "GET":
        return render_template(
            "admin/close.html", item=item, cast=cast, counts=counts, group_id=group_id, group_name=group_name
        )
    if request.form.get("confirm") != "1":
        return refuse(OperationError("请勾选确认后再结束表决"), url_for("admin.conduct.close", item_id=item_id))
    with writing(url_for("admin.meetings.meeting", meeting_id=item.meeting_id)) as s:
        witnesses = parse_witnesses(request.form.get("scrutineers", ""), request.form.get("tellers", ""))
        closed = close_item(s, actor(), item_id, group_id, witnesses).status == ItemStatus.CLOSED
    if not closed:
        return back_to_meeting(item.meeting_id, f"“{group_name}”已结束表决；所有表决组结束后计算综合结果。")
    if not (compaction := compact_pending(db())):
        flash(f"表决已结束、结果已封存；{compaction.message}")
    return redirect(url_for("admin.results.result", item_id=item_id), code=303)


@bp.post("/items/<id:item_id>/next-round")
@require("conduct")
def next_round_(item_id: int):
    """差额票决: the chair confirms (or edits) the proposed candidates of the next round."""
    edited = {}
    for key, text in request.form.items():
        if key.startswith("post:"):
            edited[key[5:]] = [line for line in text.splitlines() if line.strip()]
    with writing(url_for("admin.results.result", item_id=item_id)) as s:
        new = next_round(s, actor(), get_or_404(s, Item, item_id), edited or None)
        meeting_id, title = new.meeting_id, new.title
    return back_to_meeting(meeting_id, f"已创建“{title}”，请开始表决。")
