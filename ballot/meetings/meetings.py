"""Meeting operations: groups, items, attendance, open and close.

Functions take a Session inside the caller's write transaction and never commit; every clerk
and chair action appends to the audit log in the same transaction.
"""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Mapping

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ballot.clock import utcnow
from ballot.counting import numbers, strokes
from ballot.counting.errors import CONTROL, OperationError
from ballot.counting.kinds import BallotData, Counts, KindConfigError, get_kind
from ballot.storage import audit
from ballot.storage.models import GroupState, Item, ItemGroup, ItemStatus, LiveTally, Meeting, VoterGroup
from ballot.voting.casting import lock_item, locked
from ballot.voting.credentials import groups_with_codes, issued_count
from ballot.voting.sealing import item_ballots, seal_item

MAX_EXPECTED = 100_000
STATUS_LABELS = {
    ItemStatus.DRAFT: "未开始",
    ItemStatus.OPEN: "表决中",
    ItemStatus.CLOSED: "已结束",
    ItemStatus.WITHDRAWN: "已撤回",
}




def _clean(text, what: str, limit: int, required: bool = True) -> str:
    value = str(text or "").strip()
    if CONTROL.search(value):
        raise OperationError(f"{what}含有不可见的控制字符，请重新输入")
    if required and not value:
        raise OperationError(f"{what}不能为空")
    if len(value) > limit:
        raise OperationError(f"{what}不能超过 {limit} 个字符")
    return value


def _count(value, what: str, low: int = 0, high: int = MAX_EXPECTED) -> int:
    try:  # form and length before converting (numbers.py)
        number = numbers.parse_int(value, what, -MAX_EXPECTED, MAX_EXPECTED)
    except numbers.NumberError:
        raise OperationError(f"{what}须为整数") from None
    if not low <= number <= high:
        raise OperationError(f"{what}须在 {low} 到 {high} 之间")
    return number


# -- meetings and groups ---------------------------------------------------------------------


def changed(meeting: Meeting) -> None:
    """Something the projector or the chair's console shows has changed (their event id moves)."""
    meeting.state_version = (meeting.state_version or 0) + 1


def parse_same_surname(value) -> bool:
    """The meeting's same-surname rule: True for 单名优先 (the default), False for 逐字比较."""
    if value is None or value == "":
        return True
    rules = {
        strokes.SINGLE_GIVEN_FIRST: True,
        "single_given_first": True,
        strokes.CHAR_BY_CHAR: False,
        "char_by_char": False,
    }
    if str(value) not in rules:
        raise OperationError(f"同姓排列规则只能是“{strokes.SINGLE_GIVEN_FIRST}”或“{strokes.CHAR_BY_CHAR}”")
    return rules[str(value)]


def create_meeting(
    session: Session, actor: audit.Actor, title, date="", location="", same_surname=None, unit_id: int | None = None
) -> Meeting:
    """A meeting of `unit_id` (the caller checks the actor sees it), by default the actor's unit,
    else the instance's own."""
    if unit_id is None:
        unit_id = actor.unit_id
    if unit_id is None:
        from .units import root  # (units reads the models this module writes)

        unit_id = root(session).id
    meeting = Meeting(
        unit_id=unit_id,
        title=_clean(title, "会议名称", 200),
        date=_clean(date, "会议日期", 32, required=False),
        location=_clean(location, "会议地点", 200, required=False),
        single_given_first=parse_same_surname(same_surname),
        created_at=utcnow(),
    )
    session.add(meeting)
    session.flush()
    audit.record(
        session,
        actor,
        "meeting.create",
        meeting.id,
        title=meeting.title,
        name_order=strokes.rule_text(meeting.single_given_first),
    )
    return meeting


def set_same_surname(session: Session, actor: audit.Actor, meeting: Meeting, same_surname) -> list[str]:
    """Change the meeting's same-surname rule and re-order the lists of its unfrozen items.

    Frozen items keep the order voters already see (or saw); their titles are returned so the
    clerk is told."""
    single = parse_same_surname(same_surname)
    if single == meeting.single_given_first:
        return []
    meeting.single_given_first = single
    kept = []
    for item in meeting.items:
        lock_item(session, item.id, exclusive=True)
        if item_frozen(item):
            kept.append(item.title)
            continue
        item.config_json = _config_json(get_kind(item.kind).reorder(item.config, single_given_first=single))
    session.flush()
    audit.record(
        session, actor, "meeting.name_order", meeting.id, name_order=strokes.rule_text(single), unchanged_items=kept
    )
    return kept


