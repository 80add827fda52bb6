"""JSON API /api/v1 for integration: clerk and chair operations with a bearer token, and
casting with a code. Errors are JSON: {"error": {"code": <stable machine code>, "message": <中文>}}.
The OpenAPI 3 description lives in openapi.py; a test keeps the two in sync.
"""

from __future__ import annotations

import json
from functools import wraps

from flask import Blueprint, g, jsonify, request

from ballot.counting import numbers, strokes
from ballot.counting.errors import MAX_ID, OperationError, Refused
from ballot.counting.kinds import CastError, get_kind
from ballot.meetings import apitokens, meetingfile, units
from ballot.meetings.results import item_result, result_available
from ballot.meetings.sittings import cast_count, close_item, item_counts, open_item, set_present
from ballot.publicurl import voting_base_url
from ballot.storage.audit import Actor
from ballot.storage.models import GroupState, Item, ItemStatus, Meeting, User, VoterGroup
from ballot.voting import credentials
from ballot.voting.casting import (
    MAX_IDEMPOTENCY_KEY,
    AlreadyCast,
    Idempotency,
    IdempotencyMismatch,
    NotEligible,
    NotOpen,
    cast_ballot,
    earlier_receipt,
    has_spent,
)
from ballot.voting.codes import new_receipt
from ballot.voting.itemviews import group_state, item_view
from ballot.voting.sealing import compact_pending
from ballot.web.common import client_address, db, limiter, settings

from .openapi import spec

bp = Blueprint("api", __name__, url_prefix="/api/v1")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def error_response(status: int, code: str, message: str):
    return jsonify({"error": {"code": code, "message": message}}), status


@bp.errorhandler(ApiError)
def api_error(exc: ApiError):
    return error_response(exc.status, exc.code, exc.message)


@bp.errorhandler(Refused)
def refused(exc: Refused):
    """Every domain refusal not answered more precisely: its status and code (409 refused unless
    the class says otherwise), its Chinese message."""
    return error_response(exc.status, exc.code, str(exc))


OBJECT_NAMES = {"meeting_id": "会议", "item_id": "议题", "group_id": "表决组"}


def require(permission: str):
    def deco(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            token = header[7:].strip() if header.startswith("Bearer ") else ""
            with db().read() as s:
                row = apitokens.token_row(s, token) if token else None
                if row is None:
                    raise ApiError(401, "unauthorized", "缺少或无效的访问令牌（Authorization: Bearer …）")
                user = s.get(User, row.user_id)
                # the same check as every staff page (units.py): objects of a unit the token does
                # not see do not exist for it
                try:
                    meeting = units.target_meeting(s, user, kwargs, row.unit_id)
                except units.NotVisible as exc:
                    what = OBJECT_NAMES.get(exc.args[0] if exc.args else "", "对象")
                    raise ApiError(404, "not_found", f"{what}不存在") from None
                allowed = permission in units.permissions(s, user, meeting)
                g.api_unit_id, g.api_user_id = row.unit_id, user.id
            if not allowed:
                raise ApiError(403, "forbidden", "该令牌的用户无权执行此操作")
            g.api_actor = Actor(f"{user.username} (API)", user.role, row.unit_id)
            return view(*args, **kwargs)

        return wrapped

    return deco


MAX_NUMBER_DIGITS = 30  # every number the API takes fits in far fewer


class _NumberTooLong(Exception):
    pass


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise _NumberTooLong  # said in words; past 4,300 digits Python itself raises a bare ValueError
    return int(text)


def _json_or_none():
    """The request body if it is declared JSON (else None). What cannot be read is a 400 that says
    why — never a 500: nesting deeper than the parser's recursion limit, a number of thousands of
    digits, bytes that are not UTF-8."""
    if not request.is_json:
        return None
    try:
        return json.loads(request.get_data(cache=True), parse_int=_bounded_int)
    except RecursionError:
        raise ApiError(400, "invalid_json", "请求体的 JSON 嵌套层数过多") from None
    except _NumberTooLong:
        raise ApiError(400, "invalid_json", f"请求体中的数字过长（最多 {MAX_NUMBER_DIGITS} 位）") from None
    except UnicodeDecodeError:
        raise ApiError(400, "invalid_json", "请求体须为 UTF-8 编码的 JSON") from None
    except ValueError:
        raise ApiError(400, "invalid_json", "请求体不是有效的 JSON") from None


def body() -> dict:
    data = _json_or_none()
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "请求体须为 JSON 对象（Content-Type: application/json）")
    return data


class _InvalidField(Refused):
    status, code = 400, "invalid_field"


