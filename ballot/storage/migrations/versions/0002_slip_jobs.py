"""slip jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
import sqlalchemy as sa
from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('slip_jobs',
    sa.Column('token', sa.String(length=32), nullable=False),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('pages_total', sa.Integer(), nullable=False),
    sa.Column('pages_done', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['group_id'], ['voter_groups.id'], name=op.f('fk_slip_jobs_group_id_voter_groups')),
    sa.PrimaryKeyConstraint('token', name=op.f('pk_slip_jobs'))
    )


def downgrade() -> None:
    op.drop_table('slip_jobs')
