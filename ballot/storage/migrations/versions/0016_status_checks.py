"""statuses are one of their known values: CHECK constraints on items, item_groups, paper_batches, slip_jobs

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""
from alembic import op


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# The values as they stand at this revision (the models' StrEnums may grow; a later revision says so).
CHECKS = (
    ('items', 'status', ('draft', 'open', 'closed', 'withdrawn')),
    ('item_groups', 'state', ('waiting', 'open', 'closed')),
    ('paper_batches', 'status', ('entering', 'mismatch', 'counted')),
    ('slip_jobs', 'status', ('running', 'done', 'failed')),
)


def upgrade() -> None:
    # SQLite: batch mode recreates each table with its constraint (none of them is WITHOUT ROWID,
    # and the audit log's triggers are on audit_log, untouched)
    for table, column, values in CHECKS:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_check_constraint(
                op.f(f'ck_{table}_{column}'), f"{column} IN ({', '.join(repr(v) for v in values)})"
            )


def downgrade() -> None:
    for table, column, _values in reversed(CHECKS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(op.f(f'ck_{table}_{column}'), type_='check')
