"""Flask application factory. Web code is thin: it calls the domain modules and renders."""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta

from flask import Flask, abort, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from ballot.counting.errors import CONTROL, MAX_ID
from ballot.storage.db import Database, storage_failure
from ballot.voting.ratelimit import FailureLimiter

from ..assets import asset_dir
from ..config import Settings, load_settings
from .sessions import EncryptedCookieSessionInterface

csrf = CSRFProtect()
log = logging.getLogger("ballot")

KIOSK_TYPO_FACTOR = 3  # a kiosk may fail this many times as often as one phone before it waits


ERROR_TEXT = {
    400: ("请求无效", "提交的内容不完整或格式不正确。请返回上一页重新填写。"),
    403: ("无权访问", "您没有执行此操作的权限。"),
    404: ("页面不存在", "请检查网址，或返回首页。"),
    405: ("操作方式不正确", "请从页面上的按钮进入，不要直接输入网址。"),
    413: ("提交的内容过大", "请减少填写的内容后重试，本次没有保存任何内容。"),
    429: ("尝试过于频繁", "请稍等几分钟再试。"),
    500: ("服务器出现问题", "本次操作没有完成，也没有保存任何内容。请稍后重试，或联系会务人员。"),
    503: ("暂时无法保存", "服务器的数据存储暂时出现故障（如磁盘已满），本次操作没有完成，也没有保存任何内容；票码仍然有效。请稍后重试，或联系会务人员。"),
}


class IdConverter(IntegerConverter):
    """Database ids: a number too large for the column is simply not found (404), never a 500."""

    def __init__(self, map, *args, **kwargs):
        super().__init__(map, max=MAX_ID)


API_CODES = {
    400: "bad_request",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "too_many_attempts",
    500: "server_error",
    503: "storage_unavailable",
}


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(
        "ballot",
        template_folder=asset_dir("templates"),
        static_folder=asset_dir("static"),
        instance_path=str(settings.instance_path),
    )
    app.config.update(
        SECRET_KEY=settings.derived_key("flask-session").hex(),
        SESSION_COOKIE_NAME="ballot_session",
        SESSION_COOKIE_HTTPONLY=True,
        # Lax, not Strict: a QR scan is a cross-site navigation whose redirect must keep the cookie.
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.voter_session_minutes),
        MAX_CONTENT_LENGTH=64 * 1024,
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        MAX_FORM_PARTS=400,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        # We send no Referer (Referrer-Policy: no-referrer), so the HTTPS Referer check would refuse
        # every form; the token itself is still checked.
        WTF_CSRF_SSL_STRICT=False,
        TESTING=settings.testing,
    )
    if settings.trusted_proxies:
        app.wsgi_app = ProxyFix(
            app.wsgi_app,
            x_for=settings.trusted_proxies,
            x_proto=settings.trusted_proxies,
            x_host=settings.trusted_proxies,
        )
    app.url_map.converters["id"] = IdConverter
    app.session_interface = EncryptedCookieSessionInterface()
    app.extensions["ballot.settings"] = settings
    app.extensions["ballot.db"] = database or Database(settings.database_url)
    # failed attempts live in the database: one allowance for every worker and app server
    limiter_key = settings.derived_key("ratelimit-client")
    app.extensions["ballot.code_limiter"] = FailureLimiter(
        "code",
        settings.code_failures_per_client,
        settings.code_failures_global,
        settings.code_failure_window_seconds,
        app.extensions["ballot.db"],
        limiter_key,
    )
    # a shared kiosk at the door takes every voter's typing from one device: a queue's typos must
    # not lock it as fast as one phone's guesses would (the kiosk is watched by staff)
    app.extensions["ballot.kiosk_code_limiter"] = FailureLimiter(
        "kiosk_code",
        settings.code_failures_per_client * KIOSK_TYPO_FACTOR,
        settings.code_failures_global,
        settings.code_failure_window_seconds,
        app.extensions["ballot.db"],
        limiter_key,
    )
    app.extensions["ballot.login_limiter"] = FailureLimiter(
        "login",
        settings.login_failures_per_client,
        None,
        settings.login_failure_window_seconds,
        app.extensions["ballot.db"],
        limiter_key,
    )
    _notice_untrusted_forwarding(app, settings)

    @app.before_request
    def _larger_uploads():  # before CSRF reads the form: the /verify page takes whole archives
        if request.endpoint == "verify.verify":
            request.max_content_length = verifypage.MAX_UPLOAD + 64 * 1024
            request.max_form_memory_size = 1024 * 1024  # werkzeug buffers a part this large in one piece

    @app.before_request
    def _refuse_nameless_parts():  # before CSRF reads the form: every form key must be a string
        # werkzeug files a multipart part without a name under the key None, which CSRF and the
        # kinds' form readers would trip over (a 500); no form of ours sends one
        if request.method == "POST" and request.mimetype == "multipart/form-data":
            if None in request.form or None in request.files:
                abort(400)

    csrf.init_app(app)

    from ballot.web import screen, staff, verifypage
    from ballot.web.api import api
    from ballot.web.voter import vote

    screen.install(app, app.extensions["ballot.db"], settings)
    app.register_blueprint(vote.bp)
    app.register_blueprint(screen.bp)
    app.register_blueprint(verifypage.bp)
    app.register_blueprint(staff.bp)  # `admin`, with one blueprint per staff task inside
    csrf.exempt(api.bp)  # bearer tokens and codes, no cookies: CSRF does not apply
    app.register_blueprint(api.bp)
    _refuse_control_characters(app)
    _install_error_pages(app)
    _install_headers(app)
    _quiet_exception_log(app)
    return app


