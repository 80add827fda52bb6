"""The projector screen of a meeting: its key, what it shows, and the state it shows.

The screen URL carries its own unguessable key (only an HMAC of it is stored), so the projector
laptop needs no login; a new key revokes the old one. While an item is open the screen shows
turnout only (已投 / 应到 per group and in total); a closed item's result appears only when the
chair reveals it. Nothing here links a ballot to anyone: the screen reads counts and results.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit
from .clock import utcnow
from .kinds import get_kind
from .meetings import (
    OperationError,
    changed,
    item_config,
    item_counts,
    item_result,
    result_available,
    series_ranking,
)
from .models import Ballot, Item, LiveTally, Meeting

KEY_BYTES = 18


def _digest(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def new_key(session: Session, actor: audit.Actor, meeting: Meeting, secret: bytes) -> str:
    """A fresh screen key (shown once); the previous one stops working."""
    key = secrets.token_urlsafe(KEY_BYTES)
    meeting.screen_key_hash = _digest(secret, key)
    changed(meeting)
    audit.record(session, actor, "screen.key", meeting.id)
    return key


def revoke_key(session: Session, actor: audit.Actor, meeting: Meeting) -> None:
    meeting.screen_key_hash = None
    changed(meeting)
    audit.record(session, actor, "screen.revoke", meeting.id)


def meeting_for_key(session: Session, key: str, secret: bytes) -> Meeting | None:
    if not key or len(key) > 64:
        return None
    return session.execute(select(Meeting).where(Meeting.screen_key_hash == _digest(secret, key))).scalar_one_or_none()


def shown_item(session: Session, meeting: Meeting) -> Item | None:
    """The item the chair put on the screen, else the one being voted on."""
    if meeting.screen_item_id:
        item = session.get(Item, meeting.screen_item_id)
        if item is not None and item.meeting_id == meeting.id and item.status != "withdrawn":
            return item
    return next((i for i in meeting.items if i.status == "open"), None)


def show(session: Session, actor: audit.Actor, meeting: Meeting, item_id: int | None, reveal: bool) -> None:
    """The chair's choice: which item the screen shows, and whether its result is revealed."""
    item = session.get(Item, item_id) if item_id else None
    if item_id and (item is None or item.meeting_id != meeting.id):
        raise OperationError("议题不存在")
    if reveal and (item is None or not result_available(item)):
        raise OperationError("表决结束后才能在大屏上公布结果")
    meeting.screen_item_id = item.id if item else None
    meeting.screen_reveal = bool(reveal)
    changed(meeting)
    audit.record(session, actor, "screen.show", meeting.id, item=meeting.screen_item_id, reveal=meeting.screen_reveal)


def publish_live(session: Session, item: Item, now: datetime | None = None) -> LiveTally | None:
    """Publish a live count of an open item that allows one, if a batch is due: at least `batch`
    ballots since the last published count, and at least `min_seconds` since it. Never on a timer
    alone (a quiet moment would show a single ballot), never from fewer than `batch` ballots.
    Concurrent publishers (workers, servers) race on the sequence number; one wins."""
    last = _due_batch(session, item, now or utcnow())
    if last is False:
        return None
    shown = last.ballots if last else 0
    result = item_result_live(session, item)
    if result["counts"]["cast"] - shown < item_config(item)["live"]["batch"]:
        return None  # the new ballots are in groups still below k
    entry = LiveTally(
        item_id=item.id,
        seq=(last.seq + 1) if last else 1,
        ballots=result["counts"]["cast"],
        result_json=json.dumps(result, ensure_ascii=False),
        published_at=now or utcnow(),
    )
    session.add(entry)
    session.flush()
    return entry


def _due_batch(session: Session, item: Item, now: datetime):
    """False if no batch is due; else the last published batch (None if there is none yet)."""
    live = item_config(item).get("live")
    if item.status != "open" or not live:
        return False
    last = latest_live(session, item)
    cast = session.execute(select(func.count()).select_from(Ballot).where(Ballot.item_id == item.id)).scalar_one()
    if cast - (last.ballots if last else 0) < live["batch"]:
        return False
    if last is not None and (now - last.published_at).total_seconds() < live["min_seconds"]:
        return False
    return last


