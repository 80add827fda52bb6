"""The sitting: attendance (实到), the counts shown while voting, opening and closing an item.

Closing seals the item's ballots in the same transaction (voting/sealing.py); the caller
compacts the live store after commit. Kinds voted at separate sittings open and close per group.
"""

from __future__ import annotations

import json

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ballot.clock import utcnow
from ballot.counting.errors import OperationError
from ballot.counting.kinds import Counts, get_kind
from ballot.storage import audit
from ballot.storage.models import GroupState, Item, ItemGroup, ItemStatus, LiveTally, VoterGroup
from ballot.voting.casting import lock_item, locked
from ballot.voting.credentials import issued_count
from ballot.voting.sealing import item_ballots, seal_item

from .setup import STATUS_LABELS, changed, item_group_ids, live_problems, parse_count


def set_present(session: Session, actor: audit.Actor, group: VoterGroup, present) -> None:
    """实到人数, entered by the chair; not while an item of this group is being voted on."""
    value = None if str(present).strip() == "" else parse_count(present, "实到人数", 0, group.expected)
    locked(session, select(VoterGroup).where(VoterGroup.id == group.id))  # waits for an opening item
    busy = session.execute(
        select(Item.title)
        .join(ItemGroup, ItemGroup.item_id == Item.id)
        .where(ItemGroup.group_id == group.id, Item.status == ItemStatus.OPEN)
    ).first()
    if busy:
        raise OperationError(f"议题“{busy[0]}”正在表决，结束后才能修改实到人数")
    before = group.present
    group.present = value
    changed(group.meeting)
    audit.record(session, actor, "attendance.set", group.meeting_id, group=group.name, before=before, after=value)


def _voting_groups(item: Item) -> tuple[tuple[int, str], ...]:
    ids = set(item_group_ids(item))
    return tuple((g.id, g.name) for g in item.meeting.groups if g.id in ids)


def _group_present(item: Item) -> tuple[tuple[int, int], ...]:
    """实到 of each voting group where the chair has entered it."""
    ids = set(item_group_ids(item))
    return tuple((g.id, g.present) for g in item.meeting.groups if g.id in ids and g.present is not None)


def _closed_groups(item: Item) -> frozenset[int]:
    if item.status == ItemStatus.CLOSED:
        return frozenset(i for i, _ in _voting_groups(item))
    return frozenset(ig.group_id for ig in item.voting_groups if ig.state == GroupState.CLOSED)


def live_counts(session: Session, item: Item) -> Counts:
    ids = item_group_ids(item)
    groups = [g for g in item.meeting.groups if g.id in ids]
    present = None if any(g.present is None for g in groups) else sum(g.present for g in groups)
    return Counts(
        expected=sum(g.expected for g in groups),
        present=present,
        issued=issued_count(session, ids),
        groups=_voting_groups(item),
        closed_groups=_closed_groups(item),
        group_present=_group_present(item),
        **_paper_counts(item),
    )


def _paper_counts(item: Item) -> dict:
    """发出 on paper (the sheets handed out, per group, summed) and whether entry is still going on."""
    issued = {row.group_id: row.paper_issued for row in item.voting_groups if row.paper_issued is not None}
    if not issued:
        return {}
    return {
        "paper_issued": sum(issued.values()),
        "paper_pending": not item.paper_done,
        "group_paper_issued": tuple(sorted(issued.items())),
    }


def item_counts(session: Session, item: Item) -> Counts:
    if item.closed_counts_json:  # the numbers as they stood at close
        stored = json.loads(item.closed_counts_json)
        return Counts(
            expected=stored["expected"],
            present=stored["present"],
            issued=stored["issued"],
            groups=_voting_groups(item),
            closed_groups=_closed_groups(item),
            # items closed before per-group 实到 was kept at close are not checked per group: their
            # 实到 may have changed since, and a final result must not become unfinal
            group_present=tuple(tuple(p) for p in stored.get("group_present", ())),
            **_paper_counts(item),
        )
    return live_counts(session, item)


def cast_count(session: Session, item_id: int, group_id: int | None = None) -> int:
    ballots = item_ballots(session, item_id)
    stmt = select(func.count()).select_from(ballots)
    if group_id is not None:
        stmt = stmt.where(ballots.c.group_id == group_id)
    return session.execute(stmt).scalar_one()


def _group_rows(session: Session, item: Item) -> list[ItemGroup]:
    return list(
        locked(session, select(ItemGroup).where(ItemGroup.item_id == item.id).order_by(ItemGroup.group_id)).scalars()
    )


def _per_group_row(session: Session, item: Item, group_id: int) -> ItemGroup:
    if not get_kind(item.kind).per_group:
        raise OperationError("本议题的各表决组须同时开始、同时结束")
    row = next((r for r in _group_rows(session, item) if r.group_id == group_id), None)
    if row is None:
        raise OperationError("该表决组不参加本议题")
    return row


