"""Cost accounting: usage records of expired tasks and deregistered instances.

Revision ID: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "usage_records",
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("cluster", sa.String(length=255), nullable=False),
        sa.Column("group_name", sa.String(length=255), nullable=True),
        sa.Column("begin_at", sa.Float(), nullable=False),
        sa.Column("end_at", sa.Float(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("kind", "resource_id"),
    )
    op.create_index(
        "ix_usage_records_window", "usage_records", ["account_id", "region", "kind", "end_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_usage_records_window", table_name="usage_records")
    op.drop_table("usage_records")
