"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

from ballot.storage.migrations.triggers import create_audit_triggers, drop_audit_triggers

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=True),
    sa.Column('detail_json', sa.Text(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('ballots',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('valid', sa.Boolean(), nullable=False),
    sa.Column('choices_json', sa.Text(), nullable=False),
    sa.Column('receipt', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ballots')),
    sa.UniqueConstraint('item_id', 'receipt', name=op.f('uq_ballots_item_id')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('ballots', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ballots_item_id'), ['item_id'], unique=False)

    op.create_table('meetings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('date', sa.String(length=32), nullable=False),
    sa.Column('location', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_meetings'))
    )
    op.create_table('spends',
    sa.Column('credential_id', sa.String(length=32), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('credential_id', 'item_id', name=op.f('pk_spends')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('spends', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_spends_item_id'), ['item_id'], unique=False)

    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('display_name', sa.String(length=64), nullable=False),
    sa.Column('password_hash', sa.String(length=256), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('username', name=op.f('uq_users_username'))
    )
    op.create_table('items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('config_json', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('frozen', sa.Boolean(), nullable=False),
    sa.Column('opened_at', sa.DateTime(), nullable=True),
    sa.Column('closed_at', sa.DateTime(), nullable=True),
    sa.Column('withdrawn_reason', sa.Text(), nullable=True),
    sa.Column('replaces_id', sa.Integer(), nullable=True),
    sa.Column('closed_counts_json', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_items_meeting_id_meetings')),
    sa.ForeignKeyConstraint(['replaces_id'], ['items.id'], name=op.f('fk_items_replaces_id_items')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_items'))
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_items_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('voter_groups',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('expected', sa.Integer(), nullable=False),
    sa.Column('present', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_voter_groups_meeting_id_meetings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_voter_groups')),
    sa.UniqueConstraint('meeting_id', 'name', name=op.f('uq_voter_groups_meeting_id'))
    )
    with op.batch_alter_table('voter_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_voter_groups_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('issue_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('created_by', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['voter_groups.id'], name=op.f('fk_issue_batches_group_id_voter_groups')),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_issue_batches_meeting_id_meetings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_issue_batches'))
    )
    with op.batch_alter_table('issue_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_issue_batches_meeting_id'), ['meeting_id'], unique=False)

    op.create_table('item_groups',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['voter_groups.id'], name=op.f('fk_item_groups_group_id_voter_groups')),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], name=op.f('fk_item_groups_item_id_items')),
    sa.PrimaryKeyConstraint('item_id', 'group_id', name=op.f('pk_item_groups'))
    )
    op.create_table('credentials',
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('meeting_id', sa.Integer(), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('batch_id', sa.Integer(), nullable=False),
    sa.Column('voided', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['batch_id'], ['issue_batches.id'], name=op.f('fk_credentials_batch_id_issue_batches')),
    sa.ForeignKeyConstraint(['group_id'], ['voter_groups.id'], name=op.f('fk_credentials_group_id_voter_groups')),
    sa.ForeignKeyConstraint(['meeting_id'], ['meetings.id'], name=op.f('fk_credentials_meeting_id_meetings')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credentials')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_credentials_code_hash')),
    sqlite_with_rowid=False
    )
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_credentials_group_id'), ['group_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_credentials_meeting_id'), ['meeting_id'], unique=False)
    create_audit_triggers(op.get_bind())


def downgrade() -> None:
    drop_audit_triggers(op.get_bind())
    with op.batch_alter_table('credentials', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_credentials_meeting_id'))
        batch_op.drop_index(batch_op.f('ix_credentials_group_id'))

    op.drop_table('credentials')
    op.drop_table('item_groups')
    with op.batch_alter_table('issue_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_issue_batches_meeting_id'))

    op.drop_table('issue_batches')
    with op.batch_alter_table('voter_groups', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_voter_groups_meeting_id'))

    op.drop_table('voter_groups')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_items_meeting_id'))

    op.drop_table('items')
    op.drop_table('users')
    with op.batch_alter_table('spends', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_spends_item_id'))

    op.drop_table('spends')
    op.drop_table('meetings')
    with op.batch_alter_table('ballots', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ballots_item_id'))

    op.drop_table('ballots')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_meeting_id'))

    op.drop_table('audit_log')
