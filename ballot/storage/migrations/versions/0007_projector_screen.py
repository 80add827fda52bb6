"""projector screen: key, shown item, reveal flag, state version

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('screen_key_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('screen_item_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('screen_reveal', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('state_version', sa.Integer(), server_default='0', nullable=False))
        batch_op.create_unique_constraint(batch_op.f('uq_meetings_screen_key_hash'), ['screen_key_hash'])


def downgrade() -> None:
    with op.batch_alter_table('meetings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_meetings_screen_key_hash'), type_='unique')
        batch_op.drop_column('state_version')
        batch_op.drop_column('screen_reveal')
        batch_op.drop_column('screen_item_id')
        batch_op.drop_column('screen_key_hash')
