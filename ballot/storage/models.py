"""Storage model (SQLAlchemy 2.x).

Anonymity lives in the shape of two tables: `spends` records *that* a credential was used
for an item, `ballots` records *what* was cast, and nothing joins them: no shared key, no
foreign key, no timestamp, random primary keys, and on SQLite WITHOUT ROWID tables so that
physical order is key order, not cast order. Closing an item rewrites both (see sealing.py).

Two stores: the ballots, spends and API idempotency records of OPEN items live in schema `live`
(PostgreSQL: a schema; SQLite: a second file attached as `live`), small and compacted at every
close; the sealed ones stay in `ballots` and `spends`, which only grow, by one shuffled batch per
item (paper ballots: one per counted stack).
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy import false as sa_false
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

LIVE = "live"  # the schema of the live store (db.LIVE_SCHEMA)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


ROLES = ("admin", "clerk", "chair", "scrutineer", "teller")
ROLE_LABELS = {"admin": "管理员", "clerk": "会务人员", "chair": "主持人", "scrutineer": "监票人", "teller": "计票人"}


class ItemStatus(StrEnum):
    """An item's life: prepared, voting, sealed, or withdrawn (with or without a sealed count)."""

    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class GroupState(StrEnum):
    """One group's sitting on an item (kinds whose groups vote at separate sittings)."""

    WAITING = "waiting"
    OPEN = "open"
    CLOSED = "closed"


class BatchStatus(StrEnum):
    """A stack of paper ballots: fewer than two entries, entries that differ, or counted."""

    ENTERING = "entering"
    MISMATCH = "mismatch"
    COUNTED = "counted"


