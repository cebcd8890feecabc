"""Task reservations as columns (placement sums them), capacity kind of instances.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.add_column(
            sa.Column("reserved_cpu", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("reserved_memory", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("reserved_ports", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("client_token", sa.String(length=64), nullable=True))
    with op.batch_alter_table("container_instances") as batch:
        batch.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="EC2")
        )


def downgrade() -> None:
    with op.batch_alter_table("container_instances") as batch:
        batch.drop_column("kind")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("client_token")
        batch.drop_column("reserved_ports")
        batch.drop_column("reserved_memory")
        batch.drop_column("reserved_cpu")