FORWARDED_WITHOUT_PROXY = "ballot.forwarded_without_proxy"


def _notice_untrusted_forwarding(app: Flask, settings: Settings) -> None:
    """Requests that carry X-Forwarded-For while no proxy is trusted come through a proxy we do
    not know of: every client then has the proxy's address and the whole hall shares one failure
    allowance (a few typos lock everyone out). Say so loudly in the log and on the staff pages."""
    app.extensions[FORWARDED_WITHOUT_PROXY] = False
    if settings.trusted_proxies:
        return

    @app.before_request
    def notice():
        if not app.extensions[FORWARDED_WITHOUT_PROXY] and "X-Forwarded-For" in request.headers:
            app.extensions[FORWARDED_WITHOUT_PROXY] = True
            log.warning(
                "requests carry X-Forwarded-For but BALLOT_TRUSTED_PROXIES is 0: every client has the "
                "proxy's address and shares one rate limit (a few typos lock out the whole hall). "
                "Set BALLOT_TRUSTED_PROXIES to the number of proxies in front of this server."
            )


def _install_error_pages(app: Flask) -> None:
    def page(code: int, message: str | None = None):
        title, text = ERROR_TEXT.get(code, ERROR_TEXT[500])
        if request.path.startswith("/api/"):
            from ballot.web.api.api import error_response

            return error_response(code, API_CODES.get(code, "error"), message or f"{title}：{text}")
        page_html = render_template(
            "message.html", title=title, message=message or text, back=url_for("vote.start"), back_label="返回首页"
        )
        return page_html, code

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return page(exc.code or 500)

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        return page(400, "页面已过期或会话已失效（可能停留太久）。本次没有保存任何内容，请返回重新操作。")

    @app.errorhandler(Exception)
    def server_error(exc: Exception):
        _log_unhandled(exc)
        # the database refused (full disk, outage): nothing was stored, and the voter may retry
        return page(503 if isinstance(exc, (DBAPIError, sqlite3.Error)) else 500)




def _refuse_control_characters(app: Flask) -> None:
    """NUL and other control characters never belong in a form; PostgreSQL would refuse them."""

    @app.before_request
    def check():
        values = list(request.args.values()) + (list(request.form.values()) if request.method == "POST" else [])
        if any(CONTROL.search(v) for v in values):
            abort(400)


def _install_headers(app: Flask) -> None:
    @app.after_request
    def headers(resp):
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "no-referrer")
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        )
        if request.endpoint and not request.endpoint.startswith("static"):
            resp.headers.setdefault("Cache-Control", "no-store")  # a view may allow caching (fonts)
        return resp


def _quiet_exception_log(app: Flask) -> None:
    """Flask's default exception log prints the URL, and a slip URL carries a code."""

    def log_exception(exc_info):
        _log_unhandled(exc_info[1])

    app.log_exception = log_exception


def _log_unhandled(exc: BaseException) -> None:
    """One line, no traceback, no URL: the class, and for a storage error its reason (SQLite's
    error name or PostgreSQL's SQLSTATE) so a full disk is told apart from an outage or a bug."""
    if isinstance(exc, (DBAPIError, sqlite3.Error, OSError)):
        log.error("unhandled error in %s: %s", request.endpoint, storage_failure(exc))
    else:
        log.error("unhandled error in %s: %s", request.endpoint, type(exc).__name__)
