"""Organization units (单位) and who may see and do what in which meeting.

One organization department runs ballot for its units on one database: a root unit (the
instance's own, e.g. 市委组织部) and child units one level below it (各县区、各部门). Meetings and
staff accounts belong to one unit. Every staff page and API call asks this module, and only
this module, what its user may see (`visible_unit_ids`, `require_meeting`) and do there
(`permissions`), so the rule lives in one place:

- staff see the meetings of their own unit; staff of the root unit also those of its children
  (the department conducts its units' ballots); nobody sees a sibling's or the parent's;
- a unit's 管理员 manages the accounts of the units it sees (the root's: every unit's); only the
  root's 管理员 creates and renames units;
- a meeting may name its own 主持人, 监票人 or 计票人 (meeting_roles). Once it names any for a
  role, only those named act in that role there (an administrator included: the naming is the
  point); while it names none, the unit roles apply as before. Naming is audited;
- an API token sees only the meetings of its own unit (within what its user sees), with its
  user's rights.

What the caller cannot see is "not found", never "forbidden": existence is not revealed.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ballot.clock import utcnow
from ballot.counting.errors import Refused
from ballot.storage import audit
from ballot.storage.models import (
    MEETING_ROLES,
    ROLE_LABELS,
    ApiToken,
    IssueBatch,
    Item,
    Meeting,
    MeetingRole,
    PaperBatch,
    SlipJob,
    Unit,
    User,
    VoterGroup,
)

from .users import PERMISSIONS

DEFAULT_NAME = "本单位"
# the per-meeting role that, once named for a meeting, alone holds each permission there
ROLE_OF_PERMISSION = {"conduct": "chair", "publish": "chair", "settle_paper": "scrutineer", "enter_paper": "teller"}


class NotVisible(LookupError):
    """The object does not exist, or the caller may not know that it does (answered as 404)."""


class UnitError(Refused, ValueError):
    pass


# -- units -------------------------------------------------------------------------------------


def root(session: Session) -> Unit:
    """The instance's own unit (created by the migration; made here if a database lacks it)."""
    unit = session.execute(select(Unit).where(Unit.parent_id.is_(None)).order_by(Unit.id).limit(1)).scalar_one_or_none()
    if unit is None:
        unit = Unit(name=DEFAULT_NAME, parent_id=None, created_at=utcnow())
        session.add(unit)
        session.flush()
    return unit


def all_units(session: Session) -> list[Unit]:
    """The root first, then its children by name order of creation."""
    return list(session.execute(select(Unit).order_by(Unit.parent_id.is_not(None), Unit.id)).scalars())


def several(session: Session) -> bool:
    """Whether the instance has more than one unit (else no unit appears anywhere in the UI)."""
    return session.execute(select(func.count(Unit.id))).scalar_one() > 1


def _clean_name(name) -> str:
    value = str(name or "").strip()
    if not value:
        raise UnitError("单位名称不能为空")
    if len(value) > 100:
        raise UnitError("单位名称不能超过 100 个字符")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise UnitError("单位名称含有不可见的控制字符，请重新输入")
    return value


def _unique(session: Session, name: str, except_id: int | None = None) -> None:
    other = session.execute(select(Unit.id).where(Unit.name == name)).scalar_one_or_none()
    if other is not None and other != except_id:
        raise UnitError(f"单位“{name}”已存在")


def create_unit(session: Session, actor: audit.Actor, name) -> Unit:
    """A child unit of the root (units nest one level)."""
    name = _clean_name(name)
    _unique(session, name)
    parent = root(session)
    unit = Unit(name=name, parent_id=parent.id, created_at=utcnow())
    session.add(unit)
    session.flush()
    audit.record(session, actor, "unit.create", None, in_unit=unit.id, unit_id=unit.id, name=name)
    return unit


def rename_unit(session: Session, actor: audit.Actor, unit: Unit, name) -> None:
    name = _clean_name(name)
    _unique(session, name, unit.id)
    old = unit.name
    unit.name = name
    audit.record(session, actor, "unit.rename", None, in_unit=unit.id, unit_id=unit.id, old=old, new=name)


def find_unit(session: Session, name_or_id: str) -> Unit | None:
    text = str(name_or_id).strip()
    unit = session.execute(select(Unit).where(Unit.name == text)).scalar_one_or_none()
    if unit is None and text.isdecimal() and len(text) < 10:
        unit = session.get(Unit, int(text))
    return unit


