"""Staff pages: clerk (会务), chair (主持人), scrutineer (监票人), administrator."""

from __future__ import annotations

import io
import json
import re
import secrets
import time
from contextlib import contextmanager
from functools import wraps
from urllib.parse import quote

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    get_flashed_messages,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    stream_with_context,
    url_for,
)
from sqlalchemy import select

from .. import audit, credentials, csvexport, keyring, meetingfile, numbers, screen, signing, strokes, units
from ..apitokens import create_token
from ..apitokens import revoke as revoke_token
from ..apitokens import tokens as list_tokens
from ..clock import utcnow
from ..errors import Refused
from ..kinds import KINDS, ORDERS, order_of
from ..meetings import (
    STATUS_LABELS,
    OperationError,
    add_group,
    add_item,
    cast_count,
    close_item,
    confirm_merges,
    create_meeting,
    item_counts,
    item_frozen,
    item_group_ids,
    item_result,
    name_gaps,
    name_texts,
    next_round,
    open_item,
    parse_witnesses,
    result_available,
    series_ranking,
    set_present,
    set_same_surname,
    update_group,
    update_item,
    withdraw_item,
    write_in_review,
)
from ..models import (
    MEETING_ROLES,
    ROLE_LABELS,
    ROLES,
    ApiToken,
    IssueBatch,
    Item,
    ItemStatus,
    Meeting,
    SlipJob,
    SlipStatus,
    Unit,
    User,
    VoterGroup,
)
from ..publicurl import voting_base_url
from ..rules import COMPARATORS, DENOMINATORS, PRESETS
from ..sealing import compact_pending
from ..slips import PER_PAGE, SlipSheet, check_sheet, qr_svg, stream_slips
from ..users import (
    UserError,
    authenticate,
    change_own_password,
    check_new_password,
    create_user,
    end_sessions,
    new_password,
    set_active,
    set_password,
    set_role,
)
from . import itemform
from .common import client_address, db, limiter, message_page, settings

bp = Blueprint("admin", __name__, url_prefix="/admin")


# -- login and permissions ---------------------------------------------------------------------


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
                return redirect(url_for("admin.login"))
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
        "ROLE_LABELS": ROLE_LABELS,
        "order_of": order_of,
        "forwarded_without_proxy": current_app.extensions.get("ballot.forwarded_without_proxy", False),
    }


@bp.route("/login", methods=["GET", "POST"])
def login():
    error = None
    if request.method == "POST":
        logins = limiter("login")
        attempt = logins.attempt(client_address())  # counted before the password is checked
        if attempt is None:
            return message_page("请稍后再试", "登录失败次数过多，请几分钟后再试。", 429, back=url_for("admin.login"))
        with db().read() as s:
            user = authenticate(s, request.form.get("username", "")[:64], request.form.get("password", "")[:256])
        if user is None:
            error = "用户名或密码不正确"
        else:
            logins.forgive(attempt)
            _start_staff_session(user)
            return redirect(url_for("admin.home"), code=303)
    return render_template("admin/login.html", error=error), (401 if error else 200)


@bp.post("/logout")
def logout():
    """Logging out ends every session of the user (a copied cookie included), not only this one."""
    if g.user is not None:
        with db().write() as s:
            end_sessions(s.get(User, g.user.id))
    session.clear()
    return redirect(url_for("admin.login"), code=303)


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
                return message_page("请稍后再试", "密码输入错误次数过多，请几分钟后再试。", 429, back=url_for("admin.password"))
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
                return message_page("密码已修改", "密码已修改，其他设备上的登录已全部退出。", 200, back=url_for("admin.home"))
    return render_template("admin/password.html", error=error), (400 if error else 200)


# -- meetings ----------------------------------------------------------------------------------


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


def _chosen_unit(s) -> int:
    """The unit picked on a create form (the user's own when the form has no chooser); one the
    user does not see is refused as not found."""
    picked = _form_id("unit")
    unit_id = g.user.unit_id if picked is None else picked
    try:
        return units.require_unit(s, g.user, unit_id).id
    except units.NotVisible:
        abort(404)