def name_texts(meeting: Meeting) -> list[str]:
    """Every name and title the meeting's pages and screen show (for the names web font)."""
    texts = [meeting.title]
    for item in meeting.items:
        texts.append(item.title)
        config = item.config
        texts += get_kind(item.kind).people(config)
        texts += [p["post"] for p in config.get("posts", []) if isinstance(p, dict)]
    return texts


def name_gaps(meeting: Meeting) -> list[strokes.Gap]:
    """Characters in the names of the meeting's items whose stroke order needs a look by eye."""
    return strokes.data_gaps(name for item in meeting.items for name in get_kind(item.kind).people(item.config))


def group_frozen(session: Session, group: VoterGroup) -> bool:
    if group.id in groups_with_codes(session, group.meeting_id):
        return True
    return (
        session.execute(
            select(func.count())
            .select_from(ItemGroup)
            .join(Item, Item.id == ItemGroup.item_id)
            .where(ItemGroup.group_id == group.id, Item.status.in_((ItemStatus.OPEN, ItemStatus.CLOSED)))
        ).scalar_one()
        > 0
    )


def add_group(session: Session, actor: audit.Actor, meeting: Meeting, name, expected) -> VoterGroup:
    name = _clean(name, "表决组名称", 100)
    if any(g.name == name for g in meeting.groups):
        raise OperationError(f"表决组“{name}”已存在")
    group = VoterGroup(
        meeting_id=meeting.id,
        name=name,
        expected=_count(expected, "应到人数", 1),
        position=len(meeting.groups),
    )
    session.add(group)
    session.flush()
    session.refresh(meeting)
    audit.record(session, actor, "group.add", meeting.id, group=name, expected=group.expected)
    return group


def update_group(session: Session, actor: audit.Actor, group: VoterGroup, name, expected) -> None:
    if group_frozen(session, group):
        raise OperationError("该表决组已签发票码或已有议题开始表决，名称和应到人数已冻结，不能修改")
    before = (group.name, group.expected)
    group.name = _clean(name, "表决组名称", 100)
    group.expected = _count(expected, "应到人数", 1)
    audit.record(
        session, actor, "group.update", group.meeting_id, before=list(before), after=[group.name, group.expected]
    )


def set_present(session: Session, actor: audit.Actor, group: VoterGroup, present) -> None:
    """实到人数, entered by the chair; not while an item of this group is being voted on."""
    value = None if str(present).strip() == "" else _count(present, "实到人数", 0, group.expected)
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


# -- items -------------------------------------------------------------------------------------


def item_group_ids(item: Item) -> list[int]:
    return [ig.group_id for ig in item.voting_groups]


def item_frozen(item: Item) -> bool:
    return item.frozen or item.status != ItemStatus.DRAFT


def _validated(meeting: Meeting, title, kind_key, raw_config: Mapping, group_ids) -> tuple[str, str, str, list[int]]:
    title = _clean(title, "议题名称", 200)
    try:
        kind = get_kind(str(kind_key))
        raw_config = dict(raw_config)
        live = _live_option(raw_config.pop("live", None), raw_config.pop("live_batch", None))
        config = kind.parse_config(raw_config, single_given_first=meeting.single_given_first)
    except KindConfigError as exc:
        raise OperationError(str(exc)) from None
    if live:
        config["live"] = live
    valid_ids = {g.id for g in meeting.groups}
    ids = sorted({int(g) for g in group_ids})
    if not ids:
        raise OperationError("请至少选择一个参加表决的表决组")
    if not set(ids) <= valid_ids:
        raise OperationError("所选表决组不属于本会议")
    names = [g.name for g in meeting.groups if g.id in set(ids)]
    try:
        kind.check_groups(config, names)
    except KindConfigError as exc:
        raise OperationError(str(exc)) from None
    problems = live_problems(kind, config, [g for g in meeting.groups if g.id in set(ids)])
    if problems:
        raise OperationError("；".join(problems))
    return title, kind.key, _config_json(config), ids


