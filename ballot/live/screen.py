"""The projector screen of a meeting: its key, what it shows, and the state it shows.

The screen URL carries its own unguessable key (only an HMAC of it is stored), so the projector
laptop needs no login; a new key revokes the old one. While an item is open the screen shows
turnout only (已投 / 应到 per group and in total); a closed item's result appears only when the
chair reveals it. Nothing here links a ballot to anyone: the screen reads counts and results.
Live per-candidate numbers, where an item allows them, come only from published batches: a count
is held unpublished until k more ballots are in after it (see publish_live).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ballot.clock import utcnow
from ballot.counting.errors import OperationError
from ballot.counting.kinds import get_kind
from ballot.meetings.results import ballots_of, item_result, result_available, series_ranking
from ballot.meetings.setup import changed, item_group_ids
from ballot.meetings.sittings import item_counts
from ballot.storage import audit
from ballot.storage.models import GroupState, Item, ItemStatus, LiveTally, Meeting
from ballot.voting.casting import lock_item
from ballot.voting.sealing import item_ballots, open_items_ballot_count

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
        if item is not None and item.meeting_id == meeting.id and item.status != ItemStatus.WITHDRAWN:
            return item
    return next((i for i in meeting.items if i.status == ItemStatus.OPEN), None)


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
    """Publish the held count of an open item that allows live numbers, once it is safe; returns
    the batch that became public, if one did.

    A count is taken (and held, unpublished) when a batch is due, and published only when the
    next one is taken: at least k ballots later and `min_seconds` after it. So every two public
    states – the batches and the final result, however early the chair closes – differ by no
    ballots or by at least k, in total and, for kinds whose figures are per group, in every
    group (see `_step_allowed`). The turnout tick tells a watcher which ballots each batch holds;
    a difference of k or more ballots still gives none of them away. Concurrent publishers race
    on the sequence number; one wins."""
    now = now or utcnow()
    live = item.config.get("live")
    if item.status != ItemStatus.OPEN or not live:
        return None
    held, per_group = held_live(session, item), get_kind(item.kind).per_group
    if not _due(held, _ballots_by_group(session, item), live, per_group, now):
        return None  # the cheap check first: most calls end here
    if lock_item(session, item.id) is None or item.status != ItemStatus.OPEN:  # a close waits for us, or won
        return None
    # the figures and their numbers per group from one read of the ballots: a ballot committed
    # in between must not be in the figures without being in what the next step is measured from
    ballots = ballots_of(session, item.id)
    by_group = {str(gid): 0 for gid in item_group_ids(item)}
    for ballot in ballots:
        by_group[str(ballot.group_id)] = by_group.get(str(ballot.group_id), 0) + 1
    if not _due(held, by_group, live, per_group, now):
        return None
    result = get_kind(item.kind).tally(item.config, ballots, item_counts(session, item))
    entry = LiveTally(
        item_id=item.id,
        seq=(held.seq + 1) if held else 1,
        ballots=len(ballots),
        result_json=json.dumps({"by_group": by_group, "tally": result}, ensure_ascii=False),
        published_at=now,  # when the count was taken (and the one before it was published)
    )
    session.add(entry)
    session.flush()
    return held


def _due(held: LiveTally | None, by_group: dict[str, int], live: dict, per_group: bool, now: datetime) -> bool:
    """May a count of `by_group` ballots be taken now, publishing the held one (if any)?"""
    if held is None:
        return _step_allowed({}, by_group, live["batch"], per_group)
    before = json.loads(held.result_json).get("by_group")
    if before is None:  # a count stored before counts were held: its groups are unknown
        return False
    if (now - held.published_at).total_seconds() < live["min_seconds"]:
        return False
    return _step_allowed(before, by_group, live["batch"], per_group)


def _step_allowed(before: dict[str, int], after: dict[str, int], k: int, per_group: bool) -> bool:
    """May a state counted from `after` ballots (per group) follow one counted from `before`?
    At least k new ballots in total; and where figures are shown per group, in every group
    either at least k new ones or none at all – a group with none so far stays without figures,
    and one whose figures are shown has them change only by k ballots or more. (A group that
    stops voting with fewer than k new ballots holds the live numbers where they are: the final
    result is then still k or more away from the last batch.)"""
    if sum(after.values()) - sum(before.values()) < k:
        return False
    if not per_group:
        return True  # pooled figures: no state shows a group's ballots apart
    for group, n in after.items():
        new = n - before.get(group, 0)
        if new < k and not (new == 0 and before.get(group, 0) == 0):
            return False
    return True


def _ballots_by_group(session: Session, item: Item) -> dict[str, int]:
    """Ballots so far per voting group (keys are group ids as text: the form stored in JSON)."""
    ballots = item_ballots(session, item.id, item.status)
    rows = session.execute(select(ballots.c.group_id, func.count()).group_by(ballots.c.group_id)).all()
    counts = {str(gid): 0 for gid in item_group_ids(item)}
    counts.update({str(gid): n for gid, n in rows})
    return counts


def due_live_items(session: Session, meeting_id: int, now: datetime | None = None) -> list[int]:
    """Open items of the meeting whose next live count is due (read-only: the caller publishes)."""
    items = session.execute(select(Item).where(Item.meeting_id == meeting_id, Item.status == ItemStatus.OPEN)).scalars()
    due = []
    for item in items:
        live = item.config.get("live")
        if live and _due(
            held_live(session, item), _ballots_by_group(session, item), live, get_kind(item.kind).per_group,
            now or utcnow(),
        ):
            due.append(item.id)
    return due


def _latest_two(session: Session, item: Item) -> list[LiveTally]:
    return list(
        session.execute(
            select(LiveTally).where(LiveTally.item_id == item.id).order_by(LiveTally.seq.desc()).limit(2)
        ).scalars()
    )


def held_live(session: Session, item: Item) -> LiveTally | None:
    """The latest count: taken, but never shown until the next one is taken."""
    rows = _latest_two(session, item)
    return rows[0] if rows else None


def published_live(session: Session, item: Item) -> dict | None:
    """The live result screens show: the count before the held one (None if there is none)."""
    rows = _latest_two(session, item)
    if len(rows) < 2:
        return None
    stored = json.loads(rows[1].result_json)
    return stored["tally"] if "by_group" in stored else stored


def signature(session: Session, meeting_id: int) -> tuple | None:
    """A cheap fingerprint of what the screen shows: it changes with every state change and cast."""
    row = session.execute(select(Meeting.state_version, Meeting.screen_item_id).where(Meeting.id == meeting_id)).first()
    if row is None:
        return None
    open_items = select(Item.id).where(Item.meeting_id == meeting_id, Item.status == ItemStatus.OPEN)
    cast = open_items_ballot_count(session, open_items)
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
    # the unit's name heads the screen once the instance serves several units (projectors of
    # different units' halls must not be mistaken for each other)
    from ballot.meetings.units import several, unit_name

    unit = unit_name(session, meeting.unit_id) if several(session) else None
    data = {"meeting": meeting.title, "date": meeting.date, "item": None, "key": key_label, "unit": unit}
    if item is None:
        return data
    counts = item_counts(session, item)
    ballots = item_ballots(session, item.id, item.status)
    by_group = dict(session.execute(select(ballots.c.group_id, func.count()).group_by(ballots.c.group_id)).all())
    groups = [
        {
            "name": g.name,
            "cast": by_group.get(g.id, 0),
            "expected": g.expected,
            "present": g.present,
            "state": next((ig.state for ig in item.voting_groups if ig.group_id == g.id), GroupState.WAITING),
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
        if opened and item.status == ItemStatus.OPEN
        else None,
        "revealed": bool(meeting.screen_reveal and result_available(item)),
        "config": item.config,
    }
    live = item.config.get("live")
    if item.status == ItemStatus.OPEN and live:
        data["item"]["live_batch"] = live["batch"]
        published = published_live(session, item)  # never the held count
        if published is not None:
            data["item"]["live"] = published
    if data["item"]["revealed"]:
        data["item"]["result"] = item_result(session, item)
        data["item"]["series"] = series_ranking(session, item)
    return data
