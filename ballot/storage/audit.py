"""Append-only, hash-chained audit log of clerk and chair actions.

Each entry's hash covers the previous entry's hash and its own canonical content, so removing
or editing an entry breaks the chain; the database also refuses UPDATE and DELETE on the table.
Voters' casts are never logged here (they are not clerk or chair actions, and a time would
link them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ballot.archive.chain import GENESIS
from ballot.archive.chain import entry_hash as _entry_hash
from ballot.clock import utcnow

from .models import AuditEntry, Meeting


@dataclass(frozen=True)
class Actor:
    username: str
    role: str
    unit_id: int | None = None  # the acting account's unit (its API token's, for a token)


SYSTEM = Actor("system", "admin")


def record(
    session: Session, actor: Actor, action: str, meeting_id: int | None = None, *, in_unit: int | None = None, **detail
) -> AuditEntry:
    """Append one entry inside the caller's transaction. Its unit: `in_unit` if given, else the
    meeting's, else the actor's."""
    unit_id = in_unit
    if unit_id is None and meeting_id is not None:
        unit_id = session.execute(select(Meeting.unit_id).where(Meeting.id == meeting_id)).scalar_one_or_none()
    if unit_id is None:
        unit_id = actor.unit_id
    if session.bind.dialect.name == "postgresql":
        # Serialise appends so two transactions never chain onto the same predecessor.
        session.execute(text("SELECT pg_advisory_xact_lock(7461)"))
    last = session.execute(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).scalar_one_or_none()
    seq = last.seq + 1 if last else 1
    prev = last.hash if last else GENESIS
    at = utcnow()
    detail_json = json.dumps(detail, ensure_ascii=False, sort_keys=True, default=str)
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor=actor.username,
        role=actor.role,
        action=action,
        meeting_id=meeting_id,
        detail_json=detail_json,
        prev_hash=prev,
        hash=_entry_hash(
            prev, seq, at.isoformat(), actor.username, actor.role, action, meeting_id, detail_json, unit_id
        ),
        unit_id=unit_id,
    )
    session.add(entry)
    session.flush()
    return entry


def verify_chain(entries: list[AuditEntry]) -> tuple[bool, str]:
    """Check a whole log (in seq order); returns (ok, message)."""
    prev = GENESIS
    for expected_seq, e in enumerate(entries, start=1):
        if e.seq != expected_seq:
            return False, f"第 {expected_seq} 条记录缺失"
        if e.prev_hash != prev:
            return False, f"第 {e.seq} 条记录的前序哈希不符"
        h = _entry_hash(
            prev, e.seq, e.at.isoformat(), e.actor, e.role, e.action, e.meeting_id, e.detail_json, e.unit_id
        )
        if h != e.hash:
            return False, f"第 {e.seq} 条记录内容被改动"
        prev = e.hash
    return True, f"共 {len(entries)} 条记录，哈希链完整"


def _entry_ok(e: AuditEntry) -> bool:
    return e.hash == _entry_hash(
        e.prev_hash, e.seq, e.at.isoformat(), e.actor, e.role, e.action, e.meeting_id, e.detail_json, e.unit_id
    )


def verify_meeting(session: Session, meeting_id: int) -> tuple[bool, str]:
    """Check a meeting's part of the log at a cost that follows the meeting, not the years of
    history: each of its entries hashes to what it says, links to the entry before it and is
    linked from the entry after it (so none of them was edited, removed or slipped in), and the
    log has no gap (its count equals its last number). The whole chain is checked by verify_chain
    (the signed archive, `ballot` CLI). Says nothing of other meetings' entries, not even how many."""
    own = entries(session, meeting_id)
    neighbours = {e.seq - 1 for e in own} | {e.seq + 1 for e in own}
    by_seq = {
        e.seq: e
        for e in session.execute(select(AuditEntry).where(AuditEntry.seq.in_(neighbours - {0}))).scalars()
    }
    count, last = session.execute(select(func.count(), func.coalesce(func.max(AuditEntry.seq), 0))).one()
    for e in own:
        before, after = by_seq.get(e.seq - 1), by_seq.get(e.seq + 1)
        if not _entry_ok(e):
            return False, f"第 {e.seq} 条记录内容被改动"
        if e.prev_hash != (before.hash if before is not None else GENESIS) or (e.seq > 1 and before is None):
            return False, f"第 {e.seq} 条记录的前序哈希不符"
        if (after is not None and after.prev_hash != e.hash) or (after is None and e.seq != last):
            return False, f"第 {e.seq} 条之后的记录缺失或被改动"
    if count != last:
        return False, "操作记录有缺失（编号不连续）"
    return True, f"本会议共 {len(own)} 条记录，哈希链完整"


def entries(session: Session, meeting_id: int | None = None) -> list[AuditEntry]:
    stmt = select(AuditEntry).order_by(AuditEntry.seq)
    if meeting_id is not None:
        stmt = stmt.where(AuditEntry.meeting_id == meeting_id)
    return list(session.execute(stmt).scalars())


def export_line(e: AuditEntry) -> dict:
    """One entry as the archive's audit.log writes it: every field exactly as it was hashed
    (`detail_json` is the hashed text; `detail` repeats it parsed, for reading)."""
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "actor": e.actor,
        "role": e.role,
        "action": e.action,
        "meeting_id": e.meeting_id,
        "unit_id": e.unit_id,
        "detail_json": e.detail_json,
        "detail": json.loads(e.detail_json),
        "prev_hash": e.prev_hash,
        "hash": e.hash,
    }
