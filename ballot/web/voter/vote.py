"""The attendee's pages: enter a code, see open items, cast, review, confirm, receipt.

Everything works as plain forms without JavaScript. The code from a slip URL is exchanged
for a short-lived session on the first request and the browser is redirected, so the code
does not linger in history or logs. Receipts shown again come from the voter's own session.
"""

from __future__ import annotations

from flask import Blueprint, abort, has_request_context, redirect, render_template, request, session, url_for
from sqlalchemy import select

from ballot.counting.errors import Refused
from ballot.counting.kinds import CastError, get_kind
from ballot.documents import webfont
from ballot.meetings.setup import name_texts
from ballot.storage.models import Ballot, Credential, GroupState, Item, ItemGroup, ItemStatus, Meeting, VoterGroup
from ballot.voting.casting import AlreadyCast, NotEligible, NotOpen, cast_ballot, has_spent, receipt_counted
from ballot.voting.codes import new_receipt
from ballot.voting.credentials import find_usable
from ballot.voting.itemviews import cached_static, group_state, item_view
from ballot.voting.sealing import spent
from ballot.web.common import client_address, db, form_lists, limiter, message_page, settings

bp = Blueprint("vote", __name__)

CODE_REFUSED = "该票码在本会议无法使用。请核对票码（字母不区分大小写），或向会务人员求助。"
SESSION_GONE = "投票会话已过期或尚未输入票码。请重新扫描票上的二维码，或在首页输入票码。"
TOO_MANY = "票码输入错误次数过多，请稍等几分钟再试，或向会务人员求助。"


def _voter() -> dict | None:
    return session.get("v")


KIOSK_RECEIPT_SECONDS = 20  # long enough to note the receipt code
KIOSK = "k"  # session key: this device is a shared kiosk of meeting k (survives each voter's reset)


@bp.app_context_processor
def _kiosk_flag() -> dict:
    # the projector's watcher renders outside any request: no session, no kiosk
    return {"kiosk_mode": has_request_context() and session.get(KIOSK) is not None}


@bp.errorhandler(Refused)
def refused(exc: Refused):
    """A refusal that no view turned into its own page: its message, and the way back. (Views
    whose refusal needs more than a message catch theirs where they happen: a repeated cast
    looks for its receipt, a refused code forgets the session.)"""
    back = url_for("vote.items") if _voter() else url_for("vote.start")
    return message_page("未能完成", str(exc), 400, back=back)


def reset_session() -> None:
    """Forget the voter (code, receipts, pending choices, CSRF token); a kiosk stays a kiosk."""
    kiosk = session.get(KIOSK)
    session.clear()
    if kiosk is not None:
        session[KIOSK] = kiosk


def kiosk_meeting() -> int | None:
    return session.get(KIOSK)


def _typed_code(typed: str) -> str:
    """A code as typed, or as a QR scanner at a kiosk types the slip's URL (…/V/CODE)."""
    typed = (typed or "").strip()
    for marker in ("/V/", "/v/"):
        if marker in typed:
            return typed.rsplit(marker, 1)[1]
    return typed


def _enter(typed: str):
    """Shared by the slip URL and the typed-code form."""
    client = client_address()
    codes = limiter("kiosk_code" if kiosk_meeting() is not None else "code")
    attempt = codes.attempt(client)  # counted before the code is checked, forgiven if it works
    if attempt is None:
        return message_page("请稍后再试", TOO_MANY, 429, back=url_for("vote.start"), back_label="返回首页")
    typed = _typed_code(typed)
    with db().read() as s:
        cred = find_usable(s, settings().derived_key("credential"), typed)
        if cred is not None and kiosk_meeting() not in (None, cred.meeting_id):
            cred = None  # a kiosk serves one meeting; another meeting's code is refused like any other
        if cred is not None:
            voter = {"c": cred.id, "m": cred.meeting_id, "g": cred.group_id}
            open_items = _open_items_to_cast(s, voter)
    if cred is None:
        back = url_for("vote.kiosk") if kiosk_meeting() is not None else url_for("vote.start")
        return message_page("票码无法使用", CODE_REFUSED, 400, back=back, back_label="重新输入")
    codes.forgive(attempt)
    reset_session()
    session.permanent = True
    session["v"] = voter
    session["r"] = {}
    session["p"] = {}
    # One thing per screen: with exactly one item open for this code, go straight to its ballot.
    if len(open_items) == 1:
        return redirect(url_for("vote.ballot_form", item_id=open_items[0]), code=303)
    return redirect(url_for("vote.items"), code=303)