def _int(value, field: str, low: int, high: int) -> int:
    """A JSON integer (never a string of digits) within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _InvalidField(f"{field} 须为 {low} 到 {high} 之间的整数")
    return numbers.parse_int(value, f"{field} ", low, high, error=_InvalidField)


def _get(s, model, ident, what: str):
    obj = s.get(model, ident)
    if obj is None:
        raise ApiError(404, "not_found", f"{what}不存在")
    return obj


def meeting_json(m: Meeting) -> dict:
    return {
        "id": m.id,
        "title": m.title,
        "date": m.date,
        "location": m.location,
        "same_surname": strokes.SINGLE_GIVEN_FIRST if m.single_given_first else strokes.CHAR_BY_CHAR,
        "groups": [{"id": g.id, "name": g.name, "expected": g.expected, "present": g.present} for g in m.groups],
        "items": [{"id": i.id, "title": i.title, "kind": i.kind, "status": i.status} for i in m.items],
    }


@bp.get("/openapi.json")
def openapi():
    return jsonify(spec())


@bp.post("/meetings")
@require("prepare")
def create_meeting():
    data = body()
    try:
        with db().write() as s:
            if g.api_unit_id not in units.visible_unit_ids(s, s.get(User, g.api_user_id)):
                raise ApiError(403, "forbidden", "该令牌的单位不在其用户可见的单位之内")
            m = meetingfile.load_data(s, g.api_actor, data, g.api_unit_id)
            result = meeting_json(m)
    except OperationError as exc:
        raise ApiError(422, "invalid_meeting", str(exc)) from None
    return jsonify(result), 201


@bp.get("/meetings/<id:meeting_id>")
@require("observe")
def get_meeting(meeting_id: int):
    with db().read() as s:
        return jsonify(meeting_json(_get(s, Meeting, meeting_id, "会议")))


@bp.post("/groups/<id:group_id>/codes")
@require("prepare")
def issue_codes(group_id: int):
    count = _int(body().get("count"), "count", 1, credentials.MAX_BATCH)
    with db().write() as s:
        group = _get(s, VoterGroup, group_id, "表决组")
        codes, batch = credentials.issue_codes_batch(s, settings().derived_key("credential"), group, count, g.api_actor)
    base, _warnings = voting_base_url(settings(), request.host_url)
    # Returned once: the server keeps only their hashes.
    return jsonify({"batch_id": batch, "codes": codes, "urls": [f"{base}/V/{c}".upper() for c in codes]}), 201


@bp.post("/groups/<id:group_id>/present")
@require("conduct")
def group_present(group_id: int):
    present = body().get("present")
    if present is not None:
        present = _int(present, "present", 0, 100_000)
    with db().write() as s:
        group = _get(s, VoterGroup, group_id, "表决组")
        set_present(s, g.api_actor, group, "" if present is None else present)
        result = {"id": group.id, "name": group.name, "expected": group.expected, "present": group.present}
    return jsonify(result)


def _item_json(s, item: Item) -> dict:
    return {"id": item.id, "title": item.title, "kind": item.kind, "status": item.status}


def _transition(item_id: int, operation):
    """Open or close an item (or, for kinds voted at separate sittings, one group of it: JSON body
    {"group_id": …}): 404 for an unknown item, 409 with the reason when refused."""
    try:
        data = _json_or_none() if request.get_data() else {}
    except ApiError as exc:  # this body is optional, and its faults are documented as 422
        raise ApiError(422, "invalid_body", exc.message) from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid_body", '请求内容须为 JSON 对象，如 {"group_id": 3}，或不带内容')
    raw = data.get("group_id")
    if raw is not None and (not isinstance(raw, int) or isinstance(raw, bool) or not 0 < raw <= MAX_ID):
        raise ApiError(422, "invalid_group", "group_id 须为表决组编号（整数）")
    with db().write() as s:
        _get(s, Item, item_id, "议题")
        result = _item_json(s, operation(s, g.api_actor, item_id, raw))
    return jsonify(result)


@bp.post("/items/<id:item_id>/open")
@require("conduct")
def open_(item_id: int):
    return _transition(item_id, open_item)


@bp.post("/items/<id:item_id>/close")
@require("conduct")
def close(item_id: int):
    response = _transition(item_id, close_item)
    if not (compaction := compact_pending(db())):  # sealed, but its storage traces not yet purged: say why
        return jsonify({**response.get_json(), "compaction_postponed": compaction.message})
    return response


@bp.get("/items/<id:item_id>/turnout")
@require("observe")
def turnout(item_id: int):
    with db().read() as s:
        item = _get(s, Item, item_id, "议题")
        counts = item_counts(s, item)
        return jsonify(
            {
                "item_id": item.id,
                "status": item.status,
                "expected": counts.expected,
                "present": counts.present,
                "issued": counts.issued,
                "cast": cast_count(s, item.id),
            }
        )


@bp.get("/items/<id:item_id>/result")
@require("observe")
def result(item_id: int):
    with db().read() as s:
        item = _get(s, Item, item_id, "议题")
        if not result_available(item) or (item.status == ItemStatus.WITHDRAWN and item.closed_at is None):
            raise ApiError(409, "not_closed", "表决尚未结束，结束后才有结果")
        return jsonify({"item_id": item.id, "title": item.title, "result": item_result(s, item)})


@bp.post("/ballots")
def cast():
    """Cast with a one-time code (no token: the code is the credential). Nothing of the choices is
    read until the code is known to be usable, unspent and its item open; a retry with the same
    Idempotency-Key after a lost response gets the first answer again."""
    data = body()
    client = client_address()
    codes = limiter("code")
    attempt = codes.attempt(client)  # counted before the code is checked, forgiven if it works
    if attempt is None:
        raise ApiError(429, "too_many_attempts", "票码输入错误次数过多，请稍后再试")
    item_id = _int(data.get("item_id"), "item_id", 1, MAX_ID)
    key = _idempotency_key()
    code = data.get("code")
    with db().read() as s:
        cred = credentials.find_usable(s, settings().derived_key("credential"), code if isinstance(code, str) else None)
        item = item_view(s, item_id) if cred is not None else None
        eligible = item is not None and item.meeting_id == cred.meeting_id and cred.group_id in item.group_ids
        if eligible:
            is_open = item.status == ItemStatus.OPEN and group_state(s, item_id, cred.group_id) == GroupState.OPEN
            spent = has_spent(s, cred.id, item_id)
    if not eligible:  # one message for every code that cannot be used here (the attempt stays counted)
        raise ApiError(403, "code_unusable", "该票码无法用于这个议题")
    codes.forgive(attempt)
    form = _choices_form(data.get("choices"))
    idempotency = _idempotency(cred.id, item_id, key, form) if key else None
    if spent:
        return _earlier_answer(idempotency, item_id)
    if not is_open:
        raise ApiError(409, "item_not_open", "该议题当前不在表决中")
    try:
        choices = get_kind(item.kind).parse_cast(item.config, form)
    except CastError as exc:
        raise ApiError(422, "invalid_ballot", str(exc)) from None
    receipt = new_receipt()
    try:
        with db().write() as s:
            cast_ballot(s, cred.id, item_id, choices, receipt, idempotency)
    except NotOpen:
        raise ApiError(409, "item_not_open", "该议题当前不在表决中") from None
    except AlreadyCast:
        return _earlier_answer(idempotency, item_id)  # a concurrent retry with the same key may have won
    except NotEligible:
        raise ApiError(403, "code_unusable", "该票码无法用于这个议题") from None
    return _cast_response(item_id, receipt)


def _cast_response(item_id: int, receipt: str, replayed: bool = False):
    response = jsonify({"item_id": item_id, "receipt": receipt})
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 201


def _choices_form(raw) -> dict[str, list[str]]:
    """The shape of `choices` (an object of strings or lists of strings); the kind reads them."""
    if not isinstance(raw, dict) or not all(isinstance(k, str) for k in raw):
        raise ApiError(400, "invalid_field", 'choices 须为对象，如 {"n0": "yes"}')
    form = {k: [v] if isinstance(v, str) else v for k, v in raw.items()}
    if not all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in form.values()):
        raise ApiError(400, "invalid_field", "choices 的值须为字符串")
    return form


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not 0 < len(key) <= MAX_IDEMPOTENCY_KEY or not key.isascii() or not key.isprintable():
        raise ApiError(
            400,
            "invalid_idempotency_key",
            f"Idempotency-Key 须为 1 到 {MAX_IDEMPOTENCY_KEY} 个可见 ASCII 字符（建议每次投票用一个新的 UUID）",
        )
    return key


def _idempotency(credential_id: str, item_id: int, key: str, form: dict) -> Idempotency:
    """The same request is the same item and choices (the code is already in the record's key)."""
    request_bytes = json.dumps({"item_id": item_id, "choices": form}, sort_keys=True, ensure_ascii=False).encode()
    return Idempotency.derive(settings().derived_key("idempotency"), credential_id, item_id, key, request_bytes)


def _earlier_answer(idempotency: Idempotency | None, item_id: int):
    """The code is spent for this item: the first answer again if this is a retry with its key
    (while the item is open), else 409 already_cast."""
    if idempotency is not None:
        try:
            with db().read() as s:
                receipt = earlier_receipt(s, idempotency)
        except IdempotencyMismatch:
            raise ApiError(
                422, "idempotency_key_reused", "该 Idempotency-Key 已用于内容不同的投票请求：重试时请求内容须与首次完全相同"
            ) from None
        if receipt is not None:
            return _cast_response(item_id, receipt, replayed=True)
    raise ApiError(409, "already_cast", "本票码已投过本议题")
