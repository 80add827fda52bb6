"""What a voter's page needs of an item, read with one small query on the hot path.

Once an item is frozen (codes issued or opened) its title, kind, configuration and voting
groups never change (a correction is a new item), so each process keeps them after the first
read; only the status is read fresh every time.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ballot.storage.models import Item, ItemGroup, Meeting

_frozen: dict[tuple[str, int], dict] = {}  # (database URL, item id): one process may serve several databases
_lock = threading.Lock()


@dataclass(frozen=True)
class ItemView:
    id: int
    meeting_id: int
    meeting_title: str
    title: str
    kind: str
    config: dict
    group_ids: frozenset
    status: str


def item_view(session: Session, item_id: int) -> ItemView | None:
    row = session.execute(select(Item.status, Item.frozen).where(Item.id == item_id)).first()
    if row is None:
        return None
    key = (session.bind.url.render_as_string(hide_password=False), item_id)
    static = _frozen.get(key)
    if static is None:
        item = session.get(Item, item_id)
        static = {
            "id": item.id,
            "meeting_id": item.meeting_id,
            "meeting_title": session.execute(select(Meeting.title).where(Meeting.id == item.meeting_id)).scalar_one(),
            "title": item.title,
            "kind": item.kind,
            "config": item.config,
            "group_ids": frozenset(
                session.execute(select(ItemGroup.group_id).where(ItemGroup.item_id == item_id)).scalars()
            ),
        }
        if row.frozen:
            with _lock:
                _frozen[key] = static
    return ItemView(status=row.status, **static)


def cached_static(database_url: str, item_id: int) -> dict | None:
    """The frozen part of an item if this process has seen it (no query at all)."""
    return _frozen.get((database_url, item_id))


def group_state(session: Session, item_id: int, group_id: int) -> str | None:
    """Whether the item is waiting, open or closed for one voter group (read fresh every time)."""
    return session.execute(
        select(ItemGroup.state).where(ItemGroup.item_id == item_id, ItemGroup.group_id == group_id)
    ).scalar_one_or_none()