def _note() -> str | None:
    """The note the last action flashed before redirecting here, shown once."""
    notes = get_flashed_messages()
    return notes[-1] if notes else None


def _done(meeting_id: int, note: str | None = None):
    """Back to the meeting page, or to the chair's console when the form came from there."""
    if note:
        flash(note)
    page = "admin.console" if request.form.get("to") == "console" else "admin.meeting"
    return redirect(url_for(page, meeting_id=meeting_id), code=303)


def _unprintable(m: Meeting) -> dict:
    """Name characters the archive report cannot print (or why no report can be printed at all)."""
    from .. import reportfonts

    try:
        return {"gaps": reportfonts.missing(name_texts(m)), "error": None}
    except reportfonts.FontError as exc:
        return {"gaps": [], "error": str(exc)}


def _refuse(exc: Exception, back: str):
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
    return _refuse(exc, getattr(exc, "back", None) or request.referrer or url_for("admin.home"))


@bp.post("/meetings")
@require("prepare")
def new_meeting():
    with writing(url_for("admin.home")) as s:
        f = request.form
        m = create_meeting(
            s,
            actor(),
            f.get("title"),
            f.get("date", ""),
            f.get("location", ""),
            f.get("same_surname"),
            _chosen_unit(s),
        )
    return _done(m.id, "会议已创建，请添加表决组和议题。")


def _sittings(s, item: Item, groups) -> list[dict] | None:
    """Per-group state of an item whose groups vote at separate sittings (None for the others)."""
    if not KINDS[item.kind].per_group or len(item.voting_groups) < 2 or item.status not in (ItemStatus.DRAFT, ItemStatus.OPEN):
        return None
    names = {gr.id: gr.name for gr in groups}
    return [
        {"id": ig.group_id, "name": names[ig.group_id], "state": ig.state, "cast": cast_count(s, item.id, ig.group_id)}
        for ig in sorted(item.voting_groups, key=lambda ig: ig.group_id)
    ]


@bp.route("/meetings/<id:meeting_id>/archive.zip", methods=["GET", "POST"])
@require("publish")
def archive_zip(meeting_id: int):
    """The signed tally archive of the meeting's closed items, as one zip: the instance key signs
    it, so only those who may publish results ask for it, and each signing is recorded. While a
    name has a character the report cannot print, they first see the list and confirm (POST)."""
    from .. import archive, reportfonts

    accept = request.method == "POST" and request.form.get("accept_unprintable") == "1"
    try:
        with db().read() as s:
            key = keyring.signing_key(s, settings().instance_path)  # the current key of every server
            m = _get(s, Meeting, meeting_id)
            files = archive.build(s, m, key, accept_unprintable=accept)
    except archive.UnprintableNames as exc:
        return render_template("admin/unprintable.html", meeting_id=meeting_id, gaps=exc.gaps)
    except (OperationError, signing.SigningError, reportfonts.FontError) as exc:
        return _refuse(exc, url_for("admin.meeting", meeting_id=meeting_id))
    with db().write() as s:  # after it was signed: a refused build signed nothing
        audit.record(s, actor(), "archive.sign", meeting_id, key=key.public.id_hex, accept_unprintable=accept)
    name = f"ballot-archive-{meeting_id}.zip"
    return Response(
        archive.zipped(files),
        mimetype="application/zip",
        headers={"Content-Disposition": f"attachment; filename={name}"},
    )


@bp.post("/meetings/<id:meeting_id>/kiosk")
@require("prepare")
def kiosk_mode(meeting_id: int):
    """This device becomes the meeting's shared kiosk: the staff login ends here (a voter must
    not inherit it); a staff login on the device later ends kiosk mode."""
    with db().write() as s:
        m = _get(s, Meeting, meeting_id)
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
        key = screen.new_key(s, actor(), _get(s, Meeting, meeting_id), settings().derived_key("screen"))
    base, _warnings = voting_base_url(settings(), request.host_url)
    url = base.rstrip("/") + url_for("screen.page", key=key)
    return _done(meeting_id, f"大屏链接（只显示这一次，请在投影电脑上打开并收藏；重新生成后旧链接作废）：{url}")


