"""Placement: a covering index for the per-instance sums, a fleet's look-up of the
tasks waiting for it, and one epoch row per capacity pool.

Revision ID: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "placement_epochs",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("pool", sa.String(length=255), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "region", "pool"),
    )
    op.create_index(
        "ix_tasks_placement",
        "tasks",
        [
            "account_id",
            "region",
            "cluster",
            "container_instance_id",
            "group_name",
            "last_status",
            "reserved_cpu",
            "reserved_memory",
            "reserved_ports",
        ],
    )
    op.drop_index("ix_tasks_cluster_status", table_name="tasks")
    op.create_index(
        "ix_tasks_cluster_status",
        "tasks",
        ["account_id", "region", "cluster", "desired_status", "last_status"],
    )


def downgrade() -> None:
    op.drop_index("ix_tasks_cluster_status", table_name="tasks")
    op.create_index(
        "ix_tasks_cluster_status", "tasks", ["account_id", "region", "cluster", "desired_status"]
    )
    op.drop_index("ix_tasks_placement", table_name="tasks")
    op.drop_table("placement_epochs")
