"""Setting a meeting up: the meeting, its voter groups and its items (add, edit, withdraw).

Functions take a Session inside the caller's write transaction and never commit; every clerk
action appends to the audit log in the same transaction. An item is editable until it freezes
(codes issued or voting started); after that only a withdrawal and a correction change it.
"""

from __future__ import annotations

import json
from typing import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ballot.clock import utcnow
from ballot.counting import numbers, strokes
from ballot.counting.errors import CONTROL, OperationError
from ballot.counting.kinds import KindConfigError, get_kind
from ballot.storage import audit
from ballot.storage.models import GroupState, Item, ItemGroup, ItemStatus, Meeting, VoterGroup
from ballot.voting.casting import lock_item
from ballot.voting.credentials import groups_with_codes

MAX_EXPECTED = 100_000

STATUS_LABELS = {
    ItemStatus.DRAFT: "未开始",
    ItemStatus.OPEN: "表决中",
    ItemStatus.CLOSED: "已结束",
    ItemStatus.WITHDRAWN: "已撤回",
}
GROUP_STATE_LABELS = {GroupState.WAITING: "未开始", GroupState.OPEN: "表决中", GroupState.CLOSED: "已结束"}


def clean_text(text, what: str, limit: int, required: bool = True) -> str:
    value = str(text or "").strip()
    if CONTROL.search(value):
        raise OperationError(f"{what}含有不可见的控制字符，请重新输入")
    if required and not value:
        raise OperationError(f"{what}不能为空")
    if len(value) > limit:
        raise OperationError(f"{what}不能超过 {limit} 个字符")
    return value


def parse_count(value, what: str, low: int = 0, high: int = MAX_EXPECTED) -> int:
    try:  # form and length before converting (numbers.py)
        number = numbers.parse_int(value, what, -MAX_EXPECTED, MAX_EXPECTED)
    except numbers.NumberError:
        raise OperationError(f"{what}须为整数") from None
    if not low <= number <= high:
        raise OperationError(f"{what}须在 {low} 到 {high} 之间")
    return number


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
        title=clean_text(title, "会议名称", 200),
        date=clean_text(date, "会议日期", 32, required=False),
        location=clean_text(location, "会议地点", 200, required=False),
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
        item.config_json = config_text(get_kind(item.kind).reorder(item.config, single_given_first=single))
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
    name = clean_text(name, "表决组名称", 100)
    if any(g.name == name for g in meeting.groups):
        raise OperationError(f"表决组“{name}”已存在")
    group = VoterGroup(
        meeting_id=meeting.id,
        name=name,
        expected=parse_count(expected, "应到人数", 1),
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
    group.name = clean_text(name, "表决组名称", 100)
    group.expected = parse_count(expected, "应到人数", 1)
    audit.record(
        session, actor, "group.update", group.meeting_id, before=list(before), after=[group.name, group.expected]
    )


def item_group_ids(item: Item) -> list[int]:
    return [ig.group_id for ig in item.voting_groups]


def item_frozen(item: Item) -> bool:
    return item.frozen or item.status != ItemStatus.DRAFT


def _validated(meeting: Meeting, title, kind_key, raw_config: Mapping, group_ids) -> tuple[str, str, str, list[int]]:
    title = clean_text(title, "议题名称", 200)
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
    return title, kind.key, config_text(config), ids


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


def config_text(config: dict) -> str:
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
    reason = clean_text(reason, "撤回原因", 500)
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
