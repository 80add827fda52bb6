"""Paper ballots into the count: 发出 per group, double entry by batches, the 监票人's settling.

A batch is one stack of sheets of one item and group. Two 计票人 each type the whole stack on
their own device (one line per sheet, paper.py); the second entry is compared with the first,
sheet by sheet, on the canonical lines. When they agree the sheets become ballots (channel
"paper", no receipt) in the same table as the phones' ballots, counted by the same kind code.
When they differ, every differing sheet waits for the 监票人, who looks at the paper and picks
one entry, types the line as read, or finds there is no such sheet. When the two entries do not
even have the same number of sheets, a row-by-row comparison means nothing (one skipped sheet
shifts the rest of the stack), so the 监票人 can only send the batch back: both entries are
discarded and two 计票人 enter it again. The 监票人 who settles must not be one of its 计票人.
The item's result stays unfinalised until the 监票人 declares the paper count complete.

Anonymity: the entries keep the sheets in stack order only while the batch waits. Once its sheets
are counted as ballots (stored in a random order), each entry's lines are replaced by a digest
and a count, and neither the batch's settled record nor the audit log (which the signed archive
carries) holds a reading: only sheet numbers, which choice was taken, and the digests. The digest
is SHA-256 over a random salt and the entry's lines; the salt is discarded at once, so the digest
cannot be recomputed by trying the few possible readings of a small stack (which would give the
stack back in order), yet it still shows whether the two entries were the same and ties the audit
record to the stored entry.
"""

from __future__ import annotations

import hashlib
import json
import random
import secrets
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ballot.clock import utcnow
from ballot.counting import numbers
from ballot.counting.errors import OperationError
from ballot.counting.kinds import INVALID_REASONS, get_kind
from ballot.counting.numbers import valid_id
from ballot.meetings.setup import changed
from ballot.meetings.users import may
from ballot.paper import paper
from ballot.storage import audit
from ballot.storage.models import (
    Ballot,
    BatchStatus,
    GroupState,
    Item,
    ItemGroup,
    ItemStatus,
    PaperBatch,
    PaperEntry,
    VoterGroup,
)
from ballot.voting.casting import lock_item, locked
from ballot.voting.codes import new_id

MAX_SHEETS = 2000  # one stack; a hall's paper is entered in many batches
MAX_ISSUED = 100000
# the 监票人's choice for one differing sheet (how it is recorded in the audit log)
CHOICES = {"1": "1", "2": "2", "typed": "typed", "drop": "dropped"}
_rng = random.SystemRandom()


@dataclass(frozen=True)
class Difference:
    index: int  # 0-based sheet number in the stack
    first: str  # the canonical line of entry 1 (both entries have the same number of sheets)
    second: str
    first_meaning: str
    second_meaning: str


def _item_group(session: Session, item: Item, group_id) -> ItemGroup:
    group_id = valid_id(group_id)
    if group_id is None:
        raise OperationError("请选择参加本议题的表决组")
    row = session.get(ItemGroup, (item.id, group_id))
    if row is None:
        raise OperationError("该表决组不参加本议题")
    return row


def _paper_open(item: Item) -> None:
    if item.status in (ItemStatus.DRAFT, ItemStatus.WITHDRAWN):
        raise OperationError("议题尚未开始表决（或已撤回），不能录入纸质票")
    if item.paper_done:
        raise OperationError("本议题的纸质票已确认录入完毕，不能再更改")


