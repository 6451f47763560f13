"""The orchestrator's run id of a run (Airflow's ``run_id``), when it has one.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("etl_runs", sa.Column("orchestrator_run_id", sa.String(250)))


def downgrade() -> None:
    # A plain DROP COLUMN (SQLite 3.35+, PostgreSQL), as in 0004: recreating etl_runs
    # on SQLite would cascade to etl_run_steps.
    with op.batch_alter_table("etl_runs", recreate="never") as batch:
        batch.drop_column("orchestrator_run_id")
