"""After close, nothing in the stored data links a ballot to a code (DESIGN §3).

Before close the link is really there (same transaction id, insertion order), which is what
makes these checks meaningful; after close it is gone: on PostgreSQL every ballot and spend of
the item carries one `xmin` and `ctid` follows a shuffled order; on SQLite both WALs are empty,
no stale copy of any ballot is left in either file, and the file order is not the cast order.
The API's idempotency records (a code's key → its receipt while the item is open) are gone too:
no row, no dead tuple, no byte of them in the SQLite files.

Every check runs after five meetings were closed before, and the close must not have rewritten
that history (sealing.py): on PostgreSQL the sealed tables keep their files and their old rows
their `xmin`/`ctid`; on SQLite the main file is not vacuumed (its untouched pages stay as they
were) and only the small live file is.
"""

import re
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import ACTOR, World
from sqlalchemy import select, text
from voting import enter, vote

from ballot.config import Settings
from ballot.storage.db import Database
from ballot.storage.models import Item
from ballot.voting.codes import normalize_code
from ballot.voting.sealing import _compact_storage, compact_pending

N = 12
HISTORY = 5  # meetings closed before the one inspected


def closed_history(app, world, meetings=HISTORY, voters=3):
    """Meetings voted on and closed before: the sealed history a close must leave alone."""
    for _ in range(meetings):
        m = world.standard(nominees=("李四",))
        gid, item = m.groups[0].id, m.items[0]
        codes = world.codes(gid, voters)
        world.present(gid, 11)
        world.open(item.id)
        for i, code in enumerate(codes):
            phone = app.test_client()
            enter(phone, code)
            vote(phone, item.id, {"n0": ["yes", "no", "abstain"][i % 3]})
        world.close(item.id)


def cast_many(app, world, n=N, api=0):
    """`n` phones vote, then `api` more codes cast through the JSON API with an Idempotency-Key."""
    m = world.standard(nominees=("张三",))
    gid, item = m.groups[0].id, m.items[0]
    codes = world.codes(gid, n + api)
    world.present(gid, 11)
    world.open(item.id)
    receipts = []
    for i, code in enumerate(codes[:n]):
        phone = app.test_client()
        enter(phone, code)
        receipts.append(vote(phone, item.id, {"n0": ["yes", "no", "abstain"][i % 3]}))
    for i, code in enumerate(codes[n:]):
        body = {"code": code, "item_id": item.id, "choices": {"n0": ["yes", "no", "abstain"][i % 3]}}
        r = app.test_client().post("/api/v1/ballots", json=body, headers={"Idempotency-Key": f"retry-key-{i}"})
        assert r.status_code == 201
        receipts.append(r.get_json()["receipt"])
    return item, codes, receipts


def idempotency_rows(world):
    with world.db.read() as s:
        return [tuple(r) for r in s.execute(text("SELECT id, request_digest, sealed_receipt FROM live.api_idempotency"))]


def test_postgresql_xmin_and_ctid_do_not_link(app, world, backend):
    if backend != "postgresql":
        pytest.skip("PostgreSQL storage detail")
    closed_history(app, world)
    item, codes, receipts = cast_many(app, world, N - 3, api=3)
    assert len(idempotency_rows(world)) == 3
    q_ballots = "SELECT xmin::text AS x, ctid::text AS c, receipt FROM {} WHERE item_id = :i"
    q_spends = "SELECT xmin::text AS x FROM {} WHERE item_id = :i"
    q_history = text("SELECT xmin::text, ctid::text, id FROM ballots UNION ALL SELECT xmin::text, ctid::text, "
                     "credential_id FROM spends ORDER BY 3")
    q_files = text("SELECT pg_relation_filenode('ballots'), pg_relation_filenode('spends')")
    with world.db.read() as s:  # while open, the rows are in the live store
        before_b = {r.x for r in s.execute(text(q_ballots.format("live.ballots")), {"i": item.id})}
        before_s = {r.x for r in s.execute(text(q_spends.format("live.spends")), {"i": item.id})}
        history, files = s.execute(q_history).all(), s.execute(q_files).one()
    assert len(before_b) == N and before_b == before_s  # each ballot shares its spend's xmin
    assert len(history) == 2 * 3 * HISTORY
    world.close(item.id)
    with world.db.read() as s:
        rows = list(s.execute(text(q_ballots.format("ballots")), {"i": item.id}))
        spends = {r.x for r in s.execute(text(q_spends.format("spends")), {"i": item.id})}
        assert s.execute(q_files).one() == files  # the sealed tables were not rewritten …
        assert [r for r in s.execute(q_history) if r.id in {h.id for h in history}] == history  # … nor their rows
        live_left = s.execute(text("SELECT (SELECT count(*) FROM live.ballots) + (SELECT count(*) FROM live.spends)"))
        assert live_left.scalar_one() == 0
    assert len({r.x for r in rows}) == 1 and len(spends) == 1
    assert {r.x for r in rows} == spends  # one rewrite transaction for all of them
    assert sorted(r.receipt for r in rows) == sorted(receipts)
    by_position = [r.receipt for r in sorted(rows, key=lambda r: tuple(map(int, r.c.strip("()").split(","))))]
    assert by_position != receipts  # physical order is not cast order (chance 1/12! of a false alarm)
    assert idempotency_rows(world) == []
    # The live store rewritten by VACUUM FULL: no dead tuple of a deleted record remains (no other
    # item is open, so it is empty). A snapshot older than the close anywhere on the cluster (a
    # shared test cluster: other sessions connecting) keeps "recently dead" tuples in the copy, so
    # compact again until none is left (bounded).
    sizes = "SELECT " + " + ".join(f"pg_relation_size('live.{t}')" for t in ("ballots", "spends", "api_idempotency"))
    for _ in range(50):
        with world.db.read() as s:
            size = s.execute(text(sizes)).scalar_one()
        if size == 0:
            break
        _compact_storage(world.db)
    assert size == 0


