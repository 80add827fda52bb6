"""Items: the form that creates and edits one, withdrawing it, and confirming merged write-ins."""

from __future__ import annotations

import json

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ballot.counting import strokes
from ballot.counting.errors import OperationError
from ballot.counting.kinds import KINDS, ORDERS
from ballot.counting.rules import COMPARATORS, DENOMINATORS, PRESETS
from ballot.meetings.rounds import confirm_merges
from ballot.meetings.setup import add_item, item_group_ids, update_item, withdraw_item
from ballot.storage.models import (
    Item,
    Meeting,
)
from ballot.web.common import db

from . import itemform
from .common import actor, back_to_meeting, get_or_404, refuse, require, writing

bp = Blueprint("items", __name__)


def _item_form_data(groups):
    f = request.form
    kind = f.get("kind", "approval")
    try:
        group_ids = [int(x) for x in f.getlist("groups")]
    except ValueError:
        group_ids = []
    return f.get("title"), kind, itemform.raw_config(f, kind, groups), group_ids


def _form_context(meeting, item=None, values=None):
    return dict(
        meeting=meeting,
        item=item,
        values=values or {},
        presets=PRESETS,
        kinds=KINDS,
        orders=ORDERS,
        order_text=strokes.rule_text(meeting.single_given_first),
        denominators=DENOMINATORS,
        comparators=COMPARATORS,
    )


def _values_from_item(item: Item) -> dict:
    values = itemform.form_values(item.kind, item.config, item.meeting.groups)
    return {**values, "title": item.title, "kind": item.kind, "groups": item_group_ids(item)}


@bp.route("/meetings/<id:meeting_id>/items/new", methods=["GET", "POST"])
@require("prepare")
def new_item(meeting_id: int):
    with db().read() as s:
        m = get_or_404(s, Meeting, meeting_id)
        list(m.groups)
    if request.method == "GET":
        defaults = {"preset": "appointment", "rec_seats": 1, "ev_min": 5, "sc_trim_min": 5, "order": "strokes"}
        return render_template("admin/item_form.html", **_form_context(m, values=defaults))
    title, kind, raw, group_ids = _item_form_data(m.groups)
    try:
        with db().write() as s:
            add_item(s, actor(), get_or_404(s, Meeting, meeting_id), title, kind, raw, group_ids)
    except OperationError as exc:
        values = dict(request.form)
        values["groups"] = group_ids
        return render_template("admin/item_form.html", error=str(exc), **_form_context(m, values=values)), 400
    return back_to_meeting(meeting_id, "议题已添加。")


@bp.route("/items/<id:item_id>/edit", methods=["GET", "POST"])
@require("prepare")
def edit_item(item_id: int):
    with db().read() as s:
        item = get_or_404(s, Item, item_id)
        m = item.meeting
        list(m.groups)
        values = _values_from_item(item)
    if request.method == "GET":
        return render_template("admin/item_form.html", **_form_context(m, item, values))
    title, kind, raw, group_ids = _item_form_data(m.groups)
    try:
        with db().write() as s:
            update_item(s, actor(), get_or_404(s, Item, item_id), title, kind, raw, group_ids)
    except OperationError as exc:
        values = dict(request.form)
        values["groups"] = group_ids
        return render_template("admin/item_form.html", error=str(exc), **_form_context(m, item, values)), 400
    return back_to_meeting(m.id, "议题已修改。")


@bp.route("/items/<id:item_id>/withdraw", methods=["GET", "POST"])
@require("prepare")
def withdraw(item_id: int):
    with db().read() as s:
        item = get_or_404(s, Item, item_id)
        meeting_id = item.meeting_id
    if request.method == "GET":
        return render_template("admin/withdraw.html", item=item)
    with writing(url_for("admin.items.withdraw", item_id=item_id)) as s:
        new = withdraw_item(
            s, actor(), get_or_404(s, Item, item_id), request.form.get("reason"), request.form.get("correction") == "1"
        )
        new_id = new.id if new else None
    if new_id:
        flash("原议题已撤回，已新建更正议题，请修改后使用。")
        return redirect(url_for("admin.items.edit_item", item_id=new_id), code=303)
    return back_to_meeting(meeting_id, "议题已撤回。")


@bp.post("/items/<id:item_id>/merges")
@require("prepare")
def merges_(item_id: int):
    """民主推荐: the clerk confirms which written-in spellings are one person."""
    merges = []
    for value in request.form.getlist("merge"):
        try:
            source, target = json.loads(value)
        except (ValueError, TypeError, RecursionError):
            return refuse(OperationError("合并内容无效"), url_for("admin.results.result", item_id=item_id))
        merges.append({"from": str(source), "to": str(target)})
    if not merges:
        return refuse(OperationError("请勾选要合并的写法"), url_for("admin.results.result", item_id=item_id))
    with writing(url_for("admin.results.result", item_id=item_id)) as s:
        confirm_merges(s, actor(), get_or_404(s, Item, item_id), merges)
    flash(f"已合并 {len(merges)} 种写法。")
    return redirect(url_for("admin.results.result", item_id=item_id), code=303)
