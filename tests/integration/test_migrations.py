"""Alembic migrations produce exactly the models' schema, and run down and up again."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from ballot.storage.db import attach_live_on_connect
from ballot.storage.migrate import downgrade, upgrade
from ballot.storage.models import Base


def _our_schemas(name, type_, _parent) -> bool:
    return type_ != "schema" or name in (None, "live")


def _diff(url):
    engine = create_engine(url)
    attach_live_on_connect(engine)  # SQLite: the live store is an attached file
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_schemas": True, "include_name": _our_schemas})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def test_head_equals_models(db_url):
    assert _diff(db_url) == []


def test_down_and_up_again(db_url):
    downgrade(db_url, "base")
    engine = create_engine(db_url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(db_url)
    assert _diff(db_url) == []


def test_anonymity_tables_have_no_rowid_on_sqlite(db_url, backend):
    if backend != "sqlite":
        pytest.skip("SQLite storage detail")
    engine = create_engine(db_url)
    with engine.connect() as conn:
        for table in ("ballots", "spends", "credentials"):
            sql = conn.execute(text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}).scalar_one()
            assert "WITHOUT ROWID" in sql
        conn.exec_driver_sql(f"ATTACH DATABASE '{db_url.removeprefix('sqlite:///')}-live' AS live")
        for table in ("ballots", "spends", "api_idempotency"):  # the live store's
            sql = conn.execute(text("SELECT sql FROM live.sqlite_master WHERE name = :t"), {"t": table}).scalar_one()
            assert "WITHOUT ROWID" in sql
    engine.dispose()


def test_ballot_table_has_no_link_columns(db_url):
    engine = create_engine(db_url)
    columns = {c["name"] for c in inspect(engine).get_columns("ballots")}
    engine.dispose()
    # channel (phone | paper) and the reason a paper ballot is 无效: neither links to a voter
    assert columns == {"id", "item_id", "group_id", "valid", "choices_json", "receipt", "channel", "invalid_reason"}
    spend_columns = {c["name"] for c in inspect(create_engine(db_url)).get_columns("spends")}
    assert spend_columns == {"credential_id", "item_id"}


def test_statuses_are_checked_by_the_database(db_url):
    """Each status column refuses a value outside its enum (migration 0016, models' _one_of)."""
    engine = create_engine(db_url)
    inspector = inspect(engine)
    found = {t: {c["name"] for c in inspector.get_check_constraints(t)} for t in ("items", "item_groups", "paper_batches", "slip_jobs")}
    engine.dispose()
    assert found == {
        "items": {"ck_items_status"},
        "item_groups": {"ck_item_groups_state"},
        "paper_batches": {"ck_paper_batches_status"},
        "slip_jobs": {"ck_slip_jobs_status"},
    }