@bp.post("/meetings/<id:meeting_id>/screen-key/revoke")
@require("prepare")
def screen_key_revoke(meeting_id: int):
    with db().write() as s:
        screen.revoke_key(s, actor(), _get(s, Meeting, meeting_id))
    return _done(meeting_id, "大屏链接已作废。")


@bp.post("/meetings/<id:meeting_id>/screen")
@require("conduct")
def screen_show(meeting_id: int):
    """The chair puts an item on the screen, and reveals or hides its result."""
    back = request.referrer or url_for("admin.console", meeting_id=meeting_id)
    with writing(back) as s:
        screen.show(s, actor(), _get(s, Meeting, meeting_id), _form_id("item"), request.form.get("reveal") == "1")
    return redirect(back, code=303)


@bp.get("/meetings/<id:meeting_id>/console")
@require("conduct")
def console(meeting_id: int):
    """The chair's console: phone-friendly, one card per item."""
    with db().read() as s:
        m = _get(s, Meeting, meeting_id)
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
                    "sittings": _sittings(s, item, groups),
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
        m = _get(s, Meeting, meeting_id)
        data = {str(item.id): {"cast": cast_count(s, item.id), "status": item.status} for item in m.items}
    return jsonify(data)


@bp.post("/meetings/<id:meeting_id>/name-order")
@require("prepare")
def name_order(meeting_id: int):
    with writing(url_for("admin.meeting", meeting_id=meeting_id)) as s:
        m = _get(s, Meeting, meeting_id)
        kept = set_same_surname(s, actor(), m, request.form.get("same_surname"))
        rule = strokes.rule_text(m.single_given_first)
    note = f"人选现{rule}。"
    if kept:
        note += f"已冻结的议题保持原顺序：{'、'.join(kept)}。"
    return _done(meeting_id, note)


@bp.post("/meetings/load")
@require("prepare")
def load_meeting():
    upload = request.files.get("file")
    try:
        text = meetingfile.decode(upload.read()) if upload and upload.filename else request.form.get("toml", "")
        with db().write() as s:
            m = meetingfile.load(s, actor(), text, _chosen_unit(s))
    except OperationError as exc:
        return _refuse(exc, url_for("admin.home"))
    return _done(m.id, "会议文件已导入。")


def _form_id(name: str) -> int | None:
    """A database id from a form field, or None (never an out-of-range number for the database)."""
    return numbers.valid_id(request.form.get(name, ""))


def _get(s, model, ident):
    obj = s.get(model, ident)
    if obj is None:
        abort(404)
    return obj


@bp.get("/meetings/<id:meeting_id>")
@require("observe")
def meeting(meeting_id: int):
    with db().read() as s:
        m = _get(s, Meeting, meeting_id)
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
                    "sittings": _sittings(s, item, groups),
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
    back = url_for("admin.meeting", meeting_id=meeting_id) + "#roles"
    role = request.form.get("role", "")
    with writing(back) as s:
        m = _get(s, Meeting, meeting_id)
        if request.form.get("action") == "remove":
            units.unname_for_meeting(s, actor(), m, _form_id("user"), role)
            note = f"已取消本会议的{ROLE_LABELS.get(role, '')}指定。"
        else:
            user = units.name_for_meeting(s, actor(), m, _form_id("user"), role)
            note = f"已指定“{user.username}”为本会议的{ROLE_LABELS[role]}。"
    flash(note)
    return redirect(back, code=303)


@bp.post("/meetings/<id:meeting_id>/groups")
@require("prepare")
def new_group(meeting_id: int):
    with writing(url_for("admin.meeting", meeting_id=meeting_id)) as s:
        add_group(s, actor(), _get(s, Meeting, meeting_id), request.form.get("name"), request.form.get("expected"))
    return _done(meeting_id)


@bp.post("/groups/<id:group_id>")
@require("prepare")
def edit_group(group_id: int):
    with writing(request.referrer or url_for("admin.home")) as s:
        group = _get(s, VoterGroup, group_id)
        meeting_id = group.meeting_id
        update_group(s, actor(), group, request.form.get("name"), request.form.get("expected"))
    return _done(meeting_id)


