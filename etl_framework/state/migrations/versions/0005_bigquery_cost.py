"""Steps record what their BigQuery jobs cost: job and load-job counts, bytes, slot-ms.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COLUMNS = (
    ("bq_jobs", sa.Integer()),
    ("bq_load_jobs", sa.Integer()),
    ("bq_bytes_processed", sa.BigInteger()),
    ("bq_bytes_billed", sa.BigInteger()),
    ("bq_slot_ms", sa.BigInteger()),
)


def upgrade() -> None:
    # Nullable columns: a plain ADD COLUMN on PostgreSQL and SQLite alike; NULL in the
    # rows of earlier runs (and of steps that ran no BigQuery job).
    for name, type_ in COLUMNS:
        op.add_column("etl_run_steps", sa.Column(name, type_))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+, PostgreSQL), never a rebuilt table: every
    # step row is kept.
    with op.batch_alter_table("etl_run_steps", recreate="never") as batch:
        for name, _type in reversed(COLUMNS):
            batch.drop_column(name)
