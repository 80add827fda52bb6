"""Helpers that vote the way a phone does: plain form posts through the Flask test client."""

from __future__ import annotations

import re

from conftest import csrf_of

RECEIPT_RE = re.compile(r'id="receipt">([0-9A-Z-]+)<')


def enter(client, code: str):
    return client.get(f"/v/{code}")


def review(client, item_id: int, choices: dict):
    page = client.get(f"/ballot/{item_id}")
    assert page.status_code == 200, page.get_data(as_text=True)
    posted = client.post(
        f"/ballot/{item_id}/review", data={**choices, "csrf_token": csrf_of(page.get_data(as_text=True))}
    )
    if posted.status_code != 303:
        return posted
    return client.get(posted.headers["Location"])


def confirm(client, item_id: int, review_page, choices: dict | None = None):
    """Press 确认提交 on the review page (the choices wait in the session, not in the form)."""
    token = csrf_of(review_page.get_data(as_text=True))
    return client.post(f"/ballot/{item_id}/cast", data={"csrf_token": token})


def vote(client, item_id: int, choices: dict) -> str:
    """Cast and return the receipt code shown."""
    reviewed = review(client, item_id, choices)
    assert reviewed.status_code == 200, reviewed.get_data(as_text=True)
    cast = confirm(client, item_id, reviewed, choices)
    assert cast.status_code == 303, cast.get_data(as_text=True)
    return receipt_of(client.get(cast.headers["Location"]))


def receipt_of(response) -> str:
    match = RECEIPT_RE.search(response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)
    return match.group(1)


def stored_ballots(session) -> list:
    """Every stored ballot row, wherever it is: the live store (open items) and the sealed one."""
    from sqlalchemy import select

    from ballot.storage.models import Ballot, LiveBallot

    return [row for model in (LiveBallot, Ballot) for row in session.execute(select(model)).scalars()]