def _open_items_to_cast(s, voter: dict) -> list[int]:
    return list(
        s.execute(
            select(Item.id)
            .join(ItemGroup, ItemGroup.item_id == Item.id)
            .where(Item.meeting_id == voter["m"], ItemGroup.group_id == voter["g"], Item.status == ItemStatus.OPEN)
            .where(ItemGroup.state == GroupState.OPEN, ~spent(voter["c"], Item.id))
        ).scalars()
    )


@bp.get("/")
def start():
    return render_template("vote/start.html", has_session=_voter() is not None)


@bp.post("/enter")
def enter():
    return _enter(request.form.get("code", ""))


@bp.get("/v/<code>")
@bp.get("/V/<code>")  # slips print the URL in upper case (QR alphanumeric mode)
def slip(code: str):
    return _enter(code)


@bp.get("/scan-test")
@bp.get("/SCAN-TEST")
def scan_test():
    """What the 扫码测试 QR on the admin page opens: proof that phones in the room reach us."""
    return message_page(
        "连接正常",
        "这部手机可以访问投票服务。会场的手机扫描票上的二维码即可投票。",
        200,
        back=url_for("vote.start"),
        back_label="打开投票首页",
    )


@bp.post("/leave")
def leave():
    reset_session()
    return redirect(url_for("vote.kiosk" if kiosk_meeting() else "vote.start"), code=303)


@bp.get("/kiosk")
def kiosk():
    """The shared device's start page: scan or type a slip code."""
    meeting_id = kiosk_meeting()
    if meeting_id is None:
        return message_page(
            "不是自助投票设备", "会务人员可在会议页面把这台设备设为自助投票设备。", 404, back=url_for("vote.start")
        )
    reset_session()  # nobody's ballot survives reaching the start page, by any path
    with db().read() as s:
        meeting = s.get(Meeting, meeting_id)
    return render_template("vote/kiosk.html", meeting=meeting)


@bp.post("/kiosk/done")
def kiosk_done():
    """After a cast (or when a voter walks away): forget everything, then the privacy screen."""
    reset_session()
    return redirect(url_for("vote.kiosk_privacy" if kiosk_meeting() else "vote.start"), code=303)


@bp.get("/kiosk/privacy")
def kiosk_privacy():
    """Shown between two voters (a page of its own, so going back to it shows nothing either)."""
    reset_session()
    return render_template("vote/kiosk_done.html")


@bp.get("/ballot")
def items():
    voter = _voter()
    if not voter:
        return message_page("请重新进入", SESSION_GONE, 401, back=url_for("vote.start"), back_label="返回首页")
    receipts = session.get("r", {})
    with db().read() as s:
        who = s.execute(
            select(Credential.voided, Meeting.title, VoterGroup.name)
            .join(Meeting, Meeting.id == Credential.meeting_id)
            .join(VoterGroup, VoterGroup.id == Credential.group_id)
            .where(Credential.id == voter["c"])
        ).first()
        if who is None or who.voided:
            reset_session()
            return message_page("票码无法使用", CODE_REFUSED, 400, back=url_for("vote.start"))
        rows = s.execute(
            select(Item.id, Item.title, Item.status, ItemGroup.state, spent(voter["c"], Item.id).label("spent"))
            .join(ItemGroup, ItemGroup.item_id == Item.id)
            .where(Item.meeting_id == voter["m"], ItemGroup.group_id == voter["g"], Item.status.in_((ItemStatus.OPEN, ItemStatus.CLOSED)))
            .order_by(Item.position)
        ).all()
    entries = []
    for row in rows:
        receipt = receipts.get(str(row.id))
        done = receipt is not None or bool(row.spent)
        if (row.status == ItemStatus.CLOSED or row.state != GroupState.OPEN) and not done:
            continue  # over, or not yet open for this voter's group
        entries.append({"item": row, "done": done, "receipt": receipt})
    return render_template("vote/items.html", meeting_title=who.title, group_name=who.name, entries=entries)