class SlipStatus(StrEnum):
    """A slip-sheet PDF being made."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def _one_of(column: str, values: type[StrEnum]) -> CheckConstraint:
    """The database refuses any other value (named ck_<table>_<column> by the naming convention)."""
    return CheckConstraint(f"{column} IN ({', '.join(repr(v.value) for v in values)})", name=column)


# roles a meeting may name for itself (meeting_roles): only they then act in that role there
MEETING_ROLES = ("chair", "scrutineer", "teller")


class Unit(Base):
    """An organization unit (单位/部门): the root (the instance's own unit, e.g. 市委组织部) and its
    child units, one level deep. Meetings and staff accounts belong to one unit."""

    __tablename__ = "units"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Every staff cookie carries the generation it was issued under; logout, a password change,
    # deactivation and a role change bump it, which ends every other session of the user at once.
    session_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)


class Meeting(Base):
    __tablename__ = "meetings"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    date: Mapped[str] = mapped_column(String(32), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    # same-surname rule of 姓氏笔画 order (strokes.py): 单名优先 (Xinhua's lists) or 逐字比较
    single_given_first: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # the projector screen: an unguessable key (only its HMAC is stored), what it shows, and a
    # version every change of state bumps (SSE event ids)
    screen_key_hash: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    screen_item_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    screen_reveal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    state_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)
    groups: Mapped[list["VoterGroup"]] = relationship(back_populates="meeting", order_by="VoterGroup.position")
    items: Mapped[list["Item"]] = relationship(back_populates="meeting", order_by="Item.position")


class MeetingRole(Base):
    """A chair, 监票人 or 计票人 named for one meeting (see units.permissions for what it changes)."""

    __tablename__ = "meeting_roles"
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), primary_key=True)


class VoterGroup(Base):
    __tablename__ = "voter_groups"
    __table_args__ = (UniqueConstraint("meeting_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    name: Mapped[str] = mapped_column(String(100))
    expected: Mapped[int] = mapped_column(Integer)  # 应到人数
    present: Mapped[int | None] = mapped_column(Integer, nullable=True)  # 实到人数, entered by the chair
    meeting: Mapped[Meeting] = relationship(back_populates="groups")


class Item(Base):
    __tablename__ = "items"
    __table_args__ = (_one_of("status", ItemStatus),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(32))
    config_json: Mapped[str] = mapped_column(Text)  # the kind's validated configuration
    status: Mapped[str] = mapped_column(String(16), default=ItemStatus.DRAFT)
    # Set when codes are issued to one of its groups or when it opens: from then on what decides
    # the count cannot change (a correction is a new item, which starts unfrozen).
    frozen: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    withdrawn_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("items.id"), nullable=True)
    # 应到/实到/发出 as they stood at close: the sealed result never moves afterwards.
    closed_counts_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # 监票人 and 计票人 named by the chair at close, printed in the signed report
    witnesses_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Set once the storage has been compacted after sealing (see sealing.compact_pending).
    compacted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Set when the 监票人 declares every paper ballot of the item entered and compared
    paper_done: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    meeting: Mapped[Meeting] = relationship(back_populates="items")
    voting_groups: Mapped[list["ItemGroup"]] = relationship(cascade="all, delete-orphan", order_by="ItemGroup.group_id")

    @property
    def config(self) -> dict:
        """The kind's configuration, parsed from config_json once per instance (again only when
        config_json is replaced). Read-only for callers: a change is a new config_json."""
        cached = self.__dict__.get("_config_parsed")
        if cached is None or cached[0] is not self.config_json:
            cached = (self.config_json, json.loads(self.config_json))
            self.__dict__["_config_parsed"] = cached
        return cached[1]


class ItemGroup(Base):
    """Which voter groups vote on an item."""

    __tablename__ = "item_groups"
    __table_args__ = (_one_of("state", GroupState),)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("voter_groups.id"), primary_key=True)
    # groups of some kinds (测评, 打分) vote at different sittings
    state: Mapped[str] = mapped_column(String(8), default=GroupState.WAITING, server_default="waiting")
    # paper ballots printed and handed out to this group for this item (发出, paper channel)
    paper_issued: Mapped[int | None] = mapped_column(Integer, nullable=True)


class IssueBatch(Base):
    """A record that N codes were issued (the codes themselves are never stored)."""

    __tablename__ = "issue_batches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("voter_groups.id"))
    count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    created_by: Mapped[str] = mapped_column(String(64))


class Credential(Base):
    """A one-time code, stored only as a keyed hash (HMAC with the instance secret)."""

    __tablename__ = "credentials"
    __table_args__ = {"sqlite_with_rowid": False}
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("voter_groups.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("issue_batches.id"))
    voided: Mapped[bool] = mapped_column(Boolean, default=False)


class _SpendColumns:
    credential_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)


class Spend(Base):
    """That a credential was used for a closed item: no time, no order, no ballot. Keyed by item
    first, so a close appends its batch at the end of the key order (fresh pages, on SQLite the file
    order) instead of touching one old page of the history per spend."""

    __tablename__ = "spends"
    __table_args__ = (PrimaryKeyConstraint("item_id", "credential_id"), {"sqlite_with_rowid": False})
    item_id: Mapped[int] = mapped_column(Integer)
    credential_id: Mapped[str] = mapped_column(String(32))


class LiveSpend(_SpendColumns, Base):
    """A spend for an open item (the cast's conditional insert); moved to `spends` at close."""

    __tablename__ = "spends"
    __table_args__ = {"sqlite_with_rowid": False, "schema": LIVE}


class _BallotColumns:
    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random
    item_id: Mapped[int] = mapped_column(Integer, index=True)
    group_id: Mapped[int] = mapped_column(Integer)
    valid: Mapped[bool] = mapped_column(Boolean, default=True)
    choices_json: Mapped[str] = mapped_column(Text)
    receipt: Mapped[str | None] = mapped_column(String(16), nullable=True)  # none on paper
    channel: Mapped[str] = mapped_column(String(8), default="phone", server_default="phone")  # phone | paper
    invalid_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)  # paper.REASONS key


class Ballot(_BallotColumns, Base):
    """What was cast for a closed item: item, voter group, choices, an inclusion receipt. Nothing else."""

    __tablename__ = "ballots"
    __table_args__ = (
        UniqueConstraint("item_id", "receipt"),
        {"sqlite_with_rowid": False},
    )


class LiveBallot(_BallotColumns, Base):
    """A ballot of an open item; moved to `ballots`, shuffled and with a fresh key, at close."""

    __tablename__ = "ballots"
    __table_args__ = (
        UniqueConstraint("item_id", "receipt"),
        {"sqlite_with_rowid": False, "schema": LIVE},
    )


class PaperBatch(Base):
    """A stack of paper ballots of one item and group, entered twice by two 计票人."""

    __tablename__ = "paper_batches"
    __table_args__ = (UniqueConstraint("item_id", "group_id", "number"), _one_of("status", BatchStatus))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("voter_groups.id"))
    number: Mapped[int] = mapped_column(Integer)  # 第 N 叠, per item and group
    # entering (fewer than two entries) | mismatch (the 监票人 settles) | counted (ballots stored)
    status: Mapped[str] = mapped_column(String(12), default=BatchStatus.ENTERING)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    counted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    settled_json: Mapped[str | None] = mapped_column(Text, nullable=True)  # the 监票人's decisions