def due_live_items(session: Session, meeting_id: int, now: datetime | None = None) -> list[int]:
    """Open items of the meeting whose next live batch is due (read-only: the caller publishes)."""
    items = session.execute(select(Item).where(Item.meeting_id == meeting_id, Item.status == "open")).scalars()
    return [item.id for item in items if _due_batch(session, item, now or utcnow()) is not False]


def item_result_live(session: Session, item: Item) -> dict:
    """The tally of an open item's ballots so far (only ever published in batches). A voting
    group with fewer than k ballots so far is left out, so no cell comes from fewer than k."""
    from .meetings import ballots_of

    k = item_config(item)["live"]["batch"]
    ballots = ballots_of(session, item.id)
    sizes: dict[int, int] = {}
    for b in ballots:
        sizes[b.group_id] = sizes.get(b.group_id, 0) + 1
    ballots = [b for b in ballots if sizes[b.group_id] >= k]
    return get_kind(item.kind).tally(item_config(item), ballots, item_counts(session, item))


def latest_live(session: Session, item: Item) -> LiveTally | None:
    return session.execute(
        select(LiveTally).where(LiveTally.item_id == item.id).order_by(LiveTally.seq.desc()).limit(1)
    ).scalar_one_or_none()


def signature(session: Session, meeting_id: int) -> tuple | None:
    """A cheap fingerprint of what the screen shows: it changes with every state change and cast."""
    row = session.execute(select(Meeting.state_version, Meeting.screen_item_id).where(Meeting.id == meeting_id)).first()
    if row is None:
        return None
    open_items = select(Item.id).where(Item.meeting_id == meeting_id, Item.status == "open")
    cast = session.execute(select(func.count()).select_from(Ballot).where(Ballot.item_id.in_(open_items))).scalar_one()
    batches = session.execute(
        select(func.count()).select_from(LiveTally).where(LiveTally.item_id.in_(open_items))
    ).scalar_one()
    return (row.state_version, cast, batches)


def event_id(sig: tuple) -> str:
    return ".".join(str(part) for part in sig)


def state(session: Session, meeting: Meeting, now: datetime | None = None, key_label: str | None = None) -> dict:
    """Everything the screen draws, as plain data (`key_label`: the signing key's id and
    fingerprint, shown so scrutineers can compare it with the one they noted)."""
    item = shown_item(session, meeting)
    data = {"meeting": meeting.title, "date": meeting.date, "item": None, "key": key_label}
    if item is None:
        return data
    counts = item_counts(session, item)
    by_group = dict(
        session.execute(
            select(Ballot.group_id, func.count()).where(Ballot.item_id == item.id).group_by(Ballot.group_id)
        ).all()
    )
    groups = [
        {
            "name": g.name,
            "cast": by_group.get(g.id, 0),
            "expected": g.expected,
            "present": g.present,
            "state": next((ig.state for ig in item.voting_groups if ig.group_id == g.id), "waiting"),
        }
        for g in meeting.groups
        if any(ig.group_id == g.id for ig in item.voting_groups)
    ]
    cast = sum(g["cast"] for g in groups)
    opened = item.opened_at
    data["item"] = {
        "id": item.id,
        "title": item.title,
        "kind": item.kind,
        "status": item.status,
        "groups": groups,
        "cast": cast,
        "expected": counts.expected,
        "present": counts.present,
        "percent": min(100, round(100 * cast / counts.expected)) if counts.expected else 0,
        "opened_at": opened.isoformat() + "Z" if opened else None,
        "elapsed_seconds": int(((now or utcnow()) - opened).total_seconds())
        if opened and item.status == "open"
        else None,
        "revealed": bool(meeting.screen_reveal and result_available(item)),
        "config": item_config(item),
    }
    live = item_config(item).get("live")
    if item.status == "open" and live:
        published = latest_live(session, item)
        data["item"]["live_batch"] = live["batch"]
        if published is not None and published.ballots >= live["batch"]:
            data["item"]["live"] = json.loads(published.result_json)
    if data["item"]["revealed"]:
        data["item"]["result"] = item_result(session, item)
        data["item"]["series"] = series_ranking(session, item)
    return data