def _guard(item_id: int):
    """Common checks; returns (voter, error response)."""
    voter = _voter()
    if not voter:
        return None, message_page("请重新进入", SESSION_GONE, 401, back=url_for("vote.start"), back_label="返回首页")
    if str(item_id) in session.get("r", {}):
        return None, redirect(url_for("vote.receipt", item_id=item_id), code=303)
    return voter, None


def _not_open():
    return message_page(
        "该议题当前不在表决中",
        "该议题尚未开始或已经结束表决，不能投票。",
        409,
        back=url_for("vote.items"),
        back_label="返回议题列表",
    )


def _already():
    return message_page(
        "本票码已投过本议题",
        "本票码已经对本议题投过票，每个议题只能投一次。",
        409,
        back=url_for("vote.items"),
        back_label="返回议题列表",
    )


def _votable(voter: dict, item_id: int, must_be_open: bool = True):
    """(item view, None) for an item of this voter's code, or (None, the refusal page)."""
    with db().read() as s:
        item = item_view(s, item_id)
        if item is None or item.meeting_id != voter["m"] or voter["g"] not in item.group_ids:
            return None, message_page("议题不存在", "本票码没有这个议题。", 404, back=url_for("vote.items"))
        if must_be_open and (item.status != ItemStatus.OPEN or group_state(s, item.id, voter["g"]) != GroupState.OPEN):
            return None, _not_open()
        if must_be_open and has_spent(s, voter["c"], item.id):
            return None, _already()
    return item, None


def _voter_and_item(item_id: int, must_be_open: bool = True):
    """(voter, item, None), or (None, None, the page to show instead)."""
    voter, error = _guard(item_id)
    if error:
        return None, None, error
    item, error = _votable(voter, item_id, must_be_open)
    return voter, item, error


@bp.get("/ballot/<id:item_id>")
def ballot_form(item_id: int):
    voter, item, error = _voter_and_item(item_id)
    if error:
        return error
    # Coming back from the review page ("返回修改") shows the choices made so far.
    pending = session.get("p", {}).get(str(item_id))
    return render_template(
        f"vote/kinds/{item.kind}.html",
        names_css=url_for("vote.names_css"),
        item=item,
        kind=get_kind(item.kind),
        config=item.config,
        meeting_title=item.meeting_title,
        chosen=pending["choices"] if pending else None,
    )


@bp.post("/ballot/<id:item_id>/review")
def review(item_id: int):
    voter, item, error = _voter_and_item(item_id)
    if error:
        return error
    kind, config = get_kind(item.kind), item.config
    try:
        choices = kind.parse_cast(config, form_lists())
    except CastError as exc:
        return message_page("选票填写有误", str(exc), 400, back=url_for("vote.ballot_form", item_id=item_id))
    # The checked choices and a receipt drawn now wait in the voter's own session (never on the
    # server) until confirmed. Redirecting here keeps the back button away from a POST page, and
    # lets a double tap that loses the race still show the winner's receipt.
    pending = dict(session.get("p", {}))
    pending[str(item_id)] = {"receipt": new_receipt(), "choices": choices}
    session["p"] = pending
    return redirect(url_for("vote.review_page", item_id=item_id), code=303)


@bp.get("/ballot/<id:item_id>/review")
def review_page(item_id: int):
    voter, error = _guard(item_id)
    if error:
        return error
    pending = session.get("p", {}).get(str(item_id))
    if not pending:
        return redirect(url_for("vote.ballot_form", item_id=item_id), code=303)
    item, error = _votable(voter, item_id, must_be_open=False)
    if error:
        return error
    kind, config = get_kind(item.kind), item.config
    return render_template(
        "vote/review.html",
        item=item,
        lines=kind.review(config, pending["choices"]),
        names_css=url_for("vote.names_css"),
    )


def _voter_chars() -> str | None:
    voter = _voter()
    if not voter:
        return None
    with db().read() as s:
        return webfont.characters(name_texts(s.get(Meeting, voter["m"])))


