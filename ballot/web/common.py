"""Small helpers shared by the blueprints."""

from __future__ import annotations

from flask import current_app, render_template, request

from ballot.storage.db import Database
from ballot.voting.ratelimit import FailureLimiter

from ..config import Settings


def db() -> Database:
    return current_app.extensions["ballot.db"]


def settings() -> Settings:
    return current_app.extensions["ballot.settings"]


def limiter(name: str) -> FailureLimiter:
    return current_app.extensions[f"ballot.{name}_limiter"]


def client_address() -> str:
    """The peer address; X-Forwarded-For is honoured only via ProxyFix when configured."""
    return request.remote_addr or "unknown"


def message_page(title: str, message: str, status: int = 400, back: str | None = None, back_label: str = "返回"):
    page = render_template(
        "message.html", title=title, message=message, back=back, back_label=back_label, ok=status < 300
    )
    return page, status


def form_lists() -> dict[str, list[str]]:
    return {key: request.form.getlist(key) for key in request.form.keys()}