def _group_name(item: Item, group_id: int) -> str:
    return next((g.name for g in item.meeting.groups if g.id == group_id), str(group_id))


def open_item(session: Session, actor: audit.Actor, item_id: int, group_id: int | None = None) -> Item:
    """Open the item for every voting group, or (kinds voted at separate sittings) for one group."""
    item = lock_item(session, item_id, exclusive=True)
    if item is None:
        raise OperationError("议题不存在")
    if group_id is not None:
        row = _per_group_row(session, item, group_id)
        if item.status not in (ItemStatus.DRAFT, ItemStatus.OPEN):
            raise OperationError(f"议题状态为“{STATUS_LABELS[item.status]}”，不能开始表决")
        if row.state != GroupState.WAITING:
            raise OperationError(
                f"“{_group_name(item, group_id)}”已经{'在表决中' if row.state == 'open' else '结束表决'}"
            )
    elif item.status != ItemStatus.DRAFT:
        raise OperationError(f"议题状态为“{STATUS_LABELS[item.status]}”，不能开始表决")
    # 实到 must not change under us while we check the quorum.
    locked(session, select(VoterGroup).where(VoterGroup.id.in_(item_group_ids(item))), exclusive=False).all()
    counts = live_counts(session, item)
    if item.status == ItemStatus.DRAFT:
        problems = get_kind(item.kind).open_problems(item.config, counts)
        voting = [g for g in item.meeting.groups if g.id in set(item_group_ids(item))]
        problems += live_problems(get_kind(item.kind), item.config, voting)  # 应到 may have changed
        if problems:
            raise OperationError("；".join(problems))
        item.status = ItemStatus.OPEN
        item.frozen = True
        item.opened_at = utcnow()
    for row in _group_rows(session, item):
        if group_id is None or row.group_id == group_id:
            row.state = GroupState.OPEN
    changed(item.meeting)
    detail = {"group": _group_name(item, group_id)} if group_id is not None else {}
    audit.record(
        session,
        actor,
        "item.open",
        item.meeting_id,
        item=item.id,
        title=item.title,
        expected=counts.expected,
        present=counts.present,
        issued=counts.issued,
        **detail,
    )
    return item


def parse_witnesses(scrutineers: str = "", tellers: str = "") -> dict | None:
    """监票人 and 计票人 as the chair types them (separated by 、，, or spaces)."""

    def names(text: str) -> list[str]:
        for sep in ("，", ",", "、", ";", "；"):
            text = (text or "").replace(sep, " ")
        found = [n for n in text.split() if n]
        if any(len(n) > 50 or not n.isprintable() for n in found) or len(found) > 20:
            raise OperationError("监票人、计票人姓名格式无效")
        return found

    witnesses = {"scrutineers": names(scrutineers), "tellers": names(tellers)}
    return witnesses if witnesses["scrutineers"] or witnesses["tellers"] else None


def close_item(
    session: Session, actor: audit.Actor, item_id: int, group_id: int | None = None, witnesses: dict | None = None
) -> Item:
    """Close and seal in one transaction; the caller compacts storage after commit. With a group
    (kinds voted at separate sittings) only that group stops voting; the item closes and is sealed
    when its last group closes."""
    item = lock_item(session, item_id, exclusive=True)
    if item is None:
        raise OperationError("议题不存在")
    if item.status != ItemStatus.OPEN:
        raise OperationError("议题不在表决中，不能结束")
    changed(item.meeting)
    rows = _group_rows(session, item)
    if group_id is not None:
        row = _per_group_row(session, item, group_id)
        if row.state != GroupState.OPEN:
            raise OperationError(f"“{_group_name(item, group_id)}”不在表决中")
        row.state = GroupState.CLOSED
        audit.record(
            session,
            actor,
            "item.close_group",
            item.meeting_id,
            item=item.id,
            title=item.title,
            group=_group_name(item, group_id),
            cast=cast_count(session, item.id, group_id),
        )
        if any(r.state != GroupState.CLOSED for r in rows):
            return item
    for row in rows:
        row.state = GroupState.CLOSED
    counts = live_counts(session, item)
    session.execute(delete(LiveTally).where(LiveTally.item_id == item.id))  # batches shown while open
    cast = seal_item(session, item.id)  # sealed copy, shuffled; the live rows are purged after commit
    item.status = ItemStatus.CLOSED
    item.closed_at = utcnow()
    if witnesses:
        item.witnesses_json = json.dumps(witnesses, ensure_ascii=False)
    item.closed_counts_json = json.dumps(
        {
            "expected": counts.expected,
            "present": counts.present,
            "issued": counts.issued,
            "group_present": [list(p) for p in counts.group_present],
        }
    )
    audit.record(
        session,
        actor,
        "item.close",
        item.meeting_id,
        item=item.id,
        title=item.title,
        witnesses=witnesses,
        cast=cast,
        expected=counts.expected,
        present=counts.present,
        issued=counts.issued,
    )
    return item
