"""organization units, per-meeting roles; existing data goes to one default unit

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

DEFAULT_UNIT = "本单位"  # renamed by `ballot init` from BALLOT_UNIT_NAME, or on the 单位 page


def _unit_column(table: str) -> None:
    """A NOT NULL unit column filled with the default unit (added nullable, filled, then tightened)."""
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.add_column(sa.Column('unit_id', sa.Integer(), nullable=True))
    op.get_bind().execute(sa.text(f"UPDATE {table} SET unit_id = (SELECT min(id) FROM units)"))
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.alter_column('unit_id', existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(batch_op.f(f'fk_{table}_unit_id_units'), 'units', ['unit_id'], ['id'])
        batch_op.create_index(batch_op.f(f'ix_{table}_unit_id'), ['unit_id'], unique=False)


def upgrade() -> None:
    op.create_table('units',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['parent_id'], ['units.id'], name=op.f('fk_units_parent_id_units')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_units')),
    sa.UniqueConstraint('name', name=op.f('uq_units_name'))
    )
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    op.get_bind().execute(
        sa.text("INSERT INTO units (name, parent_id, created_at) VALUES (:name, NULL, :now)"),
        {"name": DEFAULT_UNIT, "now": now},
    )
    for table in ('users', 'meetings', 'api_tokens'):
        _unit_column(table)
    op.create_table('meeting_roles',
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_meeting_roles_meeting_id_meetings')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_meeting_roles_user_id_users')),
    sa.PrimaryKeyConstraint('meeting_id', 'user_id', 'role', name=op.f('pk_meeting_roles'))
    )
    # plain ALTER TABLE (no batch): rebuilding audit_log would drop its append-only triggers;
    # earlier entries keep no unit, so their hashes (which cover the unit only when set) still hold
    op.add_column('audit_log', sa.Column('unit_id', sa.Integer(), nullable=True))
    op.create_index(op.f('ix_audit_log_unit_id'), 'audit_log', ['unit_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_audit_log_unit_id'), table_name='audit_log')
    if op.get_bind().dialect.name == "sqlite":
        # SQLite drops a column by rebuilding the table: the triggers go with it and come back
        from ballot.storage.migrations.triggers import create_audit_triggers, drop_audit_triggers

        drop_audit_triggers(op.get_bind())
        with op.batch_alter_table('audit_log', schema=None) as batch_op:
            batch_op.drop_column('unit_id')
        create_audit_triggers(op.get_bind())
    else:
        op.drop_column('audit_log', 'unit_id')
    op.drop_table('meeting_roles')
    for table in ('api_tokens', 'meetings', 'users'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f'ix_{table}_unit_id'))
            batch_op.drop_constraint(batch_op.f(f'fk_{table}_unit_id_units'), type_='foreignkey')
            batch_op.drop_column('unit_id')
    op.drop_table('units')