@bp.post("/groups/<id:group_id>/present")
@require("conduct")
def group_present(group_id: int):
    with writing(url_for("admin.home")) as s:
        group = _get(s, VoterGroup, group_id)
        meeting_id = group.meeting_id
        set_present(s, actor(), group, request.form.get("present", ""))
    return _done(meeting_id, "实到人数已录入。")


@bp.post("/groups/<id:group_id>/codes")
@require("prepare")
def issue(group_id: int):
    try:
        count = numbers.parse_int(request.form.get("count", ""), "签发数量", 1, credentials.MAX_BATCH)
    except numbers.NumberError as exc:
        return _refuse(exc, url_for("admin.home"))
    with writing(url_for("admin.home")) as s:
        group = _get(s, VoterGroup, group_id)
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
    with writing(url_for("admin.meeting", meeting_id=meeting_id)) as s:
        _get(s, Meeting, meeting_id)
        credentials.void_code(
            s, settings().derived_key("credential"), meeting_id, request.form.get("code", "")[:64], actor()
        )
    return _done(meeting_id, "票码已作废，不能再用于投票（作废记录保留）。")


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
        return _refuse(exc, url_for("admin.home"))
    wifi = request.form.get("wifi", "").strip()[:40]
    token = request.form.get("token", "")
    if not re.fullmatch(r"[0-9a-f]{32}", token):
        token = secrets.token_hex(16)
    base_url, _warnings = voting_base_url(settings(), request.host_url)
    with writing(url_for("admin.home")) as s:
        group = _get(s, VoterGroup, group_id)
        meeting = group.meeting
        meeting_id = meeting.id
        keys = keyring.public_keys(s, settings().instance_path)
        sheet = SlipSheet(
            meeting.title, group.name, meeting.date, base_url, wifi, keys[0].fingerprint if keys else ""
        )
        check_sheet(sheet)  # before any code exists: a sheet that cannot print issues nothing
        if s.get(SlipJob, token) is not None:
            token = secrets.token_hex(16)
        codes, batch_id = credentials.issue_codes_batch(
            s, settings().derived_key("credential"), group, count, actor()
        )
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
    stalled = job.status == SlipStatus.RUNNING and (now - (job.updated_at or job.created_at)).total_seconds() > SLIP_JOB_STALL_SECONDS
    # a broken download voids its batch itself; a dead worker could not, so the clerk must
    status = SlipStatus.FAILED if stalled else job.status
    return {"status": status, "stalled": stalled, "pages_done": job.pages_done, "pages_total": job.pages_total}


@bp.post("/meetings/<id:meeting_id>/void-batch")
@require("prepare")
def void_batch(meeting_id: int):
    batch = _form_id("batch")
    with writing(url_for("admin.meeting", meeting_id=meeting_id)) as s:
        if batch is None:
            raise credentials.IssueError("批次无效")
        n = credentials.void_batch(s, meeting_id, batch, actor())
    return _done(meeting_id, f"已作废该批次 {n} 个票码（记录保留）。")


@bp.post("/groups/<id:group_id>/void-unused")
@require("prepare")
def void_unused(group_id: int):
    if request.form.get("confirm") != "1":
        return _refuse(OperationError("请勾选确认后再作废"), request.referrer or url_for("admin.home"))
    with db().write() as s:
        group = _get(s, VoterGroup, group_id)
        meeting_id = group.meeting_id
        n = credentials.void_unused(s, group, actor())
    return _done(meeting_id, f"已作废“{group.name}”全部未使用的票 {n} 张：多余的票不能再投票。")


def _codes_csv(meta: dict, rows) -> str:
    out = io.StringIO()
    header = ["序号", "票码", "投票链接", "会议", "表决组"]
    csvexport.write_rows(out, [header] + [[i, code, url, meta["meeting"], meta["group"]] for i, code, url in rows])
    return out.getvalue()