def set_paper_issued(
    session: Session, actor: audit.Actor, item_id: int, group_id, value, granted: frozenset[str] | None = None
) -> None:
    """发出 on paper for one group: the number of sheets printed and handed out. Registered by the
    clerk while the group votes; once the item or the group's sitting is closed, the sheets
    handed out are known and a change could hide an overrun, so only a 监票人 may correct it,
    recorded with the old and the new number. `granted`: the actor's permissions in this meeting
    (a meeting may name its own 监票人); by default those of the account's role."""
    item = lock_item(session, valid_id(item_id) or 0, exclusive=True)
    if item is None or item.status == ItemStatus.WITHDRAWN:
        raise OperationError("议题不存在或已撤回")
    if item.paper_done:
        raise OperationError("本议题的纸质票已确认录入完毕，发出数不能再改")
    number = numbers.parse_int("" if value is None else value, "纸质票发出数", 0, MAX_ISSUED, error=OperationError)
    row = _item_group(session, item, group_id)
    group = session.get(VoterGroup, row.group_id)
    closed = item.status == ItemStatus.CLOSED or row.state == GroupState.CLOSED
    if granted is None:
        granted = frozenset(p for p in ("settle_paper", "prepare") if may(actor.role, p))
    if closed and "settle_paper" not in granted:
        raise OperationError("表决已结束，纸质票发出数只能由监票人更正（更正记入操作记录）")
    if not closed and "prepare" not in granted:
        raise OperationError("表决结束前，纸质票发出数由会务人员登记")
    old = row.paper_issued
    row.paper_issued = number
    if closed:
        audit.record(
            session,
            actor,
            "paper.issued_corrected",
            item.meeting_id,
            item=item.id,
            group=group.name,
            old=old,
            new=number,
        )
    else:
        audit.record(session, actor, "paper.issued", item.meeting_id, item=item.id, group=group.name, issued=number)
    changed(item.meeting)


def new_batch(session: Session, actor: audit.Actor, item_id: int, group_id) -> PaperBatch:
    item = lock_item(session, valid_id(item_id) or 0, exclusive=True)
    if item is None:
        raise OperationError("议题不存在")
    _paper_open(item)
    row = _item_group(session, item, group_id)
    if not row.paper_issued:
        raise OperationError("请先登记该表决组的纸质票发出数")
    group_id = row.group_id
    number = (
        session.execute(
            select(func.max(PaperBatch.number)).where(PaperBatch.item_id == item.id, PaperBatch.group_id == group_id)
        ).scalar_one()
        or 0
    ) + 1
    batch = PaperBatch(item_id=item.id, group_id=group_id, number=number, status=BatchStatus.ENTERING, created_at=utcnow())
    session.add(batch)
    session.flush()
    audit.record(session, actor, "paper.batch", item.meeting_id, item=item.id, group=group_id, batch=number)
    return batch


def delete_empty_batch(session: Session, actor: audit.Actor, batch_id: int) -> int:
    """A batch created by mistake, before anyone entered it, can go (it would block 录入完毕)."""
    batch = _batch(session, batch_id)
    if batch is None:
        raise OperationError("这一叠票不存在")
    item = lock_item(session, batch.item_id, exclusive=True)
    _paper_open(item)
    if _entries(session, batch.id):
        raise OperationError("这一叠已有录入，不能删除；请完成第二次录入，差异由监票人核定")
    audit.record(session, actor, "paper.batch_deleted", item.meeting_id, item=item.id, batch=batch.number)
    session.delete(batch)
    return item.id


def _batch(session: Session, batch_id) -> PaperBatch | None:
    batch_id = valid_id(batch_id)
    if batch_id is None:
        return None
    return locked(session, select(PaperBatch).where(PaperBatch.id == batch_id)).scalar_one_or_none()


