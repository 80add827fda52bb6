"""Staff pages for paper ballots: 发出 per group, printed forms, batches typed by two 计票人,
differences settled by the 监票人, and the declaration that the paper count is complete."""

from __future__ import annotations

from flask import Response, redirect, render_template, request, session, url_for

from .. import paper, paperentry, paperforms
from ..meetings import OperationError, item_config, item_group_ids
from ..models import Item, PaperBatch, VoterGroup
from .admin import _get, _refuse, actor, bp, require
from .common import db


def _back(item_id: int, note: str | None = None):
    if note:
        session["flash"] = note
    return redirect(url_for("admin.paper_page", item_id=item_id), code=303)


@bp.get("/items/<id:item_id>/paper")
@require("observe")
def paper_page(item_id: int):
    with db().read() as s:
        item = _get(s, Item, item_id)
        meeting = item.meeting
        groups = [g for g in meeting.groups if g.id in item_group_ids(item)]
        issued = {row.group_id: row.paper_issued for row in item.voting_groups}
        batches = [
            {"batch": b, "entries": paperentry.entry_count(s, b.id), "group": s.get(VoterGroup, b.group_id).name}
            for b in paperentry.batches(s, item.id)
        ]
        boxes = paper.boxes(item.kind, item_config(item))
    return render_template(
        "admin/paper.html",
        item=item,
        meeting=meeting,
        groups=groups,
        issued=issued,
        batches=batches,
        boxes=boxes,
        note=session.pop("flash", None),
    )


@bp.post("/items/<id:item_id>/paper/issued")
@require("prepare")
def paper_issued(item_id: int):
    try:
        with db().write() as s:
            paperentry.set_paper_issued(
                s, actor(), item_id, int(request.form.get("group", "0") or 0), request.form.get("issued")
            )
    except (OperationError, ValueError) as exc:
        return _refuse(exc, url_for("admin.paper_page", item_id=item_id))
    return _back(item_id, "已登记纸质票发出数")


@bp.get("/items/<id:item_id>/paper/forms.pdf")
@require("observe")
def paper_forms(item_id: int):
    """Identical A4 sheets to print for one group (no serial number, nothing that tells them apart)."""
    try:
        copies = int(request.args.get("copies", "1"))
        group_id = int(request.args.get("group", "0"))
    except ValueError:
        return _refuse(OperationError("份数须为整数"), url_for("admin.paper_page", item_id=item_id))
    with db().read() as s:
        item = _get(s, Item, item_id)
        group = s.get(VoterGroup, group_id)
        if group is None or group.id not in item_group_ids(item):
            return _refuse(OperationError("请选择参加本议题的表决组"), url_for("admin.paper_page", item_id=item_id))
        meeting = {"title": item.meeting.title, "date": item.meeting.date}
        title, kind, config, group_name = item.title, item.kind, item_config(item), group.name
    try:
        pdf = paperforms.render(meeting, title, kind, config, group_name, copies)
    except ValueError as exc:
        return _refuse(exc, url_for("admin.paper_page", item_id=item_id))
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={"Content-Disposition": f"inline; filename=paper-ballots-{item_id}-{group_id}.pdf"},
    )


@bp.post("/items/<id:item_id>/paper/batches")
@require("enter_paper")
def paper_new_batch(item_id: int):
    try:
        with db().write() as s:
            batch = paperentry.new_batch(s, actor(), item_id, int(request.form.get("group", "0") or 0))
            batch_id = batch.id
    except (OperationError, ValueError) as exc:
        return _refuse(exc, url_for("admin.paper_page", item_id=item_id))
    return redirect(url_for("admin.paper_entry", batch_id=batch_id), code=303)


@bp.post("/paper-batches/<id:batch_id>/delete")
@require("enter_paper")
def paper_delete_batch(batch_id: int):
    try:
        with db().write() as s:
            item_id = paperentry.delete_empty_batch(s, actor(), batch_id)
    except OperationError as exc:
        return _refuse(exc, url_for("admin.home"))
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
        except OperationError as exc:
            error = str(exc)
        else:
            note = {
                "entering": "已保存。请另一名计票人在自己的设备上再录入这一叠一次。",
                "counted": "两次录入一致，这一叠已计入。",
                "mismatch": "两次录入不一致，请监票人对照纸票核对差异。",
            }[status]
            return _back(item_id, note)
    with db().read() as s:
        batch = _get(s, PaperBatch, batch_id)
        item = s.get(Item, batch.item_id)
        group = s.get(VoterGroup, batch.group_id)
        boxes = paper.boxes(item.kind, item_config(item))
        entries = paperentry.entry_count(s, batch.id)
    if item.kind == "score":
        keypad = [(k, "") for k in "1234567890."] + [(" ", "下一个分数"), ("-", "未打分")]
    else:
        keypad = list(dict.fromkeys(key for box in boxes for key in box.keys))
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


@bp.route("/paper-batches/<id:batch_id>/settle", methods=["GET", "POST"])
@require("settle_paper")
def paper_settle(batch_id: int):
    error = None
    if request.method == "POST":
        decisions = {}
        for key, value in request.form.items():
            if key.startswith("d") and key[1:].isdigit():
                index = int(key[1:])
                decisions[index] = request.form.get(f"t{index}", "") if value == "typed" else value
        try:
            with db().write() as s:
                batch = paperentry.settle(s, actor(), batch_id, decisions)
                item_id = batch.item_id
        except OperationError as exc:
            error = str(exc)
        else:
            return _back(item_id, "差异已核定，这一叠已计入")
    with db().read() as s:
        batch = _get(s, PaperBatch, batch_id)
        item = s.get(Item, batch.item_id)
        diffs = paperentry.differences(s, batch)
    return render_template("admin/paper_settle.html", batch=batch, item=item, diffs=diffs, error=error), (
        400 if error else 200
    )


@bp.post("/items/<id:item_id>/paper/done")
@require("settle_paper")
def paper_done(item_id: int):
    try:
        with db().write() as s:
            paperentry.finish(s, actor(), item_id)
    except OperationError as exc:
        return _refuse(exc, url_for("admin.paper_page", item_id=item_id))
    return _back(item_id, "已确认纸质票全部录入，结果可以确认")
