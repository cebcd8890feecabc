"""Metrics: 10-second datapoints (sum, count, min, max per series and period).

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_datapoints",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("namespace", sa.String(length=255), nullable=False),
        sa.Column("metric", sa.String(length=255), nullable=False),
        sa.Column("dimensions", sa.String(length=1024), nullable=False),
        sa.Column("period_start", sa.BigInteger(), nullable=False),
        sa.Column("sum", sa.Float(), nullable=False),
        sa.Column("sample_count", sa.Integer(), nullable=False),
        sa.Column("minimum", sa.Float(), nullable=False),
        sa.Column("maximum", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint(
            "account_id", "region", "namespace", "metric", "dimensions", "period_start"
        ),
    )
    op.create_index(
        "ix_metric_datapoints_period", "metric_datapoints", ["period_start"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_metric_datapoints_period", table_name="metric_datapoints")
    op.drop_table("metric_datapoints")
