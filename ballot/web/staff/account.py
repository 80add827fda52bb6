"""Staff sign-in and out, the own password, and the home page listing meetings."""

from __future__ import annotations

from flask import (
    Blueprint,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from ballot.meetings import units
from ballot.meetings.users import (
    UserError,
    authenticate,
    change_own_password,
    check_new_password,
    end_sessions,
)
from ballot.storage import audit
from ballot.storage.models import (
    User,
)
from ballot.web.common import client_address, db, limiter, message_page

from .common import _start_staff_session, actor, require

bp = Blueprint("account", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        logins = limiter("login")
        attempt = logins.attempt(client_address())  # counted before the password is checked
        if attempt is None:
            return message_page(
                "请稍后再试", "登录失败次数过多，请几分钟后再试。", 429, back=url_for("admin.account.login")
            )
        with db().read() as s:
            user = authenticate(s, request.form.get("username", "")[:64], request.form.get("password", "")[:256])
        if user is None:
            error = "用户名或密码不正确"
        else:
            logins.forgive(attempt)
            _start_staff_session(user)
            return redirect(url_for("admin.account.home"), code=303)
    return render_template("admin/login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    """Logging out ends every session of the user (a copied cookie included), not only this one."""
    if g.user is not None:
        with db().write() as s:
            end_sessions(s.get(User, g.user.id))
    session.clear()
    return redirect(url_for("admin.account.login"), code=303)


@bp.route("/password", methods=["GET", "POST"])
@require("observe")
def password():
    """Any staff user changes their own password; their other sessions end, this one goes on."""
    error = None
    if request.method == "POST":
        f = request.form
        new = f.get("new", "")
        try:
            if new != f.get("repeat", ""):
                raise UserError("两次输入的新密码不一致")
            check_new_password(new)
        except UserError as exc:
            error = str(exc)
        else:
            guesses = limiter("login")  # a taken-over session may not guess the current password
            attempt = guesses.attempt(client_address())
            if attempt is None:
                return message_page(
                    "请稍后再试", "密码输入错误次数过多，请几分钟后再试。", 429, back=url_for("admin.account.password")
                )
            try:
                with db().write() as s:
                    user = s.get(User, g.user.id)
                    change_own_password(user, f.get("current", "")[:256], new)
                    audit.record(s, actor(), "user.password_change", None, username=user.username)
            except UserError as exc:
                error = str(exc)
            else:
                guesses.forgive(attempt)
                _start_staff_session(user)
                return message_page(
                    "密码已修改", "密码已修改，其他设备上的登录已全部退出。", 200, back=url_for("admin.account.home")
                )
    return render_template("admin/password.html", error=error), (400 if error else 200)


@bp.get("/")
@require("observe")
def home():
    with db().read() as s:
        meetings = units.visible_meetings(s, g.user)
        choices = units.visible_units(s, g.user)
        unit_names = units.names_of(s, [u.id for u in choices])
    return render_template(
        "admin/home.html", meetings=meetings, unit_choices=choices, unit_names=unit_names, my_unit=g.user.unit_id
    )
