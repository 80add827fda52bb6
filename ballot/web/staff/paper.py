"""Staff pages for paper ballots: 发出 per group, printed forms, batches typed by two 计票人,
differences settled by the 监票人, and the declaration that the paper count is complete."""

from __future__ import annotations

import re

from flask import Blueprint, Response, abort, flash, g, redirect, render_template, request, url_for

from ballot.counting import numbers
from ballot.counting.errors import OperationError
from ballot.counting.kinds import get_kind
from ballot.documents import paperforms
from ballot.meetings.setup import item_group_ids
from ballot.paper import paper, paperentry
from ballot.storage.models import BatchStatus, GroupState, Item, ItemStatus, PaperBatch, VoterGroup
from ballot.voting.sealing import compact_pending
from ballot.web.common import db

from .common import _note, actor, get_or_404, may_here, refuse, require, writing

bp = Blueprint("paper", __name__)


def _group_arg(value) -> int:
    """The group chosen on a form: a database id, or a clear refusal (never an overflow)."""
    group_id = numbers.valid_id(value)
    if group_id is None:
        raise OperationError("请选择参加本议题的表决组")
    return group_id


def _back(item_id: int, note: str | None = None):
    if note:
        flash(note)
    return redirect(url_for("admin.paper.paper_page", item_id=item_id), code=303)


@bp.get("/items/<id:item_id>/paper")
@require("observe")
def paper_page(item_id: int):
    with db().read() as s:
        item = get_or_404(s, Item, item_id)
        meeting = item.meeting
        groups = [g for g in meeting.groups if g.id in item_group_ids(item)]
        issued = {row.group_id: row.paper_issued for row in item.voting_groups}
        batches = [
            {
                "batch": b,
                "entries": paperentry.entry_count(s, b.id),
                "sizes": paperentry.entry_sizes(s, b) if b.status == BatchStatus.MISMATCH else None,
                "group": s.get(VoterGroup, b.group_id).name,
            }
            for b in paperentry.batches(s, item.id)
        ]
        closed = {
            row.group_id: item.status == ItemStatus.CLOSED or row.state == GroupState.CLOSED
            for row in item.voting_groups
        }
        boxes = paper.boxes(item.kind, item.config)
    return render_template(
        "admin/paper.html",
        item=item,
        meeting=meeting,
        groups=groups,
        issued=issued,
        closed=closed,
        batches=batches,
        boxes=boxes,
        note=_note(),
    )


@bp.post("/items/<id:item_id>/paper/issued")
@require("observe")
def paper_issued(item_id: int):
    """The clerk registers 发出 while the group votes; after close only a 监票人 corrects it
    (paperentry.set_paper_issued decides which applies)."""
    if not (may_here("prepare") or may_here("settle_paper")):
        abort(403)
    try:
        group_id = _group_arg(request.form.get("group"))
        with db().write() as s:
            paperentry.set_paper_issued(s, actor(), item_id, group_id, request.form.get("issued"), g.perms)
    except OperationError as exc:
        return refuse(exc, url_for("admin.paper.paper_page", item_id=item_id))
    return _back(item_id, "已登记纸质票发出数")


@bp.get("/items/<id:item_id>/paper/forms.pdf")
@require("observe")
def paper_forms(item_id: int):
    """Identical A4 sheets to print for one group (no serial number, nothing that tells them apart)."""
    back = url_for("admin.paper.paper_page", item_id=item_id)
    try:
        copies = numbers.parse_int(request.args.get("copies") or "1", "份数", 1, paperforms.MAX_COPIES)
    except numbers.NumberError as exc:
        return refuse(exc, back)
    try:
        group_id = _group_arg(request.args.get("group"))
    except OperationError as exc:
        return refuse(exc, back)
    with db().read() as s:
        item = get_or_404(s, Item, item_id)
        group = s.get(VoterGroup, group_id)
        if group is None or group.id not in item_group_ids(item):
            return refuse(
                OperationError("请选择参加本议题的表决组"), url_for("admin.paper.paper_page", item_id=item_id)
            )
        meeting = {"title": item.meeting.title, "date": item.meeting.date}
        title, kind, config, group_name = item.title, item.kind, item.config, group.name
    try:
        pdf = paperforms.render(meeting, title, kind, config, group_name, copies)
    except ValueError as exc:
        return refuse(exc, url_for("admin.paper.paper_page", item_id=item_id))
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f"inline; filename=paper-ballots-{item_id}-{group_id}.pdf"},
    )


@bp.post("/items/<id:item_id>/paper/batches")
@require("enter_paper")
def paper_new_batch(item_id: int):
    try:
        group_id = _group_arg(request.form.get("group"))
        with db().write() as s:
            batch = paperentry.new_batch(s, actor(), item_id, group_id)
            batch_id = batch.id
    except OperationError as exc:
        return refuse(exc, url_for("admin.paper.paper_page", item_id=item_id))
    return redirect(url_for("admin.paper.paper_entry", batch_id=batch_id), code=303)