LIVE_BATCH = 5
LIVE_MIN_SECONDS = 5


def _live_option(raw, batch) -> dict | None:
    """Live per-candidate numbers on the screen while an item is open: off unless asked for, and
    then published only in batches of at least `batch` ballots (default 5)."""
    if isinstance(raw, dict):  # a stored option, e.g. copied into a correction
        raw, batch = True, raw.get("batch")
    if raw in (None, False, "", "0", "false"):
        return None
    if raw not in (True, "1", "true", "on"):
        raise KindConfigError("live（大屏实时显示各人选票数）须为 true 或 false")
    if batch in (None, ""):
        batch = LIVE_BATCH
    batch = numbers.parse_int(batch, "live_batch（每批最少票数）", 2, 1000, error=KindConfigError)
    return {"batch": batch, "min_seconds": LIVE_MIN_SECONDS}


def live_problems(kind, config: dict, groups) -> list[str]:
    """Where figures are shown per group, a live batch may change a group's figures only by k or
    more of its ballots (screen.py); a group with 应到 under k never could, so the screen would
    never update. Refused up front, with the reason, rather than a screen that stays silent."""
    live = config.get("live")
    if not live or not kind.per_group:
        return []
    return [
        f"表决组“{g.name}”应到 {g.expected} 人，少于实时票数每批 {live['batch']} 票："
        f"按组显示的实时数字须有该组至少 {live['batch']} 张新票才能更新，否则会暴露个人的选择；"
        "请关闭大屏实时票数或调小每批票数"
        for g in groups
        if g.expected < live["batch"]
    ]


def _config_json(config: dict) -> str:
    return json.dumps(config, ensure_ascii=False, sort_keys=True)


def add_item(
    session: Session,
    actor: audit.Actor,
    meeting: Meeting,
    title,
    kind_key,
    raw_config: Mapping,
    group_ids,
    replaces: Item | None = None,
) -> Item:
    title, kind_key, config_json, ids = _validated(meeting, title, kind_key, raw_config, group_ids)
    position = (
        session.execute(
            select(func.coalesce(func.max(Item.position), 0)).where(Item.meeting_id == meeting.id)
        ).scalar_one()
        + 1
    )
    item = Item(
        meeting_id=meeting.id,
        position=position,
        title=title,
        kind=kind_key,
        config_json=config_json,
        status=ItemStatus.DRAFT,
        frozen=False,
        replaces_id=replaces.id if replaces else None,
    )
    item.voting_groups = [ItemGroup(group_id=g) for g in ids]
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor,
        "item.add",
        meeting.id,
        item=item.id,
        title=title,
        kind=kind_key,
        config=item.config,
        groups=ids,
        replaces=item.replaces_id,
    )
    return item


def update_item(
    session: Session, actor: audit.Actor, item: Item, title, kind_key, raw_config: Mapping, group_ids
) -> None:
    lock_item(session, item.id, exclusive=True)  # re-read: it may have opened or frozen meanwhile
    if item_frozen(item):
        raise OperationError("本议题已冻结（已签发票码或已开始表决），不能修改。如需更正，请撤回本议题并新建更正议题。")
    title, kind_key, config_json, ids = _validated(item.meeting, title, kind_key, raw_config, group_ids)
    item.title, item.kind, item.config_json = title, kind_key, config_json
    item.voting_groups = [ItemGroup(group_id=g) for g in ids]
    session.flush()
    audit.record(
        session,
        actor,
        "item.update",
        item.meeting_id,
        item=item.id,
        title=title,
        config=item.config,
        groups=ids,
    )


def withdraw_item(session: Session, actor: audit.Actor, item: Item, reason, make_correction: bool) -> Item | None:
    reason = _clean(reason, "撤回原因", 500)
    lock_item(session, item.id, exclusive=True)
    if item.status == ItemStatus.OPEN:
        raise OperationError("议题正在表决，请先结束表决再撤回")
    if item.status == ItemStatus.WITHDRAWN:
        raise OperationError("该议题已撤回")
    changed(item.meeting)
    item.status = ItemStatus.WITHDRAWN
    item.withdrawn_reason = reason
    audit.record(session, actor, "item.withdraw", item.meeting_id, item=item.id, title=item.title, reason=reason)
    if not make_correction:
        return None
    return add_item(
        session, actor, item.meeting, item.title, item.kind, item.config, item_group_ids(item), replaces=item
    )


