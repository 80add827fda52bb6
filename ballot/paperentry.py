"""Paper ballots into the count: 发出 per group, double entry by batches, the 监票人's settling.

A batch is one stack of sheets of one item and group. Two 计票人 each type the whole stack on
their own device (one line per sheet, paper.py); the second entry is compared with the first,
sheet by sheet, on the canonical lines. When they agree the sheets become ballots (channel
"paper", no receipt) in the same table as the phones' ballots, counted by the same kind code.
When they differ, every differing sheet waits for the 监票人, who looks at the paper and picks
one entry or types the line as read; each decision is recorded in the audit log. The item's
result stays unfinalised until the 监票人 declares the paper count complete.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit, paper
from .casting import lock_item, locked
from .clock import utcnow
from .codes import new_id
from .kinds import INVALID_REASONS
from .meetings import OperationError, changed, item_config
from .models import Ballot, Item, ItemGroup, PaperBatch, PaperEntry, VoterGroup

MAX_SHEETS = 2000  # one stack; a hall's paper is entered in many batches
_rng = random.SystemRandom()


@dataclass(frozen=True)
class Difference:
    index: int  # 0-based sheet number in the stack
    first: str | None  # the canonical line of entry 1 (None: that entry has no such sheet)
    second: str | None
    first_meaning: str
    second_meaning: str


def _item_group(session: Session, item: Item, group_id: int) -> ItemGroup:
    row = session.get(ItemGroup, (item.id, group_id))
    if row is None:
        raise OperationError("该表决组不参加本议题")
    return row


def _paper_open(item: Item) -> None:
    if item.status in ("draft", "withdrawn"):
        raise OperationError("议题尚未开始表决（或已撤回），不能录入纸质票")
    if item.paper_done:
        raise OperationError("本议题的纸质票已确认录入完毕，不能再更改")


def set_paper_issued(session: Session, actor: audit.Actor, item_id: int, group_id: int, value) -> None:
    """发出 on paper for one group: the number of sheets printed and handed out."""
    item = lock_item(session, item_id, exclusive=True)
    if item is None or item.status == "withdrawn":
        raise OperationError("议题不存在或已撤回")
    if item.paper_done:
        raise OperationError("本议题的纸质票已确认录入完毕，发出数不能再改")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise OperationError("纸质票发出数须为整数") from None
    if not 0 <= number <= 100000:
        raise OperationError("纸质票发出数须在 0 到 100000 之间")
    row = _item_group(session, item, group_id)
    row.paper_issued = number
    group = session.get(VoterGroup, group_id)
    audit.record(session, actor, "paper.issued", item.meeting_id, item=item.id, group=group.name, issued=number)
    changed(item.meeting)


def new_batch(session: Session, actor: audit.Actor, item_id: int, group_id: int) -> PaperBatch:
    item = lock_item(session, item_id, exclusive=True)
    if item is None:
        raise OperationError("议题不存在")
    _paper_open(item)
    row = _item_group(session, item, group_id)
    if not row.paper_issued:
        raise OperationError("请先登记该表决组的纸质票发出数")
    number = (
        session.execute(
            select(func.max(PaperBatch.number)).where(PaperBatch.item_id == item.id, PaperBatch.group_id == group_id)
        ).scalar_one()
        or 0
    ) + 1
    batch = PaperBatch(item_id=item.id, group_id=group_id, number=number, status="entering", created_at=utcnow())
    session.add(batch)
    session.flush()
    audit.record(session, actor, "paper.batch", item.meeting_id, item=item.id, group=group_id, batch=number)
    return batch


def delete_empty_batch(session: Session, actor: audit.Actor, batch_id: int) -> int:
    """A batch created by mistake, before anyone entered it, can go (it would block 录入完毕)."""
    batch = locked(session, select(PaperBatch).where(PaperBatch.id == batch_id)).scalar_one_or_none()
    if batch is None:
        raise OperationError("这一叠票不存在")
    item = lock_item(session, batch.item_id, exclusive=True)
    _paper_open(item)
    if _entries(session, batch.id):
        raise OperationError("这一叠已有录入，不能删除；请完成第二次录入，差异由监票人核定")
    audit.record(session, actor, "paper.batch_deleted", item.meeting_id, item=item.id, batch=batch.number)
    session.delete(batch)
    return item.id


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
    batch = locked(session, select(PaperBatch).where(PaperBatch.id == batch_id)).scalar_one_or_none()
    if batch is None:
        raise OperationError("这一叠票不存在")
    item = lock_item(session, batch.item_id, exclusive=True)
    _paper_open(item)
    if batch.status != "entering":
        raise OperationError("这一叠票已录入两次，不能再录入")
    entries = _entries(session, batch.id)
    if any(e.teller == actor.username for e in entries):
        raise OperationError("同一叠票须由两名不同的计票人各录入一次，您已录入过这一叠")
    try:
        sheets = parse_lines(item.kind, item_config(item), text)
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
        first = json.loads(entries[0].lines_json)
        if first == [s.line for s in sheets]:
            _count(session, item, batch, sheets)
        else:
            batch.status = "mismatch"
    changed(item.meeting)
    return batch


def _entries(session: Session, batch_id: int) -> list[PaperEntry]:
    return list(
        session.execute(
            select(PaperEntry).where(PaperEntry.batch_id == batch_id).order_by(PaperEntry.entry_no)
        ).scalars()
    )


def differences(session: Session, batch: PaperBatch) -> list[Difference]:
    """The sheets on which the two entries differ, with what each line means."""
    item = session.get(Item, batch.item_id)
    config = item_config(item)
    entries = _entries(session, batch.id)
    if len(entries) < 2:
        return []
    first, second = (json.loads(e.lines_json) for e in entries)
    out = []
    for index in range(max(len(first), len(second))):
        a = first[index] if index < len(first) else None
        b = second[index] if index < len(second) else None
        if a != b:
            out.append(Difference(index, a, b, meaning(item.kind, config, a), meaning(item.kind, config, b)))
    return out


def meaning(kind: str, config: dict, line: str | None) -> str:
    """A line in words, for the 监票人 comparing two entries with the paper in hand."""
    if line is None:
        return "（此录入没有这一张）"
    sheet = paper.parse(kind, config, line)
    if not sheet.valid:
        return f"无效票：{INVALID_REASONS[sheet.reason]}"
    if kind == "score":
        return "；".join(
            f"{box.label} {value}" for box, value in zip(paper.boxes(kind, config), line.split(), strict=True)
        )
    head, _, written = line.partition("+")
    words = []
    for box, key in zip(paper.boxes(kind, config), head, strict=True):
        label = dict(box.keys).get(key, key)
        if label not in ("未划",):
            words.append(f"{box.label} {label}")
    if written:
        words.append(f"另行推荐 {written}")
    return "；".join(words) or "空白票（弃权）"


def settle(session: Session, actor: audit.Actor, batch_id: int, decisions: dict[int, str]) -> PaperBatch:
    """The 监票人 settles every differing sheet: "1" or "2" (that entry), "drop" (no such sheet),
    or a line typed as read from the paper. The batch is then counted."""
    batch = locked(session, select(PaperBatch).where(PaperBatch.id == batch_id)).scalar_one_or_none()
    if batch is None or batch.status != "mismatch":
        raise OperationError("这一叠票没有待核对的差异")
    item = lock_item(session, batch.item_id, exclusive=True)
    _paper_open(item)
    config = item_config(item)
    diffs = {d.index: d for d in differences(session, batch)}
    missing = sorted(set(diffs) - set(decisions))
    if missing:
        raise OperationError(f"还有 {len(missing)} 张票未核定（第 {'、'.join(str(i + 1) for i in missing[:10])} 张）")
    first, second = (json.loads(e.lines_json) for e in _entries(session, batch.id))
    lines, record = [], []
    for index in range(max(len(first), len(second))):
        if index not in diffs:
            lines.append(first[index])
            continue
        choice = (decisions[index] or "").strip()
        chosen = {"1": diffs[index].first, "2": diffs[index].second}.get(choice, choice)
        if choice == "drop":
            chosen = None
        elif chosen is None:
            raise OperationError(f"第 {index + 1} 张：所选录入没有这一张票，请选另一录入或“无此票”")
        else:
            try:
                chosen = paper.parse(item.kind, config, chosen).line
            except paper.PaperError as exc:
                raise OperationError(f"第 {index + 1} 张：{exc}") from None
            lines.append(chosen)
        record.append(
            {"sheet": index + 1, "entry1": diffs[index].first, "entry2": diffs[index].second, "decided": chosen}
        )
    sheets = [paper.parse(item.kind, config, line) for line in lines]
    batch.settled_json = json.dumps(record, ensure_ascii=False)
    audit.record(session, actor, "paper.settle", item.meeting_id, item=item.id, batch=batch.number, sheets=record)
    _count(session, item, batch, sheets)
    changed(item.meeting)
    return batch


def _count(session: Session, item: Item, batch: PaperBatch, sheets: list[paper.Sheet]) -> None:
    """The agreed sheets become ballots, stored in a random order (a stack's order says nothing,
    but the table's order should not even look as if it did)."""
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
    batch.status = "counted"
    batch.counted_at = utcnow()
    session.flush()


def finish(session: Session, actor: audit.Actor, item_id: int) -> None:
    """The 监票人 declares every paper ballot entered: the result can be finalised."""
    item = lock_item(session, item_id, exclusive=True)
    if item is None:
        raise OperationError("议题不存在")
    _paper_open(item)
    if item.status != "closed":
        raise OperationError("议题结束表决后才能确认纸质票录入完毕")
    waiting = list(
        session.execute(
            select(PaperBatch.number).where(PaperBatch.item_id == item.id, PaperBatch.status != "counted")
        ).scalars()
    )
    if waiting:
        raise OperationError(f"还有 {len(waiting)} 叠票未完成两次录入或核对（第 {'、'.join(map(str, waiting))} 叠）")
    paper_count = session.execute(
        select(func.count()).select_from(Ballot).where(Ballot.item_id == item.id, Ballot.channel == "paper")
    ).scalar_one()
    item.paper_done = True
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