def unit_name(session: Session, unit_id: int | None) -> str | None:
    unit = session.get(Unit, unit_id) if unit_id is not None else None
    return unit.name if unit else None


# -- who sees what -----------------------------------------------------------------------------


def visible_unit_ids(session: Session, user: User, token_unit_id: int | None = None) -> set[int]:
    """The user's unit, and its children when it is the root; a token narrows this to its unit."""
    unit = session.get(Unit, user.unit_id)
    if unit is None:
        return set()
    ids = {unit.id}
    if unit.parent_id is None:
        ids |= set(session.execute(select(Unit.id).where(Unit.parent_id == unit.id)).scalars())
    if token_unit_id is not None:
        ids &= {token_unit_id}
    return ids


def visible_units(session: Session, user: User) -> list[Unit]:
    ids = visible_unit_ids(session, user)
    return [u for u in all_units(session) if u.id in ids]


def visible_meetings(session: Session, user: User, token_unit_id: int | None = None) -> list[Meeting]:
    ids = visible_unit_ids(session, user, token_unit_id)
    return list(session.execute(select(Meeting).where(Meeting.unit_id.in_(ids)).order_by(Meeting.id.desc())).scalars())


def require_meeting(session: Session, user: User, meeting_id: int | None, token_unit_id: int | None = None) -> Meeting:
    meeting = session.get(Meeting, meeting_id) if meeting_id is not None else None
    if meeting is None or meeting.unit_id not in visible_unit_ids(session, user, token_unit_id):
        raise NotVisible
    return meeting


def require_unit(session: Session, user: User, unit_id: int | None) -> Unit:
    """A unit the user sees (to create a meeting or an account in it)."""
    if unit_id is None or unit_id not in visible_unit_ids(session, user):
        raise NotVisible
    return session.get(Unit, unit_id)


def require_user(session: Session, manager: User, user_id: int | None) -> User:
    """An account the manager may manage: one of a unit the manager sees."""
    user = session.get(User, user_id) if user_id is not None else None
    if user is None or user.unit_id not in visible_unit_ids(session, manager):
        raise NotVisible
    return user


def manageable_users(session: Session, manager: User) -> list[User]:
    ids = visible_unit_ids(session, manager)
    return list(session.execute(select(User).where(User.unit_id.in_(ids)).order_by(User.id)).scalars())


def is_root_admin(session: Session, user: User) -> bool:
    unit = session.get(Unit, user.unit_id)
    return user.role == "admin" and unit is not None and unit.parent_id is None


# Route arguments that name an object, and the meeting each belongs to. A route taking any of
# them is checked against the caller's units by `target_meeting` before its view runs.
def _meeting_of_item(session, ident):
    return session.execute(select(Item.meeting_id).where(Item.id == ident)).scalar_one_or_none()


def _meeting_of_group(session, ident):
    return session.execute(select(VoterGroup.meeting_id).where(VoterGroup.id == ident)).scalar_one_or_none()


def _meeting_of_paper_batch(session, ident):
    return session.execute(
        select(Item.meeting_id).join(PaperBatch, PaperBatch.item_id == Item.id).where(PaperBatch.id == ident)
    ).scalar_one_or_none()


def _meeting_of_slip_job(session, token):
    if not isinstance(token, str) or len(token) > 64:
        return None
    return session.execute(
        select(VoterGroup.meeting_id).join(SlipJob, SlipJob.group_id == VoterGroup.id).where(SlipJob.token == token)
    ).scalar_one_or_none()


def _meeting_of_issue_batch(session, ident):
    return session.execute(select(IssueBatch.meeting_id).where(IssueBatch.id == ident)).scalar_one_or_none()


MEETING_OF = {
    "meeting_id": lambda session, ident: ident,
    "item_id": _meeting_of_item,
    "group_id": _meeting_of_group,
    "batch_id": _meeting_of_paper_batch,
    "token": _meeting_of_slip_job,
}


def target_meeting(session: Session, user: User, route_args: dict, token_unit_id: int | None = None) -> Meeting | None:
    """The meeting a route's arguments point into, checked visible; None when they name no meeting
    object. Raises NotVisible for an unknown object or one of a unit the caller does not see, and
    for an account (user_id) or a unit (unit_id) outside the caller's units."""
    meeting = None
    for name, value in route_args.items():
        try:
            if name in MEETING_OF:
                found = require_meeting(session, user, MEETING_OF[name](session, value), token_unit_id)
                if meeting is not None and found.id != meeting.id:
                    raise NotVisible  # two objects of different meetings: no such page
                meeting = found
            elif name == "user_id":
                require_user(session, user, value)
            elif name == "unit_id":
                require_unit(session, user, value)
        except NotVisible:
            raise NotVisible(name) from None  # which argument, for the message
    return meeting