def parse_lines(kind: str, config: dict, text: str) -> list[paper.Sheet]:
    """Every line of an entry, or one PaperError listing the lines that cannot be sheets."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines:
        raise paper.PaperError("没有录入任何票")
    if len(lines) > MAX_SHEETS:
        raise paper.PaperError(f"一叠最多 {MAX_SHEETS} 张，请分叠录入")
    sheets, errors = [], []
    for n, line in enumerate(lines, start=1):
        try:
            sheets.append(paper.parse(kind, config, line))
        except paper.PaperError as exc:
            errors.append(f"第 {n} 张（{line.strip()[:40]}）：{exc}")
    if errors:
        raise paper.PaperError("；".join(errors[:8]) + ("……" if len(errors) > 8 else ""))
    return sheets


def submit_entry(session: Session, actor: audit.Actor, batch_id: int, text: str) -> PaperBatch:
    """One 计票人's entry of a batch. The second entry is compared with the first at once."""
    batch = _batch(session, batch_id)
    if batch is None:
        raise OperationError("这一叠票不存在")
    item = lock_item(session, batch.item_id, exclusive=True)
    _paper_open(item)
    if batch.status != BatchStatus.ENTERING:
        raise OperationError("这一叠票已录入两次，不能再录入")
    entries = _entries(session, batch.id)
    if any(e.teller == actor.username for e in entries):
        raise OperationError("同一叠票须由两名不同的计票人各录入一次，您已录入过这一叠")
    try:
        sheets = parse_lines(item.kind, item.config, text)
    except paper.PaperError as exc:
        raise OperationError(str(exc)) from None
    entry_no = len(entries) + 1
    session.add(
        PaperEntry(
            batch_id=batch.id,
            entry_no=entry_no,
            teller=actor.username,
            lines_json=json.dumps([s.line for s in sheets], ensure_ascii=False),
            submitted_at=utcnow(),
        )
    )
    audit.record(
        session,
        actor,
        "paper.entry",
        item.meeting_id,
        item=item.id,
        batch=batch.number,
        entry=entry_no,
        sheets=len(sheets),
    )
    if entry_no == 2:
        first = _lines(entries[0])
        if first == [s.line for s in sheets]:
            session.flush()
            _count(session, item, batch, sheets)
        else:
            batch.status = BatchStatus.MISMATCH
    changed(item.meeting)
    return batch


def _entries(session: Session, batch_id: int) -> list[PaperEntry]:
    return list(
        session.execute(
            select(PaperEntry).where(PaperEntry.batch_id == batch_id).order_by(PaperEntry.entry_no)
        ).scalars()
    )


def _lines(entry: PaperEntry) -> list[str]:
    """The lines of an entry of a batch not yet counted (a counted one keeps only a digest)."""
    stored = json.loads(entry.lines_json)
    if not isinstance(stored, list):
        raise OperationError("这一叠已计入，录入内容只保留摘要")
    return stored


def tellers(session: Session, batch: PaperBatch) -> list[str]:
    return [e.teller for e in _entries(session, batch.id)]


def entry_sizes(session: Session, batch: PaperBatch) -> tuple[int, int] | None:
    """How many sheets each of the two entries has (None before the second entry)."""
    entries = _entries(session, batch.id)
    if len(entries) < 2:
        return None
    sizes = []
    for entry in entries[:2]:
        stored = json.loads(entry.lines_json)
        sizes.append(len(stored) if isinstance(stored, list) else stored["sheets"])
    return sizes[0], sizes[1]


def differences(session: Session, batch: PaperBatch) -> list[Difference]:
    """The sheets on which the two entries differ, with what each line means. Only when both
    entries have the same number of sheets: otherwise sheet N of one is not sheet N of the other
    (see entry_sizes), and the batch can only be sent back."""
    if batch.status != BatchStatus.MISMATCH:
        return []
    item = session.get(Item, batch.item_id)
    config = item.config
    entries = _entries(session, batch.id)
    if len(entries) < 2:
        return []
    first, second = (_lines(e) for e in entries[:2])
    if len(first) != len(second):
        return []
    return [
        Difference(index, a, b, meaning(item.kind, config, a), meaning(item.kind, config, b))
        for index, (a, b) in enumerate(zip(first, second, strict=True))
        if a != b
    ]


def meaning(kind: str, config: dict, line: str | None) -> str:
    """A line in words, for the 监票人 comparing two entries with the paper in hand."""
    sheet = paper.parse(kind, config, line)
    if not sheet.valid:
        return f"无效票：{INVALID_REASONS[sheet.reason]}"
    return get_kind(kind).sheet_words(config, line)