def next_round(session: Session, actor: audit.Actor, item: Item, edited: Mapping[str, list[str]] | None = None) -> Item:
    """差额票决: a new item for the seats this round left unfilled, with the candidates the result
    proposes (docs/rules.md#contest) or the chair's edit of them; both lists are recorded, and every round stays."""
    lock_item(session, item.id, exclusive=True)
    kind = get_kind(item.kind)
    if not kind.supports_next_round or item.status != ItemStatus.CLOSED:
        raise OperationError("只有已结束的差额票决议题才能进入下一轮")
    for other in item.meeting.items:
        if other.status != ItemStatus.WITHDRAWN and other.config.get("previous_item") == item.id:
            raise OperationError(f"本议题的下一轮已经创建（议题 #{other.id}）")
    config = item.config
    result = item_result(session, item)
    if not result.get("finalised", True):
        reasons = "；".join(result.get("warnings") or ["本轮结果不能确认"])
        raise OperationError(f"{reasons}。不能据此进入下一轮")
    proposal = kind.next_round(config, result)
    if proposal is None:
        raise OperationError("所有名额均已产生，无需下一轮")
    proposed = kind.next_round_candidates(proposal)
    if edited is not None:
        try:
            proposal = kind.edit_next_round(proposal, edited)
        except KindConfigError as exc:
            raise OperationError(str(exc)) from None
    confirmed = kind.next_round_candidates(proposal)
    proposal["previous_item"] = item.id
    base_title = item.title.split("（第")[0]
    new = add_item(
        session,
        actor,
        item.meeting,
        f"{base_title}（第 {proposal['round']} 轮）",
        item.kind,
        proposal,
        item_group_ids(item),
    )
    audit.record(
        session,
        actor,
        "item.next_round",
        item.meeting_id,
        item=item.id,
        next_item=new.id,
        proposed=proposed,
        confirmed=confirmed,
        edited=edited is not None and proposed != confirmed,
    )
    return new


def confirm_merges(session: Session, actor: audit.Actor, item: Item, merges: list[dict]) -> None:
    """民主推荐: the clerk confirms which written-in spellings name one person (docs/rules.md#recommend)."""
    lock_item(session, item.id, exclusive=True)
    kind = get_kind(item.kind)
    if not kind.supports_merge or item.status != ItemStatus.CLOSED:
        raise OperationError("只有已结束的民主推荐议题才能合并另行推荐的写法")
    config = item.config
    try:
        merged = kind.merge(config, [*config.get("merges", []), *merges], ballots_of(session, item.id))
    except KindConfigError as exc:
        raise OperationError(str(exc)) from None
    item.config_json = _config_json(merged)
    # the number only: the audit log is published, and a spelling as written could be a voter's marker
    audit.record(session, actor, "item.merge_write_ins", item.meeting_id, item=item.id, merged=len(merges))


def write_in_review(session: Session, item: Item) -> dict | None:
    """民主推荐: every written-in spelling with its ballots, for the clerk who merges them (never
    published: a spelling carried by few ballots could be a marker). None for other kinds."""
    kind = get_kind(item.kind)
    if not kind.supports_write_in_review or not result_available(item):
        return None
    ballots = ballots_of(session, item.id)
    return kind.write_in_review(item.config, ballots, item_counts(session, item))


# -- counts, open, close -------------------------------------------------------------------------


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


def ballots_of(session: Session, item_id: int) -> list[BallotData]:
    ballots = item_ballots(session, item_id)
    c = ballots.c
    rows = session.execute(select(c.group_id, c.valid, c.choices_json, c.channel, c.invalid_reason)).all()
    return [BallotData(g, v, json.loads(c), ch, r) for g, v, c, ch, r in rows]


def cast_count(session: Session, item_id: int, group_id: int | None = None) -> int:
    ballots = item_ballots(session, item_id)
    stmt = select(func.count()).select_from(ballots)
    if group_id is not None:
        stmt = stmt.where(ballots.c.group_id == group_id)
    return session.execute(stmt).scalar_one()


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