# -- items -------------------------------------------------------------------------------------


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
        m = _get(s, Meeting, meeting_id)
        list(m.groups)
    if request.method == "GET":
        defaults = {"preset": "appointment", "rec_seats": 1, "ev_min": 5, "sc_trim_min": 5, "order": "strokes"}
        return render_template("admin/item_form.html", **_form_context(m, values=defaults))
    title, kind, raw, group_ids = _item_form_data(m.groups)
    try:
        with db().write() as s:
            add_item(s, actor(), _get(s, Meeting, meeting_id), title, kind, raw, group_ids)
    except OperationError as exc:
        values = dict(request.form)
        values["groups"] = group_ids
        return render_template("admin/item_form.html", error=str(exc), **_form_context(m, values=values)), 400
    return _done(meeting_id, "议题已添加。")


@bp.route("/items/<id:item_id>/edit", methods=["GET", "POST"])
@require("prepare")
def edit_item(item_id: int):
    with db().read() as s:
        item = _get(s, Item, item_id)
        m = item.meeting
        list(m.groups)
        values = _values_from_item(item)
    if request.method == "GET":
        return render_template("admin/item_form.html", **_form_context(m, item, values))
    title, kind, raw, group_ids = _item_form_data(m.groups)
    try:
        with db().write() as s:
            update_item(s, actor(), _get(s, Item, item_id), title, kind, raw, group_ids)
    except OperationError as exc:
        values = dict(request.form)
        values["groups"] = group_ids
        return render_template("admin/item_form.html", error=str(exc), **_form_context(m, item, values)), 400
    return _done(m.id, "议题已修改。")


@bp.route("/items/<id:item_id>/withdraw", methods=["GET", "POST"])
@require("prepare")
def withdraw(item_id: int):
    with db().read() as s:
        item = _get(s, Item, item_id)
        meeting_id = item.meeting_id
    if request.method == "GET":
        return render_template("admin/withdraw.html", item=item)
    with writing(url_for("admin.withdraw", item_id=item_id)) as s:
        new = withdraw_item(
            s, actor(), _get(s, Item, item_id), request.form.get("reason"), request.form.get("correction") == "1"
        )
        new_id = new.id if new else None
    if new_id:
        flash("原议题已撤回，已新建更正议题，请修改后使用。")
        return redirect(url_for("admin.edit_item", item_id=new_id), code=303)
    return _done(meeting_id, "议题已撤回。")


@bp.post("/items/<id:item_id>/open")
@require("conduct")
def open_(item_id: int):
    group_id = _form_id("group")
    with writing(request.referrer or url_for("admin.home")) as s:
        item = open_item(s, actor(), item_id, group_id)
        meeting_id = item.meeting_id
    return _done(meeting_id, "该表决组已开始表决。" if group_id else "已开始表决。")


@bp.route("/items/<id:item_id>/close", methods=["GET", "POST"])
@require("conduct")
def close(item_id: int):
    with db().read() as s:
        item = _get(s, Item, item_id)
        cast = cast_count(s, item.id)
        counts = item_counts(s, item)
        groups = list(item.meeting.groups)
    group_id = _form_id("group") if request.method == "POST" else (request.args.get("group", type=int) or None)
    group_name = next((gr.name for gr in groups if gr.id == group_id), None) if group_id else None
    if request.method == "GET":
        return render_template(
            "admin/close.html", item=item, cast=cast, counts=counts, group_id=group_id, group_name=group_name
        )
    if request.form.get("confirm") != "1":
        return _refuse(OperationError("请勾选确认后再结束表决"), url_for("admin.close", item_id=item_id))
    with writing(url_for("admin.meeting", meeting_id=item.meeting_id)) as s:
        witnesses = parse_witnesses(request.form.get("scrutineers", ""), request.form.get("tellers", ""))
        closed = close_item(s, actor(), item_id, group_id, witnesses).status == ItemStatus.CLOSED
    if not closed:
        return _done(item.meeting_id, f"“{group_name}”已结束表决；所有表决组结束后计算综合结果。")
    if not (compaction := compact_pending(db())):
        flash(f"表决已结束、结果已封存；{compaction.message}")
    return redirect(url_for("admin.result", item_id=item_id), code=303)


