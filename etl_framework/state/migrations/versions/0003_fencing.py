"""Fencing tokens, target keys, liveness takeover and recorded staging tables.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable columns: a plain ADD COLUMN on PostgreSQL and SQLite alike. A lease
    # without a token was taken by an older version: only its TTL can free it.
    op.add_column("etl_runs", sa.Column("fence_token", sa.BigInteger()))
    op.add_column("etl_runs", sa.Column("taken_over_by", sa.String(36)))
    op.add_column("etl_leases", sa.Column("fence_token", sa.BigInteger()))
    op.add_column("etl_leases", sa.Column("targets", sa.JSON()))
    op.create_table(
        "etl_fence_tokens",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("last_token", sa.BigInteger(), nullable=False),
    )
    op.execute("INSERT INTO etl_fence_tokens (id, last_token) VALUES (1, 0)")
    op.create_table(
        "etl_staging",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.Column("connection", sa.String(100), nullable=False),
        sa.Column("target", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dropped_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_etl_staging_run_id", "etl_staging", ["run_id"])
    op.create_index("ix_etl_staging_connection_target", "etl_staging", ["connection", "target"])


def downgrade() -> None:
    op.drop_table("etl_staging")
    op.drop_table("etl_fence_tokens")
    # Plain DROP COLUMN (SQLite 3.35+, PostgreSQL), never a recreated table: on SQLite
    # with foreign keys on, recreating etl_runs drops it, and the drop cascades to
    # etl_run_steps (every step of every run would be lost).
    with op.batch_alter_table("etl_leases", recreate="never") as batch:
        batch.drop_column("targets")
        batch.drop_column("fence_token")
    with op.batch_alter_table("etl_runs", recreate="never") as batch:
        batch.drop_column("taken_over_by")
        batch.drop_column("fence_token")
