"""Run ledger: runs, steps, leases.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "etl_runs",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("transfer", sa.String(100), nullable=False),
        sa.Column("execution_date", sa.Date(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("window_start", sa.Date()),
        sa.Column("window_end", sa.Date()),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("rows_read", sa.BigInteger(), nullable=False),
        sa.Column("rows_written", sa.BigInteger(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.Column("exit_code", sa.Integer()),
        sa.Column("config_checksum", sa.String(64)),
        sa.Column("code_version", sa.String(64)),
        sa.Column("image_tag", sa.String(255)),
        sa.Column("host", sa.String(255)),
        sa.Column("pid", sa.Integer()),
        sa.Column("metrics", sa.JSON()),
    )
    op.create_index("ix_etl_runs_transfer", "etl_runs", ["transfer"])
    op.create_index("ix_etl_runs_status", "etl_runs", ["status"])
    op.create_index("ix_etl_runs_transfer_status", "etl_runs", ["transfer", "status"])
    op.create_table(
        "etl_run_steps",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "run_id", sa.String(36), sa.ForeignKey("etl_runs.run_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("step", sa.String(64), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
    )
    op.create_index("ix_etl_run_steps_run_id", "etl_run_steps", ["run_id"])
    op.create_table(
        "etl_leases",
        sa.Column("run_id", sa.String(36), primary_key=True),
        sa.Column("transfer", sa.String(100), nullable=False),
        sa.Column("window_start", sa.Date()),
        sa.Column("window_end", sa.Date()),
        sa.Column("exclusive", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("acquired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_etl_leases_transfer", "etl_leases", ["transfer"])


def downgrade() -> None:
    op.drop_table("etl_leases")
    op.drop_table("etl_run_steps")
    op.drop_table("etl_runs")