@bp.get("/items/<id:item_id>/result")
@require("observe")
def result(item_id: int):
    with db().read() as s:
        item = _get(s, Item, item_id)
        if not result_available(item):
            return message_page(
                "表决尚未结束",
                "表决进行中不显示结果，结束表决后再查看。",
                409,
                back=url_for("admin.meeting", meeting_id=item.meeting_id),
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


@bp.post("/items/<id:item_id>/next-round")
@require("conduct")
def next_round_(item_id: int):
    """差额票决: the chair confirms (or edits) the proposed candidates of the next round."""
    edited = {}
    for key, text in request.form.items():
        if key.startswith("post:"):
            edited[key[5:]] = [line for line in text.splitlines() if line.strip()]
    with writing(url_for("admin.result", item_id=item_id)) as s:
        new = next_round(s, actor(), _get(s, Item, item_id), edited or None)
        meeting_id, title = new.meeting_id, new.title
    return _done(meeting_id, f"已创建“{title}”，请开始表决。")


@bp.post("/items/<id:item_id>/merges")
@require("prepare")
def merges_(item_id: int):
    """民主推荐: the clerk confirms which written-in spellings are one person."""
    merges = []
    for value in request.form.getlist("merge"):
        try:
            source, target = json.loads(value)
        except (ValueError, TypeError, RecursionError):
            return _refuse(OperationError("合并内容无效"), url_for("admin.result", item_id=item_id))
        merges.append({"from": str(source), "to": str(target)})
    if not merges:
        return _refuse(OperationError("请勾选要合并的写法"), url_for("admin.result", item_id=item_id))
    with writing(url_for("admin.result", item_id=item_id)) as s:
        confirm_merges(s, actor(), _get(s, Item, item_id), merges)
    flash(f"已合并 {len(merges)} 种写法。")
    return redirect(url_for("admin.result", item_id=item_id), code=303)


@bp.get("/meetings/<id:meeting_id>/audit")
@require("observe")
def audit_log(meeting_id: int):
    with db().read() as s:
        m = _get(s, Meeting, meeting_id)
        ok, summary = audit.verify_meeting(s, meeting_id)
        rows = [{"e": e, "detail": json.loads(e.detail_json)} for e in audit.entries(s, meeting_id)]
    return render_template("admin/audit.html", meeting=m, rows=rows, chain_ok=ok, chain_summary=summary)


# -- API tokens --------------------------------------------------------------------------------


@bp.route("/tokens", methods=["GET", "POST"])
@require("observe")
def api_tokens():
    """Everyone makes tokens for themselves (a token acts with its user's role); an
    administrator sees and may revoke all of them, anyone else only their own."""
    new_token = None
    if request.method == "POST":
        with db().write() as s:
            if "revoke" in request.form:
                token_id = _form_id("revoke")
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
                    return _refuse(OperationError("没有这个有效的令牌"), url_for("admin.api_tokens"))
            else:
                new_token = create_token(
                    s, s.get(User, g.user.id), request.form.get("name", ""), actor(), _chosen_unit(s)
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


# -- users -------------------------------------------------------------------------------------


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
                _chosen_unit(s),
            )
            audit.record(s, actor(), "user.create", None, in_unit=u.unit_id, username=u.username, role=u.role)
    except UserError as exc:
        return _users_page(error=str(exc))
    flash("用户已创建。")
    return redirect(url_for("admin.users"), code=303)


@bp.post("/users/<id:user_id>")
@require("manage_users")
def user_change(user_id: int):
    """Deactivate, reactivate, reset the password of or change the role of one account: each
    ends that user's sessions at once and goes to the audit log."""
    action = request.form.get("action", "")
    new_pw = None
    try:
        with db().write() as s:
            user = _get(s, User, user_id)  # one the administrator manages (checked by `require`)
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
        return redirect(url_for("admin.login"), code=303)
    flash(note)
    return redirect(url_for("admin.users"), code=303)


# -- units -------------------------------------------------------------------------------------


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
            return redirect(url_for("admin.units_page"), code=303)
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
    with writing(url_for("admin.units_page")) as s:
        _require_root_admin(s)
        units.rename_unit(s, actor(), _get(s, Unit, unit_id), request.form.get("name"))
    flash("单位名称已修改。")
    return redirect(url_for("admin.units_page"), code=303)