@bp.get("/ballot/names.css")
def names_css():
    """The names web font for this voter's meeting (rare name characters on phones that lack them)."""
    from ballot.web.screen import names_css as stylesheet

    chars = _voter_chars()
    if chars is None:
        abort(404)
    return stylesheet(url_for("vote.names_font", digest=webfont.digest(chars)))


@bp.get("/ballot/names-<digest>.woff2")
def names_font(digest: str):
    from ballot.web.screen import font_response

    chars = _voter_chars()
    if chars is None:
        abort(404)
    return font_response(chars)


@bp.post("/ballot/<id:item_id>/cast")
def cast(item_id: int):
    voter, error = _guard(item_id)
    if error:
        return error
    pending = session.get("p", {}).get(str(item_id))
    if not pending:
        return message_page(
            "请先核对选票",
            "请从选票页面填写并核对后再确认提交。",
            400,
            back=url_for("vote.ballot_form", item_id=item_id),
        )
    receipt = pending["receipt"]
    # cast_ballot checks eligibility and state in its own transaction; here only the kind and
    # configuration are needed, from this process's cache when it has them.
    static = cached_static(db().url, item_id)
    if static is None:
        item, error = _votable(voter, item_id, must_be_open=False)
        if error:
            return error
        static = {"kind": item.kind, "config": item.config}
    kind, config = get_kind(static["kind"]), static["config"]
    try:
        # The session is signed, but check again: the server never trusts what a page sends.
        choices = kind.check_choices(config, pending["choices"])
    except CastError:
        return message_page(
            "选票填写有误", "选票内容无效，请返回重新填写。", 400, back=url_for("vote.ballot_form", item_id=item_id)
        )
    try:
        with db().write_connection() as conn:  # commits (durably) before we acknowledge anything
            cast_ballot(conn, voter["c"], item_id, choices, receipt)
    except NotEligible:
        reset_session()
        return message_page("票码无法使用", CODE_REFUSED, 400, back=url_for("vote.start"))
    except (NotOpen, AlreadyCast) as refused:
        # A repeated submit after success (even after the item closed) shows the same receipt.
        with db().read() as s:
            mine = receipt_counted(s, item_id, receipt)
        if not mine:
            return _not_open() if isinstance(refused, NotOpen) else _already()
    _remember(item_id, receipt)
    return redirect(url_for("vote.receipt", item_id=item_id), code=303)


def _remember(item_id: int, receipt: str) -> None:
    receipts = dict(session.get("r", {}))
    receipts[str(item_id)] = receipt
    session["r"] = receipts
    pending = dict(session.get("p", {}))
    pending.pop(str(item_id), None)
    session["p"] = pending


@bp.get("/ballot/<id:item_id>/receipt")
def receipt(item_id: int):
    voter = _voter()
    code = session.get("r", {}).get(str(item_id)) if voter else None
    if not code:
        return message_page(
            "没有回执",
            "本设备上没有这个议题的投票回执。" if voter else SESSION_GONE,
            404,
            back=url_for("vote.items") if voter else url_for("vote.start"),
        )
    with db().read() as s:
        item = s.get(Item, item_id)
        # at a kiosk, a voter with nothing left to vote is cleared shortly after seeing the receipt
        all_done = kiosk_meeting() is not None and not _open_items_to_cast(s, voter)
    return render_template(
        "vote/receipt.html", item=item, receipt=code, kiosk_clear_after=KIOSK_RECEIPT_SECONDS if all_done else None
    )


@bp.get("/receipts/<id:item_id>")
def receipts(item_id: int):
    """Published receipt list of a closed item: inclusion only, sorted, no content."""
    with db().read() as s:
        item = s.get(Item, item_id)
        if item is None or item.status not in (ItemStatus.CLOSED, ItemStatus.WITHDRAWN) or item.closed_at is None:
            return message_page("回执清单尚未公布", "表决结束后才公布回执清单。", 404, back=url_for("vote.start"))
        codes = sorted(
            s.execute(select(Ballot.receipt).where(Ballot.item_id == item_id, Ballot.receipt.is_not(None))).scalars()
        )
    return render_template("vote/receipts.html", item=item, receipts=codes)
