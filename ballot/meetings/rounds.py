"""What follows a closed result: the next round of a 差额票决 and the merge of written-in
spellings of a 民主推荐. Both change what the item's result means, so both are audited.
"""

from __future__ import annotations

from typing import Mapping

from sqlalchemy.orm import Session

from ballot.counting.errors import OperationError
from ballot.counting.kinds import KindConfigError, get_kind
from ballot.storage import audit
from ballot.storage.models import Item, ItemStatus
from ballot.voting.casting import lock_item

from .results import ballots_of, item_result
from .setup import add_item, config_text, item_group_ids


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
    item.config_json = config_text(merged)
    # the number only: the audit log is published, and a spelling as written could be a voter's marker
    audit.record(session, actor, "item.merge_write_ins", item.meeting_id, item=item.id, merged=len(merges))
