"""per-group state of an item (groups that vote at different sittings)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('item_groups', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sa.String(length=8), server_default='waiting', nullable=False))
    # items already open or closed: every group shares the item's state
    op.execute("UPDATE item_groups SET state = 'open' WHERE item_id IN (SELECT id FROM items WHERE status = 'open')")
    op.execute(
        "UPDATE item_groups SET state = 'closed' WHERE item_id IN "
        "(SELECT id FROM items WHERE status IN ('closed', 'withdrawn') AND opened_at IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table('item_groups', schema=None) as batch_op:
        batch_op.drop_column('state')
