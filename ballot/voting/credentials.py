"""Issue and look up one-time codes. Codes exist in clear only in the issuing call's memory."""

from __future__ import annotations

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ballot.clock import utcnow
from ballot.counting.errors import Refused
from ballot.storage import audit
from ballot.storage.models import Credential, IssueBatch, Item, ItemGroup, ItemStatus, VoterGroup

from .codes import code_hash, new_code, new_id, normalize_code
from .sealing import spent_credentials

MAX_BATCH = 5000


class IssueError(Refused, ValueError):
    """Codes cannot be issued or voided as asked; the message is Chinese, for the clerk."""


def issue_codes(session: Session, code_key: bytes, group: VoterGroup, count: int, actor: audit.Actor) -> list[str]:
    return issue_codes_batch(session, code_key, group, count, actor)[0]


def issue_codes_batch(
    session: Session, code_key: bytes, group: VoterGroup, count: int, actor: audit.Actor
) -> tuple[list[str], int]:
    """Issue `count` codes as one batch; returns the codes (in clear, this once) and the batch id."""
    if not 1 <= count <= MAX_BATCH:
        raise IssueError(f"每次签发数量须在 1 到 {MAX_BATCH} 之间")
    batch = IssueBatch(
        meeting_id=group.meeting_id,
        group_id=group.id,
        count=count,
        created_at=utcnow(),
        created_by=actor.username,
    )
    session.add(batch)
    session.flush()
    codes = []
    for _ in range(count):
        code = new_code()
        codes.append(code)
        session.add(
            Credential(
                id=new_id(),
                code_hash=code_hash(code_key, normalize_code(code)),
                meeting_id=group.meeting_id,
                group_id=group.id,
                batch_id=batch.id,
                voided=False,
            )
        )
    session.flush()
    # Voters may now hold codes for these items: freeze what decides their count.
    session.execute(
        update(Item)
        .where(Item.status == ItemStatus.DRAFT, Item.id.in_(select(ItemGroup.item_id).where(ItemGroup.group_id == group.id)))
        .values(frozen=True)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, actor, "codes.issue", group.meeting_id, group=group.name, count=count, batch=batch.id)
    return codes, batch.id


def find_usable(session: Session, code_key: bytes, typed: str | None):
    """(id, meeting_id, group_id) of the credential for a typed code, or None for unknown,
    malformed or voided codes alike."""
    canonical = normalize_code(typed)
    if canonical is None:
        return None
    return session.execute(
        select(Credential.id, Credential.meeting_id, Credential.group_id).where(
            Credential.code_hash == code_hash(code_key, canonical), Credential.voided.is_(False)
        )
    ).first()


def void_code(session: Session, code_key: bytes, meeting_id: int, typed: str, actor: audit.Actor) -> None:
    """Void one code (lost or spare slip); the record stays, it simply stops working."""
    found = find_usable(session, code_key, typed)
    if found is None or found.meeting_id != meeting_id:
        raise IssueError("没有找到这个可用的票码（可能输错、已作废或不属于本会议）")
    session.get(Credential, found.id).voided = True
    audit.record(session, actor, "codes.void", meeting_id, group_id=found.group_id, count=1)


def void_batch(session: Session, meeting_id: int, batch_id: int, actor: audit.Actor) -> int:
    batch = session.get(IssueBatch, batch_id)
    if batch is None or batch.meeting_id != meeting_id:
        raise IssueError("没有这一批票码")
    result = session.execute(
        update(Credential)
        .where(Credential.batch_id == batch_id, Credential.voided.is_(False))
        .values(voided=True)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, actor, "codes.void_batch", meeting_id, batch=batch_id, count=result.rowcount)
    return result.rowcount


def void_unused(session: Session, group: VoterGroup, actor: audit.Actor) -> int:
    """When the door closes: every slip of the group that has not voted on anything stops working."""
    used = select(spent_credentials(group.meeting_id).c.credential_id)
    result = session.execute(
        update(Credential)
        .where(Credential.group_id == group.id, Credential.voided.is_(False), Credential.id.not_in(used))
        .values(voided=True)
        .execution_options(synchronize_session=False)
    )
    audit.record(session, actor, "codes.void_unused", group.meeting_id, group=group.name, count=result.rowcount)
    return result.rowcount


def reconciliation(session: Session, group_id: int) -> dict:
    """Slip reconciliation of a group: issued (the issue records: how many codes each batch made)
    against the credentials table, each row counted once as used (voted on at least one item, even
    if voided later), voided (not used) or unused (neither). `balanced` is issued = used + unused +
    voided; a credential row removed, added or moved to another group makes it False."""
    issued = session.execute(
        select(func.coalesce(func.sum(IssueBatch.count), 0)).where(IssueBatch.group_id == group_id)
    ).scalar_one()
    meeting_id = session.execute(select(VoterGroup.meeting_id).where(VoterGroup.id == group_id)).scalar_one()
    used_ids = select(spent_credentials(meeting_id).c.credential_id).distinct()
    base = select(func.count()).select_from(Credential).where(Credential.group_id == group_id)
    used = session.execute(base.where(Credential.id.in_(used_ids))).scalar_one()
    voided = session.execute(base.where(Credential.voided.is_(True), Credential.id.not_in(used_ids))).scalar_one()
    unused = session.execute(base.where(Credential.voided.is_(False), Credential.id.not_in(used_ids))).scalar_one()
    issued = int(issued)
    return {
        "issued": issued,
        "used": used,
        "voided": voided,
        "unused": unused,
        "balanced": issued == used + unused + voided,
    }


def issued_count(session: Session, group_ids: list[int]) -> int:
    if not group_ids:
        return 0
    return session.execute(
        select(func.count())
        .select_from(Credential)
        .where(Credential.group_id.in_(group_ids), Credential.voided.is_(False))
    ).scalar_one()


def groups_with_codes(session: Session, meeting_id: int) -> set[int]:
    return set(session.execute(select(IssueBatch.group_id).where(IssueBatch.meeting_id == meeting_id)).scalars())
