"""The projector screen: a read-only page behind its own key, updated by Server-Sent Events."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, jsonify, render_template, request, url_for

from ballot.documents import webfont
from ballot.live import screen
from ballot.meetings.setup import name_texts
from ballot.storage.models import Meeting

from .common import db, message_page, settings
from .screenhub import ScreenHub, TooBusy

bp = Blueprint("screen", __name__)
THEMES = ("light", "dark")


def hub() -> ScreenHub:
    return current_app.extensions["ballot.screen_hub"]


def install(app, database, settings) -> None:
    from ballot.archive import keyring

    def render(state: dict) -> str:
        with app.app_context():
            return render_template("screen/live.html", state=state)

    def current_key(session):  # from the database at each change: `ballot keys rotate` shows at once
        return keyring.current(session, settings.instance_path)

    app.extensions["ballot.screen_hub"] = ScreenHub(
        database, render, settings.screen_streams, current_key, settings.screen_streams_total
    )


def _meeting_id(key: str) -> int:
    with db().read() as s:
        meeting = screen.meeting_for_key(s, key, settings().derived_key("screen"))
        if meeting is None:
            abort(404)
        return meeting.id


@bp.get("/screen/<key>")
def page(key: str):
    with db().read() as s:
        meeting = screen.meeting_for_key(s, key, settings().derived_key("screen"))
        if meeting is None:
            return message_page("投屏链接无效", "该投屏链接不存在或已作废，请向会务人员索取新的链接。", 404)
        title = meeting.title
        meeting_id = meeting.id
        from ballot.meetings.units import several, unit_name

        if several(s):  # which unit's screen this is, in the tab title too
            title = f"{unit_name(s, meeting.unit_id)} · {title}"
    eid, html = hub().refresh(meeting_id)
    theme = request.args.get("theme") if request.args.get("theme") in THEMES else "light"
    return render_template("screen/page.html", title=title, key=key, live=html, event_id=eid, theme=theme)


@bp.get("/screen/<key>/events")
def events(key: str):
    meeting_id = _meeting_id(key)
    try:
        stream = hub().stream(meeting_id, request.headers.get("Last-Event-ID"))
    except TooBusy:  # the screen polls instead; votes keep their threads
        return jsonify({"error": {"code": "busy", "message": "投屏连接已满，改为定时刷新"}}), 503
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return Response(stream, mimetype="text/event-stream", headers=headers)


def font_response(chars: str):
    data = webfont.subset_woff2(chars)
    if data is None:
        abort(404)
    return Response(data, mimetype="font/woff2", headers={"Cache-Control": "public, max-age=86400, immutable"})


def names_css(font_url: str):
    return Response(webfont.stylesheet(font_url), mimetype="text/css", headers={"Cache-Control": "no-cache"})


def _meeting_chars(meeting_id: int) -> str:
    with db().read() as s:
        return webfont.characters(name_texts(s.get(Meeting, meeting_id)))


@bp.get("/screen/<key>/names.css")
def screen_names_css(key: str):
    chars = _meeting_chars(_meeting_id(key))
    return names_css(url_for("screen.screen_font", key=key, digest=webfont.digest(chars)))


@bp.get("/screen/<key>/names-<digest>.woff2")
def screen_font(key: str, digest: str):
    return font_response(_meeting_chars(_meeting_id(key)))


@bp.get("/screen/<key>/snapshot")
def snapshot(key: str):
    """Polling fallback: the same state the stream sends."""
    meeting_id = _meeting_id(key)
    hub().publish_due(meeting_id)
    eid, html = hub().refresh(meeting_id)
    return jsonify({"id": eid, "html": html})
