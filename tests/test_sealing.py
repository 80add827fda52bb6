"""After close, nothing in the stored data links a ballot to a code (DESIGN §3).

Before close the link is really there (same transaction id, insertion order), which is what
makes these checks meaningful; after close it is gone: on PostgreSQL every ballot and spend of
the item carries one `xmin` and `ctid` follows a shuffled order; on SQLite the WAL is empty,
no stale copy of any ballot is left in the file, and the file order is not the cast order.
The API's idempotency records (a code's key → its receipt while the item is open) are gone too:
no row, no dead tuple, no byte of them in the SQLite file.
"""

import re
from pathlib import Path

import pytest
from sqlalchemy import text
from voting import enter, vote

from ballot.codes import normalize_code
from ballot.sealing import _compact_storage

N = 12


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
        return [tuple(r) for r in s.execute(text("SELECT id, request_digest, sealed_receipt FROM api_idempotency"))]


def test_postgresql_xmin_and_ctid_do_not_link(app, world, backend):
    if backend != "postgresql":
        pytest.skip("PostgreSQL storage detail")
    item, codes, receipts = cast_many(app, world, N - 3, api=3)
    assert len(idempotency_rows(world)) == 3
    q_ballots = text("SELECT xmin::text AS x, ctid::text AS c, receipt FROM ballots WHERE item_id = :i")
    q_spends = text("SELECT xmin::text AS x FROM spends WHERE item_id = :i")
    with world.db.read() as s:
        before_b = {r.x for r in s.execute(q_ballots, {"i": item.id})}
        before_s = {r.x for r in s.execute(q_spends, {"i": item.id})}
    assert len(before_b) == N and before_b == before_s  # each ballot shares its spend's xmin
    world.close(item.id)
    with world.db.read() as s:
        rows = list(s.execute(q_ballots, {"i": item.id}))
        spends = {r.x for r in s.execute(q_spends, {"i": item.id})}
    assert len({r.x for r in rows}) == 1 and len(spends) == 1
    assert {r.x for r in rows} == spends  # one rewrite transaction for all of them
    assert sorted(r.receipt for r in rows) == sorted(receipts)
    by_position = [r.receipt for r in sorted(rows, key=lambda r: tuple(map(int, r.c.strip("()").split(","))))]
    assert by_position != receipts  # physical order is not cast order (chance 1/12! of a false alarm)
    assert idempotency_rows(world) == []
    # Rewritten by VACUUM FULL: no dead tuple of a deleted record remains. A snapshot older than the
    # close anywhere on the cluster (a shared test cluster: other sessions connecting) keeps
    # "recently dead" tuples in the copy, so compact again until none is left (bounded).
    for _ in range(50):
        with world.db.read() as s:
            size = s.execute(text("SELECT pg_relation_size('api_idempotency')")).scalar_one()
        if size == 0:
            break
        _compact_storage(world.db)
    assert size == 0


def test_sqlite_file_and_wal_do_not_link(app, world, backend, settings):
    if backend != "sqlite":
        pytest.skip("SQLite storage detail")
    item, codes, receipts = cast_many(app, world, N - 3, api=3)
    path = Path(settings.database_url.removeprefix("sqlite:///"))
    wal = Path(str(path) + "-wal")
    assert wal.exists() and wal.stat().st_size > 0  # casts went through the WAL in commit order
    stored = idempotency_rows(world)
    assert len(stored) == 3
    world.close(item.id)
    assert idempotency_rows(world) == []
    assert not wal.exists() or wal.stat().st_size == 0
    raw = path.read_bytes()
    for code in codes:
        assert code.encode() not in raw and normalize_code(code).encode() not in raw
    positions = []
    for receipt in receipts:
        encoded = receipt.encode()
        # The table record ends with the choices JSON and then the receipt; the unique index
        # holds the receipt once more (sorted). Anything beyond that would be a stale copy.
        table_hits = [m.start() for m in re.finditer(re.escape(b"}" + encoded), raw)]
        assert len(table_hits) == 1, receipt
        assert raw.count(encoded) == 2, receipt
        positions.append(table_hits[0])
    in_file_order = [r for _, r in sorted(zip(positions, receipts))]
    assert in_file_order != receipts
    for row in stored:  # the idempotency records: not a byte of them left
        for value in row:
            assert value.encode() not in raw, value


def test_sealed_result_equals_the_cast(app, world):
    item, codes, receipts = cast_many(app, world)
    world.close(item.id)
    from ballot.meetings import item_result
    from ballot.models import Item

    with world.db.read() as s:
        result = item_result(s, s.get(Item, item.id))
    row = result["rows"][0]
    assert (row["yes"], row["no"], row["abstain"]) == (4, 4, 4)
    assert result["counts"]["cast"] == N and result["counts"]["issued"] == N
