"""What every staff page shares: the parent `admin` blueprint, the signed-in user, permissions.

Its hooks (loading the user, the refusal page) run for every blueprint nested in it, one per
staff task (staff/__init__.py), whose endpoints read `admin.<task>.<view>`."""

from __future__ import annotations

import time
from contextlib import contextmanager
from functools import wraps

from flask import Blueprint, abort, current_app, flash, g, get_flashed_messages, redirect, request, session, url_for

from ballot.counting import numbers
from ballot.counting.errors import Refused
from ballot.counting.kinds import KINDS, order_of
from ballot.meetings import units
from ballot.meetings.setup import GROUP_STATE_LABELS, STATUS_LABELS
from ballot.meetings.sittings import cast_count
from ballot.storage import audit
from ballot.storage.models import ROLE_LABELS, BatchStatus, GroupState, Item, ItemStatus, User
from ballot.web.common import db, message_page, settings

bp = Blueprint("admin", __name__, url_prefix="/admin")


STAFF_KEYS = ("staff", "sg", "st")  # user id, session generation, login time (epoch seconds)


@bp.before_request
def load_user():
    """The staff user of this cookie, if it is still good: the user is active, nothing has ended
    their sessions since it was issued, and the login is younger than the staff session lifetime
    (counted from the login, however busy the session was since)."""
    g.user = None
    uid = session.get("staff")
    if uid is None:
        return
    with db().read() as s:
        user = s.get(User, uid) if isinstance(uid, int) else None
    lifetime = settings().clerk_session_minutes * 60
    login_at = session.get("st")
    if (
        user is not None
        and user.active
        and session.get("sg") == user.session_generation
        and isinstance(login_at, int)
        and time.time() - login_at < lifetime  # (the cookie is authenticated: login_at is ours)
    ):
        g.user = user
    else:
        for key in STAFF_KEYS:
            session.pop(key, None)


def _start_staff_session(user: User) -> None:
    session.clear()
    session.permanent = True
    session["staff"] = user.id
    session["sg"] = user.session_generation
    session["st"] = int(time.time())


def actor() -> audit.Actor:
    return audit.Actor(g.user.username, g.user.role, g.user.unit_id)


def require(permission: str):
    """Every staff view goes through this: the login, then the unit check of whatever its route
    arguments name (a meeting, item, group, paper batch, slip job, account or unit of a unit the
    user does not see is 404, as if it did not exist: units.target_meeting), then the permission,
    in that meeting when there is one (its named chairs, 监票人, 计票人: units.permissions)."""

    def deco(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if g.user is None:
                return redirect(url_for("admin.account.login"))
            with db().read() as s:
                try:
                    meeting = units.target_meeting(s, g.user, kwargs)
                except units.NotVisible:
                    abort(404)
                g.meeting_id = meeting.id if meeting is not None else None
                g.perms = units.permissions(s, g.user, meeting)
                g.several_units = units.several(s)
                g.root_admin = units.is_root_admin(s, g.user)
            if permission not in g.perms:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return deco


def may_here(permission: str) -> bool:
    """The permission of the current user in this request's meeting (set by `require`)."""
    return g.get("user") is not None and permission in g.get("perms", ())


@bp.app_context_processor
def template_helpers():
    return {
        "may": may_here,
        "several_units": g.get("several_units", False),
        "root_admin": g.get("root_admin", False),
        "STATUS_LABELS": STATUS_LABELS,
        "GROUP_STATE_LABELS": GROUP_STATE_LABELS,
        "ItemStatus": ItemStatus,
        "GroupState": GroupState,
        "BatchStatus": BatchStatus,
        "ROLE_LABELS": ROLE_LABELS,
        "order_of": order_of,
        "forwarded_without_proxy": current_app.extensions.get("ballot.forwarded_without_proxy", False),
    }


def chosen_unit(s) -> int:
    """The unit picked on a create form (the user's own when the form has no chooser); one the
    user does not see is refused as not found."""
    picked = form_id("unit")
    unit_id = g.user.unit_id if picked is None else picked
    try:
        return units.require_unit(s, g.user, unit_id).id
    except units.NotVisible:
        abort(404)


def _note() -> str | None:
    """The note the last action flashed before redirecting here, shown once."""
    notes = get_flashed_messages()
    return notes[-1] if notes else None


def back_to_meeting(meeting_id: int, note: str | None = None):
    """Back to the meeting page, or to the chair's console when the form came from there."""
    if note:
        flash(note)
    page = "admin.conduct.console" if request.form.get("to") == "console" else "admin.meetings.meeting"
    return redirect(url_for(page, meeting_id=meeting_id), code=303)


def refuse(exc: Exception, back: str):
    return message_page("操作未完成", str(exc), 400, back=back)


@contextmanager
def writing(back: str):
    """A staff action's write transaction: a refusal inside rolls it back and shows its message
    with a link to `back` (through the handler below), so no view catches refusals itself."""
    try:
        with db().write() as s:
            yield s
    except Refused as exc:
        exc.back = back
        raise


@bp.errorhandler(Refused)
def refused(exc: Refused):
    return refuse(exc, getattr(exc, "back", None) or request.referrer or url_for("admin.account.home"))


def form_id(name: str) -> int | None:
    """A database id from a form field, or None (never an out-of-range number for the database)."""
    return numbers.valid_id(request.form.get(name, ""))


def get_or_404(s, model, ident):
    obj = s.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def item_sittings(s, item: Item, groups) -> list[dict] | None:
    """Per-group state of an item whose groups vote at separate sittings (None for the others)."""
    if (
        not KINDS[item.kind].per_group
        or len(item.voting_groups) < 2
        or item.status not in (ItemStatus.DRAFT, ItemStatus.OPEN)
    ):
        return None
    names = {gr.id: gr.name for gr in groups}
    return [
        {"id": ig.group_id, "name": names[ig.group_id], "state": ig.state, "cast": cast_count(s, item.id, ig.group_id)}
        for ig in sorted(item.voting_groups, key=lambda ig: ig.group_id)
    ]