def test_sqlite_file_and_wal_do_not_link(app, world, backend, settings):
    if backend != "sqlite":
        pytest.skip("SQLite storage detail")
    closed_history(app, world)
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    live = Path(str(path) + "-live")
    item, codes, receipts = cast_many(app, world, N - 3, api=3)
    cookies = schema_cookies(world)
    wal, live_wal = Path(str(path) + "-wal"), Path(str(live) + "-wal")
    assert live_wal.exists() and live_wal.stat().st_size > 0  # casts went through the WAL in commit order
    stored = idempotency_rows(world)
    assert len(stored) == 3
    world.close(item.id)
    assert idempotency_rows(world) == []
    for log in (wal, live_wal):
        assert not log.exists() or log.stat().st_size == 0
    # The history was not rewritten: a VACUUM adds one to a file's schema cookie (no close changes
    # the schema otherwise). The main file's stays, the live file's moved: only it was vacuumed.
    after = schema_cookies(world)
    assert after["main"] == cookies["main"] and after["live"] > cookies["live"]
    raw, raw_live = path.read_bytes(), live.read_bytes()
    for code in codes:
        for data in (raw, raw_live):
            assert code.encode() not in data and normalize_code(code).encode() not in data
    positions = []
    for receipt in receipts:
        encoded = receipt.encode()
        # The table record ends with the choices JSON and then the receipt; the unique index
        # holds the receipt once more (sorted). Anything beyond that would be a stale copy.
        table_hits = [m.start() for m in re.finditer(re.escape(b"}" + encoded), raw)]
        assert len(table_hits) == 1, receipt
        assert raw.count(encoded) == 2, receipt
        assert encoded not in raw_live, receipt  # the live store holds nothing of the item
        positions.append(table_hits[0])
    in_file_order = [r for _, r in sorted(zip(positions, receipts))]
    assert in_file_order != receipts
    for row in stored:  # the idempotency records: not a byte of them left
        for value in row:
            assert value.encode() not in raw and value.encode() not in raw_live, value


def schema_cookies(world) -> dict[str, int]:
    with world.db.read() as s:
        return {f: s.execute(text(f"PRAGMA {f}.schema_version")).scalar_one() for f in ("main", "live")}


def test_sealed_result_equals_the_cast(app, world):
    item, codes, receipts = cast_many(app, world)
    world.close(item.id)
    from ballot.meetings.results import item_result
    from ballot.storage.models import Item

    with world.db.read() as s:
        result = item_result(s, s.get(Item, item.id))
    row = result["rows"][0]
    assert (row["yes"], row["no"], row["abstain"]) == (4, 4, 4)
    assert result["counts"]["cast"] == N and result["counts"]["issued"] == N