class PaperEntry(Base):
    """One 计票人's entry of a batch: one line of marks per sheet, as typed."""

    __tablename__ = "paper_entries"
    __table_args__ = (UniqueConstraint("batch_id", "entry_no"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("paper_batches.id"), index=True)
    entry_no: Mapped[int] = mapped_column(Integer)  # 1 or 2
    teller: Mapped[str] = mapped_column(String(64))  # the staff user who typed it
    lines_json: Mapped[str] = mapped_column(Text)
    submitted_at: Mapped[datetime] = mapped_column(DateTime)


class AuditEntry(Base):
    """Append-only, hash-chained record of every clerk and chair action."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime)
    actor: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(64))
    meeting_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    detail_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # the unit the action belongs to (hashed when set; entries from before units have none)
    unit_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class LiveTally(Base):
    """A live count of an open item that allows one (docs/meetings.md#screen: batches of at least k ballots). The
    latest is held unpublished until the next is taken (screen.publish_live); every screen shows
    the same batch; all are deleted when the item closes."""

    __tablename__ = "live_tallies"
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    ballots: Mapped[int] = mapped_column(Integer)
    result_json: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(DateTime)


class SlipJob(Base):
    """Progress of a slip-sheet PDF being made, visible to every worker (no codes in it)."""

    __tablename__ = "slip_jobs"
    __table_args__ = (_one_of("status", SlipStatus),)
    token: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("voter_groups.id"))
    pages_total: Mapped[int] = mapped_column(Integer, default=0)
    pages_done: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default=SlipStatus.RUNNING)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # the worker making it writes this with every step: a running job whose worker died stops moving
    updated_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class SigningKeyRecord(Base):
    """The instance's public signing keys, as every worker and app server sees them: the newest row
    is the current key (`ballot keys rotate` adds one). Private keys stay files in the instance folder."""

    __tablename__ = "signing_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True)  # minisign's hex id
    public_key: Mapped[str] = mapped_column(Text)  # the minisign public key file
    created_at: Mapped[datetime] = mapped_column(DateTime)


class ScreenLease(Base):
    """A projector stream (SSE) held open by some worker of some app server: at most
    BALLOT_SCREEN_STREAMS_TOTAL slots exist. The holder renews the expiry while the stream lives,
    so the lease of a worker that died lapses by itself."""

    __tablename__ = "screen_leases"
    slot: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    lease: Mapped[str] = mapped_column(String(32))  # random: the holder's proof, so a release frees only its own
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class FailedAttempt(Base):
    """One counted attempt at a code or a password, seen by every worker and app server (the
    rate limits of ratelimit.py). Only the limiter, a keyed hash of the client address and the
    time: never the code or the username typed, nothing that joins a ballot. Rows of attempts that
    succeeded are deleted at once, the others once they leave the window."""

    __tablename__ = "failed_attempts"
    __table_args__ = (
        Index("ix_failed_attempts_limiter_client_at", "limiter", "client", "at"),
        Index("ix_failed_attempts_limiter_at", "limiter", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    limiter: Mapped[str] = mapped_column(String(16))
    client: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(DateTime)


class ApiToken(Base):
    """A bearer token for the JSON API; acts as its user. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # the unit whose meetings the token sees (within what its user may see)
    unit_id: Mapped[int] = mapped_column(ForeignKey("units.id"), index=True)


class ApiIdempotency(Base):
    """An API cast's Idempotency-Key while its item is open, so that a retry after a lost response
    gets the same receipt. Every column but the item is keyed by the key the client sent, which is never stored:
    without it a row names no code and no receipt (casting.Idempotency). Deleted when the item
    closes, in the sealing transaction."""

    __tablename__ = "api_idempotency"
    __table_args__ = {"sqlite_with_rowid": False, "schema": LIVE}  # the live store
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # HMAC of code, item and key
    item_id: Mapped[int] = mapped_column(Integer, index=True)
    request_digest: Mapped[str] = mapped_column(String(64))  # HMAC of the request, keyed likewise
    sealed_receipt: Mapped[str] = mapped_column(String(64))  # the receipt XOR a pad derived likewise
