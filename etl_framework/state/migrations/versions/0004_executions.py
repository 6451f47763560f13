"""Executions (dpo), their steps and model checksums; run fingerprints and skip reasons.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("etl_runs", sa.Column("fingerprint", sa.String(64)))
    op.add_column("etl_runs", sa.Column("skip_reason", sa.Text()))
    op.create_table(
        "etl_executions",
        sa.Column("execution_id", sa.String(36), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_etl_executions_status", "etl_executions", ["status"])
    op.create_table(
        "etl_execution_steps",
        sa.Column("step_id", sa.String(36), primary_key=True),
        sa.Column(
            "execution_id",
            sa.String(36),
            sa.ForeignKey("etl_executions.execution_id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("base_path", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("completed_at", sa.DateTime(timezone=True)),
        sa.Column("rows_processed", sa.BigInteger()),
        sa.UniqueConstraint("execution_id", "name", name="uq_etl_execution_steps_name"),
    )
    op.create_index(
        "ix_etl_execution_steps_execution_id", "etl_execution_steps", ["execution_id"]
    )
    op.create_table(
        "etl_model_checksums",
        sa.Column(
            "step_id",
            sa.String(36),
            sa.ForeignKey("etl_execution_steps.step_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("model", sa.String(255), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("etl_model_checksums")
    op.drop_table("etl_execution_steps")
    op.drop_table("etl_executions")
    # Not recreated in batch mode: on SQLite with foreign keys on, recreating etl_runs
    # would drop it, and the drop would cascade to etl_run_steps. A plain DROP COLUMN
    # (SQLite 3.35+, PostgreSQL) keeps every row.
    with op.batch_alter_table("etl_runs", recreate="never") as batch:
        batch.drop_column("skip_reason")
        batch.drop_column("fingerprint")
