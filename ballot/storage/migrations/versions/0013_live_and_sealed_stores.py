"""the live store: ballots, spends and idempotency records of open items apart from sealed ones

Open items' phone ballots and spends move into schema `live` (PostgreSQL: a schema; SQLite: the
file `<database>-live`, attached as `live`); closed items' rows stay sealed where they are. The
API's idempotency records (open items only) move there whole. Paper ballots stay sealed.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""
import sqlalchemy as sa
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

OPEN_ITEMS = "SELECT id FROM items WHERE status = 'open'"
BALLOT_COLUMNS = "id, item_id, group_id, valid, choices_json, receipt, channel, invalid_reason"


def _idempotency_table(schema):
    op.create_table('api_idempotency',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('request_digest', sa.String(length=64), nullable=False),
    sa.Column('sealed_receipt', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_idempotency')),
    schema=schema,
    sqlite_with_rowid=False
    )
    name = 'ix_live_api_idempotency_item_id' if schema else 'ix_api_idempotency_item_id'
    op.create_index(op.f(name), 'api_idempotency', ['item_id'], unique=False, schema=schema)


def upgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("CREATE SCHEMA IF NOT EXISTS live")
    op.create_table('ballots',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('choices_json', sa.Text(), nullable=False),
    sa.Column('receipt', sa.String(length=16), nullable=True),
    sa.Column('channel', sa.String(length=8), server_default='phone', nullable=False),
    sa.Column('invalid_reason', sa.String(length=16), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ballots')),
    sa.UniqueConstraint('item_id', 'receipt', name=op.f('uq_ballots_item_id')),
    schema='live',
    sqlite_with_rowid=False
    )
    op.create_index(op.f('ix_live_ballots_item_id'), 'ballots', ['item_id'], unique=False, schema='live')
    op.create_table('spends',
    sa.Column('credential_id', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('credential_id', 'item_id', name=op.f('pk_spends')),
    schema='live',
    sqlite_with_rowid=False
    )
    op.create_index(op.f('ix_live_spends_item_id'), 'spends', ['item_id'], unique=False, schema='live')
    _idempotency_table('live')
    # open items' phone ballots and spends become live; paper ballots and closed items stay sealed
    op.execute(f"INSERT INTO live.ballots ({BALLOT_COLUMNS}) SELECT {BALLOT_COLUMNS} FROM ballots "
               f"WHERE item_id IN ({OPEN_ITEMS}) AND channel <> 'paper'")
    op.execute(f"DELETE FROM ballots WHERE item_id IN ({OPEN_ITEMS}) AND channel <> 'paper'")
    op.execute(f"INSERT INTO live.spends (credential_id, item_id) SELECT credential_id, item_id FROM spends "
               f"WHERE item_id IN ({OPEN_ITEMS})")
    op.execute(f"DELETE FROM spends WHERE item_id IN ({OPEN_ITEMS})")
    op.execute("INSERT INTO live.api_idempotency SELECT id, item_id, request_digest, sealed_receipt "
               "FROM api_idempotency")
    op.drop_index(op.f('ix_api_idempotency_item_id'), table_name='api_idempotency')
    op.drop_table('api_idempotency')
    _rekey_sealed_spends(('item_id', 'credential_id'), index=False)


def _rekey_sealed_spends(key, index):
    """Sealed spends keyed by item first (a close appends at the end of the key order), or back."""
    postgresql = op.get_bind().dialect.name == 'postgresql'
    op.create_table('spends_rekeyed',
    sa.Column('credential_id', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint(*key, name='pk_spends_rekeyed' if postgresql else 'pk_spends'),
    sqlite_with_rowid=False
    )
    op.execute("INSERT INTO spends_rekeyed (credential_id, item_id) SELECT credential_id, item_id FROM spends")
    op.drop_table('spends')
    op.rename_table('spends_rekeyed', 'spends')
    if postgresql:  # constraint names are per schema there
        op.execute("ALTER TABLE spends RENAME CONSTRAINT pk_spends_rekeyed TO pk_spends")
    if index:
        op.create_index(op.f('ix_spends_item_id'), 'spends', ['item_id'], unique=False)


def downgrade() -> None:
    _rekey_sealed_spends(('credential_id', 'item_id'), index=True)
    _idempotency_table(None)
    op.execute("INSERT INTO api_idempotency SELECT id, item_id, request_digest, sealed_receipt "
               "FROM live.api_idempotency")
    op.execute(f"INSERT INTO ballots ({BALLOT_COLUMNS}) SELECT {BALLOT_COLUMNS} FROM live.ballots")
    op.execute("INSERT INTO spends (credential_id, item_id) SELECT credential_id, item_id FROM live.spends")
    op.drop_index(op.f('ix_live_api_idempotency_item_id'), table_name='api_idempotency', schema='live')
    op.drop_table('api_idempotency', schema='live')
    op.drop_index(op.f('ix_live_spends_item_id'), table_name='spends', schema='live')
    op.drop_table('spends', schema='live')
    op.drop_index(op.f('ix_live_ballots_item_id'), table_name='ballots', schema='live')
    op.drop_table('ballots', schema='live')
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP SCHEMA IF EXISTS live")
