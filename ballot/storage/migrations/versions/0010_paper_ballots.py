"""Paper ballots: channel and invalid reason of a ballot, paper issued per item group,
double-entry batches

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('ballots', schema=None) as batch_op:
        batch_op.add_column(sa.Column('channel', sa.String(length=8), server_default='phone', nullable=False))
        batch_op.add_column(sa.Column('invalid_reason', sa.String(length=16), nullable=True))
        batch_op.alter_column('receipt', existing_type=sa.String(length=16), nullable=True)
    with op.batch_alter_table('item_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paper_issued', sa.Integer(), nullable=True))
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.add_column(sa.Column('paper_done', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        'paper_batches',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('group_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=12), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('counted_at', sa.DateTime(), nullable=True),
        sa.Column('settled_json', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['group_id'], ['voter_groups.id']),
        sa.ForeignKeyConstraint(['item_id'], ['items.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('item_id', 'group_id', 'number'),
    )
    op.create_index('ix_paper_batches_item_id', 'paper_batches', ['item_id'])
    op.create_table(
        'paper_entries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('batch_id', sa.Integer(), nullable=False),
        sa.Column('entry_no', sa.Integer(), nullable=False),
        sa.Column('teller', sa.String(length=64), nullable=False),
        sa.Column('lines_json', sa.Text(), nullable=False),
        sa.Column('submitted_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['batch_id'], ['paper_batches.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('batch_id', 'entry_no'),
    )
    op.create_index('ix_paper_entries_batch_id', 'paper_entries', ['batch_id'])


def downgrade() -> None:
    op.drop_index('ix_paper_entries_batch_id', table_name='paper_entries')
    op.drop_table('paper_entries')
    op.drop_index('ix_paper_batches_item_id', table_name='paper_batches')
    op.drop_table('paper_batches')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_column('paper_done')
    with op.batch_alter_table('item_groups', schema=None) as batch_op:
        batch_op.drop_column('paper_issued')
    with op.batch_alter_table('ballots', schema=None) as batch_op:
        batch_op.alter_column('receipt', existing_type=sa.String(length=16), nullable=False)
        batch_op.drop_column('invalid_reason')
        batch_op.drop_column('channel')
