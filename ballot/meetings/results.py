"""Results of an item: its sealed ballots, the exact tally, the anonymous export, and the
write-in review the clerk sees before merging spellings.

Every result is a pure function of (configuration, ballots, counts), computed by the item's kind.
"""

from __future__ import annotations

import json
from fractions import Fraction

from sqlalchemy import select
from sqlalchemy.orm import Session

from ballot.counting.errors import OperationError
from ballot.counting.kinds import BallotData, get_kind
from ballot.storage.models import GroupState, Item, ItemStatus
from ballot.voting.sealing import item_ballots

from .sittings import item_counts


def ballots_of(session: Session, item_id: int) -> list[BallotData]:
    ballots = item_ballots(session, item_id)
    c = ballots.c
    rows = session.execute(select(c.group_id, c.valid, c.choices_json, c.channel, c.invalid_reason)).all()
    return [BallotData(g, v, json.loads(c), ch, r) for g, v, c, ch, r in rows]


def result_available(item: Item) -> bool:
    """Closed, or (groups voting at separate sittings) at least one group closed."""
    return item.status in (ItemStatus.CLOSED, ItemStatus.WITHDRAWN) or (
        item.status == ItemStatus.OPEN and any(ig.state == GroupState.CLOSED for ig in item.voting_groups)
    )


def item_result(session: Session, item: Item) -> dict:
    """The exact result, a pure function of (configuration, ballots, counts). While some groups
    still vote, only the ballots of the groups that have closed are counted."""
    counts = item_counts(session, item)
    ballots = ballots_of(session, item.id)
    if item.status == ItemStatus.OPEN:
        ballots = [b for b in ballots if b.group_id in counts.closed_groups]
    return get_kind(item.kind).tally(item.config, ballots, counts)


def write_in_review(session: Session, item: Item) -> dict | None:
    """民主推荐: every written-in spelling with its ballots, for the clerk who merges them (never
    published: a spelling carried by few ballots could be a marker). None for other kinds."""
    kind = get_kind(item.kind)
    if not kind.supports_write_in_review or not result_available(item):
        return None
    ballots = ballots_of(session, item.id)
    return kind.write_in_review(item.config, ballots, item_counts(session, item))


def _series(item: Item) -> str | None:
    """The series an item is ranked with, as its kind reads it (only 评委打分 has series)."""
    return get_kind(item.kind).series(item.config)


def series_ranking(session: Session, item: Item) -> list[dict] | None:
    """评委打分 shown candidate by candidate (当场亮分): the final scores of every closed item of
    the same series, ranked together (equal scores share a rank, in 姓氏笔画 order)."""
    from ballot.counting.kinds.common import fixed2, ranked

    series = _series(item)
    if not series:
        return None
    rows = []
    for other in item.meeting.items:
        if _series(other) == series and other.status == ItemStatus.CLOSED:
            for row in item_result(session, other)["rows"]:
                rows.append({"name": row["name"], "final": row["final"], "item": other.id})
    pending = sum(
        1 for o in item.meeting.items if _series(o) == series and o.status in (ItemStatus.DRAFT, ItemStatus.OPEN)
    )
    result = ranked(
        rows,
        lambda r: Fraction(r["final"]) if r["final"] else None,
        lambda r: r["name"],
        item.meeting.single_given_first,
    )
    for row in result:
        row["final_display"] = fixed2(Fraction(row["final"])) if row["final"] else "—"
    return [{"series": series, "rows": result, "pending": pending}]


def export_item(session: Session, item: Item) -> dict:
    """The anonymous ballot export of a closed item (see export.py)."""
    from ballot.counting.export import ballot_export

    if item.status != ItemStatus.CLOSED:
        raise OperationError("议题结束表决后才能导出选票")
    ballots, counts = ballots_of(session, item.id), item_counts(session, item)
    kind, config = get_kind(item.kind), item.config
    return ballot_export(item.title, item.kind, config, ballots, counts, kind.withheld_groups(config, ballots, counts))