def test_close_interrupted_between_its_steps_is_finished_later(app, world, settings):
    """A crash after the sealing transaction, before the live rows are purged: the item is closed
    and sealed, the stale live rows are read by nobody, no code can vote again, and the next
    start (a new Database, compact_pending as `ballot serve` does) finishes the close."""
    from conftest import ACTOR
    from sqlalchemy import func

    from ballot.meetings.results import item_result
    from ballot.meetings.sittings import cast_count, close_item
    from ballot.storage.db import Database
    from ballot.storage.models import Ballot, Item, LiveBallot, LiveSpend, Spend
    from ballot.voting import casting
    from ballot.voting.sealing import compact_pending

    item, codes, receipts = cast_many(app, world, n=6)
    with world.db.write() as s:
        close_item(s, ACTOR, item.id)  # step 1 only: the process dies before compact_pending

    def count(s, model):
        return s.execute(select(func.count()).where(model.item_id == item.id)).scalar_one()

    with world.db.read() as s:
        assert (count(s, Ballot), count(s, Spend), count(s, LiveBallot), count(s, LiveSpend)) == (6, 6, 6, 6)
        assert cast_count(s, item.id) == 6 and item_result(s, s.get(Item, item.id))["counts"]["cast"] == 6
        assert s.get(Item, item.id).compacted is False
    with world.db.write() as s:  # a code that voted, its spend still in the live store: refused
        credential = s.execute(select(LiveSpend.credential_id).where(LiveSpend.item_id == item.id)).first()[0]
        with pytest.raises(casting.NotOpen):
            casting.cast_ballot(s, credential, item.id, {"n0": "yes"}, "AAAA-BBBB")
    restarted = Database(settings.database_url)
    try:
        assert compact_pending(restarted) is True
        with restarted.read() as s:
            assert (count(s, Ballot), count(s, Spend), count(s, LiveBallot), count(s, LiveSpend)) == (6, 6, 0, 0)
            assert sorted(s.execute(select(Ballot.receipt).where(Ballot.item_id == item.id)).scalars()) == sorted(
                receipts
            )
            assert s.get(Item, item.id).compacted is True
    finally:
        restarted.dispose()


def test_a_database_copied_without_its_live_file_is_refused_while_a_vote_is_open(tmp_path, monkeypatch):
    """Only ballot.db brought back while an item is open: the service stops with the reason
    instead of making an empty live store that would drop the ballots already cast."""
    from click.testing import CliRunner

    from ballot.cli import main
    from ballot.storage.db import LiveStoreMissing

    monkeypatch.delenv("BALLOT_DATABASE_URL", raising=False)
    instance = tmp_path / "inst"
    run = CliRunner()
    assert run.invoke(main, ["init", "--instance", str(instance)]).exit_code == 0
    path = instance / "ballot.db"
    url = f"sqlite:///{path}"
    database = Database(url)
    world = World(Settings(instance_path=instance, database_url=url, master_secret=b"s" * 32), database)
    m = world.standard()
    database.dispose()
    Path(f"{path}-live").unlink()
    Database(url).dispose()  # nothing open: a new empty live store is fine
    database = Database(url)
    world = World(Settings(instance_path=instance, database_url=url, master_secret=b"s" * 32), database)
    world.present(m.groups[0].id, 11)
    world.open(m.items[0].id)
    database.dispose()
    Path(f"{path}-live").unlink()
    with pytest.raises(LiveStoreMissing):
        Database(f"sqlite:///{path}")
    r = run.invoke(main, ["db", "compact", "--instance", str(instance)])
    assert r.exit_code == 1 and "一起放回" in r.output and "Traceback" not in r.output
    assert not Path(f"{path}-live").exists()


def test_compaction_is_postponed_not_hung(app, world, backend, settings):
    if backend != "sqlite":
        pytest.skip("SQLite WAL detail")
    m, item, (code,) = world.ready(codes=1)
    phone = app.test_client()
    enter(phone, code)
    vote(phone, item.id, {"n0": "yes"})
    path = settings.database_url.removeprefix("sqlite:///")
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM ballots").fetchone()  # a long read holds the WAL
    from ballot.meetings.sittings import close_item

    with world.db.write() as s:
        close_item(s, ACTOR, item.id)
    started = time.monotonic()
    assert not (postponed := compact_pending(world.db)) and "数据库繁忙" in postponed.message
    assert time.monotonic() - started < 8
    with world.db.read() as s:
        assert s.get(Item, item.id).compacted is False
    reader.rollback()
    reader.close()
    assert compact_pending(world.db) is True
    with world.db.read() as s:
        assert s.get(Item, item.id).compacted is True
    wal = Path(path + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
