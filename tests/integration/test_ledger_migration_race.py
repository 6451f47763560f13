"""Several first runs on a new SQLite ledger migrate it at once, as real processes.

On SQLite alembic gives each migration its own transaction and reads the ledger's
revision outside them, so two processes that both found the schema missing applied
the same migration twice ("duplicate column name", exit 75: a CI run caught it in
``test_two_processes_at_once_skip_or_wait_per_lease``). The upgrade holds one
transaction (BEGIN IMMEDIATE) from reading the revision to the last migration.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

from etl_framework.state.revisions import VERSION_TABLE, head_revisions

PROCESSES = 6
ROUNDS = 6

# every process waits at a barrier file, then upgrades: they start within milliseconds
UPGRADE = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import alembic.command, alembic.config, alembic.script  # imported before the start
    from etl_framework.state.store import RunStore

    url, go = sys.argv[1], Path(sys.argv[2])
    store = RunStore(url)
    while not go.exists():
        time.sleep(0.001)
    store.upgrade()
    store.close()
    """
)


def test_first_runs_migrate_a_new_sqlite_ledger_at_once(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        database = tmp_path / f"ledger{round_}.db"
        go = tmp_path / f"go{round_}"
        url = f"sqlite:///{database}"
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", UPGRADE, url, str(go)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(PROCESSES)
        ]
        go.touch()
        results = [(p.communicate(timeout=120)[1], p.returncode) for p in procs]
        failed = [(code, err.strip().splitlines()[-1:]) for err, code in results if code != 0]
        assert not failed, f"round {round_}: {failed}"
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            versions = {row[0] for row in conn.execute(sa.text(f"SELECT * FROM {VERSION_TABLE}"))}
            columns = {c["name"] for c in sa.inspect(conn).get_columns("etl_run_steps")}
        engine.dispose()
        assert versions == set(head_revisions())
        assert "bq_jobs" in columns
