"""CloudWatch Logs: log groups, log streams and their events.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("kms_key_id", sa.String(length=256), nullable=True),
        sa.Column("log_group_class", sa.String(length=32), nullable=False),
        sa.Column("deletion_protection", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "region", "name", name="uq_log_groups_name"),
    )
    op.create_table(
        "log_streams",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("first_event_ts", sa.BigInteger(), nullable=True),
        sa.Column("last_event_ts", sa.BigInteger(), nullable=False),
        sa.Column("last_ingestion_time", sa.BigInteger(), nullable=True),
        sa.Column("upload_sequence", sa.BigInteger(), nullable=False),
        sa.Column("next_seq", sa.BigInteger(), nullable=False),
        sa.Column("event_count", sa.BigInteger(), nullable=False),
        sa.Column("stored_bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("group_id", "name", name="uq_log_streams_name"),
    )
    op.create_index(
        "ix_log_streams_last_event",
        "log_streams",
        ["group_id", "last_event_ts", "name"],
        unique=False,
    )
    op.create_table(
        "log_events",
        sa.Column("stream_id", sa.Integer(), nullable=False),
        sa.Column("timestamp", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("ingestion_time", sa.BigInteger(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "timestamp", "seq"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_log_events_group_time",
        "log_events",
        ["group_id", "timestamp", "stream_id", "seq"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_log_events_group_time", table_name="log_events")
    op.drop_table("log_events")
    op.drop_index("ix_log_streams_last_event", table_name="log_streams")
    op.drop_table("log_streams")
    op.drop_table("log_groups")
