"""Steps record their status and the rows read and written during them.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: a plain ADD COLUMN on PostgreSQL and SQLite alike.
    op.add_column("etl_run_steps", sa.Column("status", sa.String(16)))
    op.add_column("etl_run_steps", sa.Column("rows_read", sa.BigInteger()))
    op.add_column("etl_run_steps", sa.Column("rows_written", sa.BigInteger()))


def downgrade() -> None:
    with op.batch_alter_table("etl_run_steps") as batch:
        batch.drop_column("rows_written")
        batch.drop_column("rows_read")
        batch.drop_column("status")