def _waiting_batch(session: Session, actor: audit.Actor, batch_id) -> tuple[PaperBatch, Item, list[PaperEntry]]:
    """A batch whose two entries differ, for a 监票人 who did not enter it."""
    batch = _batch(session, batch_id)
    if batch is None or batch.status != BatchStatus.MISMATCH:
        raise OperationError("这一叠票没有待核对的差异")
    item = lock_item(session, batch.item_id, exclusive=True)
    _paper_open(item)
    entries = _entries(session, batch.id)
    if len(entries) != 2:
        raise OperationError("这一叠票没有待核对的差异")
    if any(e.teller == actor.username for e in entries):
        raise OperationError("您录入过这一叠票，不能由您核对；请由没有录入这一叠的监票人核对")
    return batch, item, entries


def settle(
    session: Session,
    actor: audit.Actor,
    batch_id: int,
    choices: dict[int, str],
    typed: dict[int, str] | None = None,
) -> PaperBatch:
    """The 监票人 settles every differing sheet. choices[index] is "1" or "2" (that entry's line),
    "drop" (there is no such sheet) or "typed": then typed[index] is the line as read from the
    paper, always parsed as a sheet line (a typed "1" is the mark 1, never "entry 1").
    The batch is then counted. Both entries must have the same number of sheets."""
    batch, item, entries = _waiting_batch(session, actor, batch_id)
    config = item.config
    first, second = (_lines(e) for e in entries)
    if len(first) != len(second):
        raise OperationError(
            f"两次录入张数不同（第一次 {len(first)} 张，第二次 {len(second)} 张），不能逐张核对，请退回重新录入"
        )
    typed = typed or {}
    diffs = {d.index: d for d in differences(session, batch)}
    extra = sorted(i for i in choices if i not in diffs)
    if extra:
        raise OperationError(f"第 {'、'.join(str(i + 1) for i in extra[:10])} 张两次录入一致，无需核定")
    missing = sorted(set(diffs) - set(choices))
    if missing:
        raise OperationError(f"还有 {len(missing)} 张票未核定（第 {'、'.join(str(i + 1) for i in missing[:10])} 张）")
    lines, record = [], []
    for index, line in enumerate(first):
        if index not in diffs:
            lines.append(line)
            continue
        choice = (choices[index] or "").strip()
        if choice not in CHOICES:
            raise OperationError(f"第 {index + 1} 张：请选择采用第一次、采用第二次、按纸票录入或无此票")
        if choice == "1":
            lines.append(diffs[index].first)
        elif choice == "2":
            lines.append(diffs[index].second)
        elif choice == "typed":
            text = (typed.get(index) or "").strip()
            if not text:
                raise OperationError(f"第 {index + 1} 张：选择了按纸票录入，但没有输入内容")
            try:
                lines.append(paper.parse(item.kind, config, text).line)
            except paper.PaperError as exc:
                raise OperationError(f"第 {index + 1} 张（按纸票录入）：{exc}") from None
        record.append({"sheet": index + 1, "choice": CHOICES[choice]})
    if not lines:
        raise OperationError("核定后这一叠没有票；如确无纸票，请退回重新录入")
    sheets = [paper.parse(item.kind, config, line) for line in lines]
    digests = _count(session, item, batch, sheets)
    batch.settled_json = json.dumps({"sheets": record, "entries": digests}, ensure_ascii=False)
    audit.record(
        session,
        actor,
        "paper.settle",
        item.meeting_id,
        item=item.id,
        batch=batch.number,
        sheets=record,
        counted=len(sheets),
        entry1_sha256=digests[0],
        entry2_sha256=digests[1],
    )
    changed(item.meeting)
    return batch


def send_back(session: Session, actor: audit.Actor, batch_id: int) -> PaperBatch:
    """The 监票人 discards both entries of a batch that cannot be settled sheet by sheet (they do
    not even have the same number of sheets); two 计票人 then enter the stack again."""
    batch, item, entries = _waiting_batch(session, actor, batch_id)
    sizes = [len(_lines(e)) for e in entries]
    for entry in entries:
        session.delete(entry)
    batch.status = BatchStatus.ENTERING
    session.flush()
    audit.record(
        session,
        actor,
        "paper.sent_back",
        item.meeting_id,
        item=item.id,
        batch=batch.number,
        entry1_sheets=sizes[0],
        entry2_sheets=sizes[1],
    )
    changed(item.meeting)
    return batch