@bp.post("/paper-batches/<id:batch_id>/delete")
@require("enter_paper")
def paper_delete_batch(batch_id: int):
    with writing(url_for("admin.account.home")) as s:
        item_id = paperentry.delete_empty_batch(s, actor(), batch_id)
    return _back(item_id, "已删除空的一叠")


@bp.route("/paper-batches/<id:batch_id>", methods=["GET", "POST"])
@require("enter_paper")
def paper_entry(batch_id: int):
    """One 计票人 types the whole stack: one line per sheet, one key per box, Enter for the next."""
    error, text = None, ""
    if request.method == "POST":
        text = request.form.get("lines", "")
        try:
            with db().write() as s:
                batch = paperentry.submit_entry(s, actor(), batch_id, text)
                item_id, status = batch.item_id, batch.status
                sizes = paperentry.entry_sizes(s, batch) if status == BatchStatus.MISMATCH else None
        except OperationError as exc:
            error = str(exc)
        else:
            note = {
                BatchStatus.ENTERING: "已保存。请另一名计票人在自己的设备上再录入这一叠一次。",
                BatchStatus.COUNTED: "两次录入一致，这一叠已计入。",
                BatchStatus.MISMATCH: "两次录入不一致，请监票人对照纸票核对差异。",
            }[status]
            if sizes and sizes[0] != sizes[1]:
                note = f"两次录入张数不同（第一次 {sizes[0]} 张，第二次 {sizes[1]} 张），请监票人退回重新录入。"
            return _back(item_id, note)
    with db().read() as s:
        batch = get_or_404(s, PaperBatch, batch_id)
        item = s.get(Item, batch.item_id)
        group = s.get(VoterGroup, batch.group_id)
        boxes = paper.boxes(item.kind, item.config)
        entries = paperentry.entry_count(s, batch.id)
    keypad = get_kind(item.kind).paper_keypad(boxes)
    return render_template(
        "admin/paper_entry.html",
        keypad=keypad,
        batch=batch,
        item=item,
        group=group,
        boxes=boxes,
        entries=entries,
        error=error,
        text=text,
        reasons=paper.SHEET_REASONS,
    ), (400 if error else 200)


def _settle_form(form) -> tuple[dict[int, str], dict[int, str]]:
    """The 监票人's choice per sheet (field d<N>: 1, 2, typed or drop) and, kept apart, the line
    typed as read from the paper (field t<N>), so typing "1" is never taken for "entry 1"."""
    choices, typed = {}, {}
    for key, value in form.items():
        match = re.fullmatch(r"([dt])([0-9]+)", key)
        if match is None:
            continue
        field, number = match.groups()
        if len(number) > 4 or int(number) >= paperentry.MAX_SHEETS:
            raise OperationError("核对表单有误：张号无效，请重新打开本页")
        (choices if field == "d" else typed)[int(number)] = value
    return choices, typed


@bp.route("/paper-batches/<id:batch_id>/settle", methods=["GET", "POST"])
@require("settle_paper")
def paper_settle(batch_id: int):
    error = None
    if request.method == "POST":
        try:
            choices, typed = _settle_form(request.form)
            with db().write() as s:
                batch = paperentry.settle(s, actor(), batch_id, choices, typed)
                item_id = batch.item_id
        except OperationError as exc:
            error = str(exc)
        else:
            return _back(item_id, "差异已核定，这一叠已计入")
    with db().read() as s:
        batch = get_or_404(s, PaperBatch, batch_id)
        item = s.get(Item, batch.item_id)
        diffs = paperentry.differences(s, batch)
        sizes = paperentry.entry_sizes(s, batch) if batch.status == BatchStatus.MISMATCH else None
        entered_by_me = g.user.username in paperentry.tellers(s, batch)
    return render_template(
        "admin/paper_settle.html",
        batch=batch,
        item=item,
        diffs=diffs,
        sizes=sizes,
        entered_by_me=entered_by_me,
        error=error,
        form=request.form if request.method == "POST" else {},
    ), (400 if error else 200)


@bp.post("/paper-batches/<id:batch_id>/send-back")
@require("settle_paper")
def paper_send_back(batch_id: int):
    """Both entries discarded: the stack is entered again by two 计票人."""
    with writing(url_for("admin.paper.paper_settle", batch_id=batch_id)) as s:
        batch = paperentry.send_back(s, actor(), batch_id)
        item_id = batch.item_id
    return _back(item_id, "已退回：两次录入均已作废，请两名计票人重新录入这一叠")


@bp.post("/items/<id:item_id>/paper/done")
@require("settle_paper")
def paper_done(item_id: int):
    with writing(url_for("admin.paper.paper_page", item_id=item_id)) as s:
        paperentry.finish(s, actor(), item_id)
    compact_pending(db())  # as after a close; postponed (and retried later) if the database is busy
    return _back(item_id, "已确认纸质票全部录入，结果可以确认")
