"""Staff session generation (ends a user's other sessions), failed attempts shared by workers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.add_column(sa.Column('session_generation', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'failed_attempts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('limiter', sa.String(length=16), nullable=False),
        sa.Column('client', sa.String(length=32), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_failed_attempts')),
    )
    op.create_index('ix_failed_attempts_limiter_client_at', 'failed_attempts', ['limiter', 'client', 'at'])
    op.create_index('ix_failed_attempts_limiter_at', 'failed_attempts', ['limiter', 'at'])


def downgrade() -> None:
    op.drop_index('ix_failed_attempts_limiter_at', table_name='failed_attempts')
    op.drop_index('ix_failed_attempts_limiter_client_at', table_name='failed_attempts')
    op.drop_table('failed_attempts')
    with op.batch_alter_table('users', schema=None) as batch_op:
        batch_op.drop_column('session_generation')
