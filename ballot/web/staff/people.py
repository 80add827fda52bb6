"""Accounts: users, units and API tokens (who may do what, in which unit)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, session, url_for

from ballot.counting.errors import OperationError
from ballot.meetings import units
from ballot.meetings.apitokens import create_token
from ballot.meetings.apitokens import revoke as revoke_token
from ballot.meetings.apitokens import tokens as list_tokens
from ballot.meetings.users import (
    UserError,
    create_user,
    new_password,
    set_active,
    set_password,
    set_role,
)
from ballot.storage import audit
from ballot.storage.models import (
    ROLE_LABELS,
    ROLES,
    ApiToken,
    Meeting,
    Unit,
    User,
)
from ballot.web.common import db

from .common import _note, actor, chosen_unit, form_id, get_or_404, refuse, require, writing

bp = Blueprint("people", __name__)


@bp.route("/tokens", methods=["GET", "POST"])
@require("observe")
def api_tokens():
    """Everyone makes tokens for themselves (a token acts with its user's role); an
    administrator sees and may revoke all of them, anyone else only their own."""
    new_token = None
    if request.method == "POST":
        with db().write() as s:
            if "revoke" in request.form:
                token_id = form_id("revoke")
                owner_only = None if g.user.role == "admin" else g.user.id
                row = s.get(ApiToken, token_id) if token_id is not None else None
                if row is not None and not units.token_visible(s, g.user, row):
                    abort(404)  # another unit's token: as if it did not exist
                try:
                    if token_id is None:
                        raise ValueError
                    revoke_token(
                        s, token_id, actor(), owner_id=owner_only, allowed=lambda t: units.token_visible(s, g.user, t)
                    )
                except ValueError:
                    return refuse(OperationError("没有这个有效的令牌"), url_for("admin.people.api_tokens"))
            else:
                new_token = create_token(
                    s, s.get(User, g.user.id), request.form.get("name", ""), actor(), chosen_unit(s)
                )
    with db().read() as s:
        rows = [
            (t, u)
            for t, u in list_tokens(s)
            if (g.user.role == "admin" and units.token_visible(s, g.user, t)) or t.user_id == g.user.id
        ]
        choices = units.visible_units(s, g.user)
        unit_names = units.names_of(s, [t.unit_id for t, _u in rows] + [u.id for u in choices])
    return render_template(
        "admin/tokens.html",
        rows=rows,
        new_token=new_token,
        unit_choices=choices,
        unit_names=unit_names,
        my_unit=g.user.unit_id,
    )


def _users_page(error: str | None = None, note: str | None = None, new_secret: tuple[str, str] | None = None):
    with db().read() as s:
        rows = units.manageable_users(s, g.user)
        choices = units.visible_units(s, g.user)
        unit_names = units.names_of(s, [u.id for u in choices])
    page = render_template(
        "admin/users.html",
        users=rows,
        unit_choices=choices,
        unit_names=unit_names,
        my_unit=g.user.unit_id,
        roles=ROLES,
        error=error,
        note=note or _note(),
        new_secret=new_secret,
    )
    return page, (400 if error else 200)


@bp.route("/users", methods=["GET", "POST"])
@require("manage_users")
def users():
    if request.method == "GET":
        return _users_page()
    try:
        with db().write() as s:
            u = create_user(
                s,
                request.form.get("username", ""),
                request.form.get("password", ""),
                request.form.get("role", ""),
                request.form.get("display_name", ""),
                chosen_unit(s),
            )
            audit.record(s, actor(), "user.create", None, in_unit=u.unit_id, username=u.username, role=u.role)
    except UserError as exc:
        return _users_page(error=str(exc))
    flash("用户已创建。")
    return redirect(url_for("admin.people.users"), code=303)


@bp.post("/users/<id:user_id>")
@require("manage_users")
def user_change(user_id: int):
    """Deactivate, reactivate, reset the password of or change the role of one account: each
    ends that user's sessions at once and goes to the audit log."""
    action = request.form.get("action", "")
    new_pw = None
    try:
        with db().write() as s:
            user = get_or_404(s, User, user_id)  # one the administrator manages (checked by `require`)
            if action == "deactivate":
                set_active(s, user, False)
                audit.record(s, actor(), "user.deactivate", None, in_unit=user.unit_id, username=user.username)
                note = f"已停用“{user.username}”，其登录已全部退出。"
            elif action == "activate":
                set_active(s, user, True)
                audit.record(s, actor(), "user.activate", None, in_unit=user.unit_id, username=user.username)
                note = f"已启用“{user.username}”。"
            elif action == "reset_password":
                new_pw = new_password()
                set_password(user, new_pw)
                audit.record(s, actor(), "user.password_reset", None, in_unit=user.unit_id, username=user.username)
                note = f"已重置“{user.username}”的密码，其登录已全部退出。"
            elif action == "role":
                old = user.role
                set_role(s, user, request.form.get("role", ""))
                audit.record(
                    s, actor(), "user.role", None, in_unit=user.unit_id, username=user.username, old=old, new=user.role
                )
                note = f"“{user.username}”的角色已改为{ROLE_LABELS[user.role]}，其登录已全部退出。"
            else:
                raise UserError("操作无效")
            username = user.username
    except UserError as exc:
        return _users_page(error=str(exc))
    if new_pw is not None:  # shown once, on this page only (never in a cookie or a redirect)
        return _users_page(note=note, new_secret=(username, new_pw))
    if user_id == g.user.id:  # the administrator changed their own account: this session ended too
        session.clear()
        return redirect(url_for("admin.account.login"), code=303)
    flash(note)
    return redirect(url_for("admin.people.users"), code=303)


def _require_root_admin(s) -> None:
    if not units.is_root_admin(s, g.user):
        abort(403)


@bp.route("/units", methods=["GET", "POST"])
@require("manage_users")
def units_page():
    """The root unit's administrator creates child units and renames units."""
    error = None
    with db().read() as s:
        _require_root_admin(s)
    if request.method == "POST":
        try:
            with db().write() as s:
                unit = units.create_unit(s, actor(), request.form.get("name"))
                flash(f"已新建单位“{unit.name}”。")
        except units.UnitError as exc:
            error = str(exc)
        else:
            return redirect(url_for("admin.people.units_page"), code=303)
    with db().read() as s:
        rows = units.all_units(s)
        counts = {
            u.id: (
                s.query(User).filter(User.unit_id == u.id).count(),
                s.query(Meeting).filter(Meeting.unit_id == u.id).count(),
            )
            for u in rows
        }
    page = render_template("admin/units.html", units=rows, counts=counts, error=error, note=_note())
    return page, (400 if error else 200)


@bp.post("/units/<id:unit_id>")
@require("manage_users")
def unit_rename(unit_id: int):
    with writing(url_for("admin.people.units_page")) as s:
        _require_root_admin(s)
        units.rename_unit(s, actor(), get_or_404(s, Unit, unit_id), request.form.get("name"))
    flash("单位名称已修改。")
    return redirect(url_for("admin.people.units_page"), code=303)
