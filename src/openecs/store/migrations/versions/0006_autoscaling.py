"""Application Auto Scaling: scalable targets, scaling policies, scheduled actions,
scaling activities.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scalable_targets",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("namespace", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=1600), nullable=False),
        sa.Column("dimension", sa.String(length=64), nullable=False),
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "account_id",
            "region",
            "namespace",
            "resource_id",
            "dimension",
            name="uq_scalable_targets",
        ),
    )
    for table, unique in (
        ("scaling_policies", "uq_scaling_policies_name"),
        ("scheduled_actions", "uq_scheduled_actions_name"),
    ):
        op.create_table(
            table,
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("target_id", sa.Integer(), nullable=False),
            sa.Column("name", sa.String(length=256), nullable=False),
            sa.Column("arn", sa.String(length=2048), nullable=False),
            sa.Column("created_at", sa.Float(), nullable=False),
            sa.Column("doc", sa.Text(), nullable=False),
            sa.ForeignKeyConstraint(["target_id"], ["scalable_targets.id"]),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("target_id", "name", name=unique),
        )
    op.create_table(
        "scaling_activities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("namespace", sa.String(length=32), nullable=False),
        sa.Column("resource_id", sa.String(length=1600), nullable=False),
        sa.Column("activity_id", sa.String(length=64), nullable=False),
        sa.Column("start_time", sa.Float(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_scaling_activities_resource",
        "scaling_activities",
        ["account_id", "region", "namespace", "resource_id", "start_time"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_scaling_activities_resource", table_name="scaling_activities")
    op.drop_table("scaling_activities")
    op.drop_table("scheduled_actions")
    op.drop_table("scaling_policies")
    op.drop_table("scalable_targets")