def issue_batch_in(session: Session, meeting: Meeting, batch_id: int | None) -> bool:
    return batch_id is not None and _meeting_of_issue_batch(session, batch_id) == meeting.id


# -- what they may do there --------------------------------------------------------------------


def named_roles(session: Session, meeting_id: int) -> list[tuple[int, str]]:
    return [
        (user_id, role)
        for user_id, role in session.execute(
            select(MeetingRole.user_id, MeetingRole.role).where(MeetingRole.meeting_id == meeting_id)
        ).all()
    ]


def permissions(session: Session, user: User, meeting: Meeting | None = None) -> frozenset[str]:
    """What the user may do: their unit role's permissions, and in a meeting that names its own
    chairs, 监票人 or 计票人, that role's permissions held by exactly those named."""
    granted = {p for p, roles in PERMISSIONS.items() if user.role in roles}
    if meeting is None:
        return frozenset(granted)
    named = named_roles(session, meeting.id)
    roles_named = {role for _, role in named}
    mine = {role for user_id, role in named if user_id == user.id}
    for permission, role in ROLE_OF_PERMISSION.items():
        if role in roles_named:
            if role in mine:
                granted.add(permission)
            else:
                granted.discard(permission)
    return frozenset(granted)


def meeting_role_rows(session: Session, meeting: Meeting) -> list[dict]:
    rows = session.execute(
        select(MeetingRole.role, User.id, User.username, User.display_name)
        .join(User, User.id == MeetingRole.user_id)
        .where(MeetingRole.meeting_id == meeting.id)
        .order_by(MeetingRole.role, User.username)
    ).all()
    return [
        {"role": role, "label": ROLE_LABELS[role], "user_id": uid, "username": name, "display_name": shown}
        for role, uid, name, shown in rows
    ]


def candidates(session: Session, meeting: Meeting) -> list[User]:
    """Active accounts that may be named for the meeting: those who see it (its unit's, the root's)."""
    unit = session.get(Unit, meeting.unit_id)
    ids = {unit.id} | ({unit.parent_id} if unit.parent_id is not None else set())
    return list(
        session.execute(
            select(User).where(User.unit_id.in_(ids), User.active.is_(True)).order_by(User.username)
        ).scalars()
    )


def name_for_meeting(session: Session, actor: audit.Actor, meeting: Meeting, user_id, role: str) -> User:
    if role not in MEETING_ROLES:
        raise UnitError("会议角色只能是主持人、监票人或计票人")
    user = next((u for u in candidates(session, meeting) if u.id == user_id), None)
    if user is None:
        raise UnitError("只能指定能看到本会议的有效账号（本单位或上级单位的工作人员）")
    exists = session.get(MeetingRole, (meeting.id, user.id, role))
    if exists is not None:
        raise UnitError(f"“{user.username}”已是本会议的{ROLE_LABELS[role]}")
    session.add(MeetingRole(meeting_id=meeting.id, user_id=user.id, role=role))
    session.flush()
    audit.record(session, actor, "meeting_role.add", meeting.id, username=user.username, role=role)
    return user


def unname_for_meeting(session: Session, actor: audit.Actor, meeting: Meeting, user_id, role: str) -> None:
    row = session.get(MeetingRole, (meeting.id, user_id, role)) if role in MEETING_ROLES else None
    if row is None:
        raise UnitError("本会议没有这项指定")
    username = session.get(User, user_id).username
    session.execute(
        delete(MeetingRole).where(
            MeetingRole.meeting_id == meeting.id, MeetingRole.user_id == user_id, MeetingRole.role == role
        )
    )
    audit.record(session, actor, "meeting_role.remove", meeting.id, username=username, role=role)


def token_visible(session: Session, manager: User, token: ApiToken) -> bool:
    """A token the manager may see and revoke: one of an account the manager manages."""
    owner = session.get(User, token.user_id)
    return owner is not None and owner.unit_id in visible_unit_ids(session, manager)


def names_of(session: Session, unit_ids: Iterable[int]) -> dict[int, str]:
    ids = set(unit_ids)
    return {u.id: u.name for u in all_units(session) if u.id in ids}
