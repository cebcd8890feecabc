"""Application load balancing: load balancers, target groups, listeners, rules, the
target groups rules forward to, and registered targets.

Revision ID: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "load_balancers",
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("arn"),
        sa.UniqueConstraint("account_id", "region", "name", name="uq_load_balancers_name"),
    )
    op.create_table(
        "target_groups",
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("arn"),
        sa.UniqueConstraint("account_id", "region", "name", name="uq_target_groups_name"),
    )
    op.create_table(
        "listeners",
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("load_balancer_arn", sa.String(length=2048), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["load_balancer_arn"], ["load_balancers.arn"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("arn"),
        sa.UniqueConstraint("load_balancer_arn", "port", name="uq_listeners_port"),
    )
    op.create_table(
        "rules",
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("listener_arn", sa.String(length=2048), nullable=False),
        sa.Column("load_balancer_arn", sa.String(length=2048), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("doc", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["listener_arn"], ["listeners.arn"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("arn"),
    )
    op.create_index("ix_rules_listener", "rules", ["listener_arn", "priority"])
    op.create_table(
        "rule_target_groups",
        sa.Column("rule_arn", sa.String(length=2048), nullable=False),
        sa.Column("target_group_arn", sa.String(length=2048), nullable=False),
        sa.ForeignKeyConstraint(["rule_arn"], ["rules.arn"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["target_group_arn"], ["target_groups.arn"]),
        sa.PrimaryKeyConstraint("rule_arn", "target_group_arn"),
    )
    op.create_index(
        "ix_rule_target_groups_target_group", "rule_target_groups", ["target_group_arn"]
    )
    op.create_table(
        "targets",
        sa.Column("target_group_arn", sa.String(length=2048), nullable=False),
        sa.Column("target_id", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=255), nullable=False),
        sa.Column("availability_zone", sa.String(length=64), nullable=True),
        sa.Column("registered_at", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("description", sa.String(length=1024), nullable=True),
        sa.Column("draining_until", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["target_group_arn"], ["target_groups.arn"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("target_group_arn", "target_id", "port"),
    )


def downgrade() -> None:
    op.drop_table("targets")
    op.drop_index("ix_rule_target_groups_target_group", table_name="rule_target_groups")
    op.drop_table("rule_target_groups")
    op.drop_index("ix_rules_listener", table_name="rules")
    op.drop_table("rules")
    op.drop_table("listeners")
    op.drop_table("target_groups")
    op.drop_table("load_balancers")