def _digest(salt: bytes, lines: list[str]) -> str:
    body = json.dumps(lines, ensure_ascii=False, separators=(",", ":")).encode()
    return hashlib.sha256(salt + body).hexdigest()


def _count(session: Session, item: Item, batch: PaperBatch, sheets: list[paper.Sheet]) -> list[str]:
    """The agreed sheets become ballots, stored in a random order (a stack's order says nothing,
    but the table's order should not even look as if it did). The entries then keep only a
    digest and a count of their lines, not the readings in stack order; returns the digests."""
    rows = list(sheets)
    _rng.shuffle(rows)
    for sheet in rows:
        session.add(
            Ballot(
                id=new_id(),
                item_id=item.id,
                group_id=batch.group_id,
                valid=sheet.valid,
                choices_json=json.dumps(sheet.choices if sheet.valid else {"sheet": sheet.line}, ensure_ascii=False),
                receipt=None,
                channel="paper",
                invalid_reason=sheet.reason,
            )
        )
    salt = secrets.token_bytes(32)  # never stored: see the module's note on anonymity
    digests = []
    for entry in _entries(session, batch.id):
        lines = _lines(entry)
        digest = _digest(salt, lines)
        entry.lines_json = json.dumps({"sha256": digest, "sheets": len(lines)})
        digests.append(digest)
    batch.status = BatchStatus.COUNTED
    batch.counted_at = utcnow()
    session.flush()
    return digests


def finish(session: Session, actor: audit.Actor, item_id: int) -> None:
    """The 监票人 declares every paper ballot entered: the result can be finalised."""
    item = lock_item(session, item_id, exclusive=True)
    if item is None:
        raise OperationError("议题不存在")
    _paper_open(item)
    if item.status != ItemStatus.CLOSED:
        raise OperationError("议题结束表决后才能确认纸质票录入完毕")
    waiting = list(
        session.execute(
            select(PaperBatch.number).where(PaperBatch.item_id == item.id, PaperBatch.status != BatchStatus.COUNTED)
        ).scalars()
    )
    if waiting:
        raise OperationError(f"还有 {len(waiting)} 叠票未完成两次录入或核对（第 {'、'.join(map(str, waiting))} 叠）")
    paper_count = session.execute(
        select(func.count()).select_from(Ballot).where(Ballot.item_id == item.id, Ballot.channel == "paper")
    ).scalar_one()
    item.paper_done = True
    item.compacted = False  # compact storage again: the entries' overwritten readings must not linger
    audit.record(session, actor, "paper.done", item.meeting_id, item=item.id, paper_ballots=paper_count)
    changed(item.meeting)


def reconciliation(session: Session, item: Item) -> list[dict]:
    """Per voting group with paper: sheets handed out (发出) and sheets entered back (收回)."""
    returned = dict(
        session.execute(
            select(Ballot.group_id, func.count())
            .where(Ballot.item_id == item.id, Ballot.channel == "paper")
            .group_by(Ballot.group_id)
        ).all()
    )
    rows = []
    for row in item.voting_groups:
        if row.paper_issued is None and not returned.get(row.group_id):
            continue
        issued, back = row.paper_issued or 0, returned.get(row.group_id, 0)
        group = session.get(VoterGroup, row.group_id)
        rows.append({"group": group.name, "issued": issued, "returned": back, "balanced": back <= issued})
    return rows


def batches(session: Session, item_id: int) -> list[PaperBatch]:
    return list(
        session.execute(
            select(PaperBatch).where(PaperBatch.item_id == item_id).order_by(PaperBatch.group_id, PaperBatch.number)
        ).scalars()
    )


def entry_count(session: Session, batch_id: int) -> int:
    return session.execute(
        select(func.count()).select_from(PaperEntry).where(PaperEntry.batch_id == batch_id)
    ).scalar_one()
