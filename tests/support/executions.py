"""The executions CLI and the ledger migrations, checked the same way on SQLite (unit)
and PostgreSQL (integration): ``etlctl`` runs as a real process, as a shell script
would run it, and its stdout is the result alone."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import uuid
from pathlib import Path

import sqlalchemy as sa

REPO = Path(__file__).resolve().parents[2]
ETLCTL = [sys.executable, "-c", "from etl_framework.admin import main; main()"]


def write_config(directory: Path, state_url: str) -> Path:
    config = directory / "config.yaml"
    config.write_text(f"state: {{url: '{state_url}'}}\n")
    return config


def etlctl(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETL_")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [*ETLCTL, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def result(*args: str | Path) -> str:
    """stdout of a command that must succeed, without its newline (one line at most)."""
    done = etlctl(*args)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("\n") <= 1, done.stdout
    return done.stdout.rstrip("\n")


def refused(*args: str | Path, code: int = 2) -> str:
    """The one error line of a command that must fail with ``code`` and print nothing."""
    done = etlctl(*args)
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    assert done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if line.startswith("etlctl: error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


def write_models(base: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def check_executions_end_to_end(config: Path, models: Path) -> None:
    """init, init-step, complete; then a second execution after changing, adding and
    removing one model each: compare prints exactly those three names, sorted."""
    assert result("executions", "last-successful", config) == ""
    write_models(
        models,
        {"orders.sql": "select 1", "customers.sql": "select 2", "raw/events.json": "{}"},
    )
    first = result("executions", "init", config)
    assert str(uuid.UUID(first)) == first
    step = result(
        "executions", "init-step", config, first, "TRANSFORM", models, "*.sql", "**/*.json"
    )
    # the first execution of a step: every model is new
    assert result("executions", "last-successful", config) == ""
    assert result("executions", "complete-step", config, step, "--rows", "42") == ""
    assert result("executions", "complete", config, first) == ""
    assert result("executions", "last-successful", config) == first
    completed = dt.datetime.fromisoformat(result("executions", "completed-at", config, first))
    assert completed.tzinfo is not None
    assert abs(dt.datetime.now(dt.UTC) - completed) < dt.timedelta(minutes=5)

    (models / "orders.sql").write_text("select 1 -- changed")
    (models / "raw" / "events.json").unlink()
    write_models(models, {"nested/deeper/zones.json": "[]", "unchanged.txt": "not a model"})
    second = result("executions", "init", config)
    step2 = result(
        "executions", "init-step", config, second, "TRANSFORM", models, "*.sql", "**/*.json"
    )
    previous = result("executions", "last-successful", config)
    assert previous == first
    assert result("executions", "compare", config, step2, previous) == "events,orders,zones"

    # nothing changed: an empty line
    third = result("executions", "init", config)
    result("executions", "complete-step", config, step2)
    result("executions", "complete", config, second)
    step3 = result(
        "executions", "init-step", config, third, "TRANSFORM", models, "*.sql", "**/*.json"
    )
    done = etlctl("executions", "compare", config, step3, second)
    assert (done.returncode, done.stdout) == (0, "\n"), done.stderr
    # a step the previous execution did not have: every model counts as added
    load = result("executions", "init-step", config, third, "LOAD", models, "*.sql")
    assert result("executions", "compare", config, load, second) == "customers,orders"


def check_executions_bad_cases(config: Path, models: Path) -> None:
    write_models(models, {"a.sql": "1", "b.sql": "2"})
    execution = result("executions", "init", config)
    step = result("executions", "init-step", config, execution, "LOAD", models, "*.sql")

    # unknown or malformed ids
    assert "not a valid execution id" in refused("executions", "completed-at", config, "nope")
    unknown = str(uuid.uuid4())
    assert f"no execution {unknown}" in refused("executions", "completed-at", config, unknown)
    assert "not completed" in refused("executions", "completed-at", config, execution)
    # a step id where an execution id belongs, and the reverse
    assert "no execution" in refused("executions", "complete", config, step)
    assert "no step" in refused("executions", "complete-step", config, execution)
    # comparing a step with its own execution
    assert "belongs to execution" in refused("executions", "compare", config, step, execution)
    # the same step name twice in one execution
    assert "already has a step 'LOAD'" in refused(
        "executions", "init-step", config, execution, "LOAD", models, "*.sql"
    )

    # completing twice
    result("executions", "complete-step", config, step)
    assert "already completed" in refused("executions", "complete-step", config, step)
    other = result("executions", "init-step", config, execution, "TRANSFORM", models, "*.sql")
    result("executions", "complete", config, execution)
    assert "already completed" in refused("executions", "complete", config, execution)
    # a step of a completed execution
    assert "already completed" in refused("executions", "complete-step", config, other)
    assert "already completed" in refused(
        "executions", "init-step", config, execution, "MORE", models, "*.sql"
    )

    fresh = result("executions", "init", config)
    # a missing base path
    missing = models / "missing"
    assert "is not a directory" in refused(
        "executions", "init-step", config, fresh, "LOAD", missing, "*.sql"
    )
    # a model name clash across extensions names both files
    write_models(models, {"sub/a.json": "{}"})
    clash = refused("executions", "init-step", config, fresh, "LOAD", models, "*.sql", "**/*.json")
    assert "a.sql" in clash and "sub/a.json" in clash
    # a pattern leaving the base path
    assert "relative to the base path" in refused(
        "executions", "init-step", config, fresh, "LOAD", models, "../*.sql"
    )
    # nothing was recorded by the refusals: LOAD is still free in this execution
    # a pattern matching nothing: an empty step, allowed and said on stderr
    done = etlctl("executions", "init-step", config, fresh, "LOAD", models, "*.csv")
    assert done.returncode == 0, done.stderr
    empty = done.stdout.strip()
    assert str(uuid.UUID(empty)) == empty
    assert "no model file" in done.stderr and "is empty" in done.stderr
    assert result("executions", "compare", config, empty, execution) == "a,b"


def check_db_commands(config: Path, url: str) -> None:
    """current / history / downgrade / upgrade through etlctl, data kept where the
    migration keeps it."""
    from etl_framework.state import RunStore

    assert result("db", "upgrade", config) == "ledger schema is up to date"
    assert result("db", "current", config) == head()
    history = etlctl("db", "history", config)
    assert history.returncode == 0, history.stderr
    lines = history.stdout.splitlines()
    assert f" -> {head()} (head, current)" in lines[0]  # newest first
    assert any(line.startswith("0003 -> 0004") for line in lines)
    assert lines[-1].startswith("<base> -> 0001")

    execution = result("executions", "init", config)
    record_a_run(url)
    assert result("db", "downgrade", config, "0003") == "ledger at 0003"
    assert result("db", "current", config) == "0003"
    assert_tables(url, absent={"etl_executions", "etl_execution_steps", "etl_model_checksums"})
    store = RunStore(url)
    try:
        assert not store.schema_is_current()
        assert [s.step for s in store.steps("kept")] == ["pipeline"]  # history kept
    finally:
        store.close()

    assert result("db", "upgrade", config) == "ledger schema is up to date"
    assert result("db", "current", config) == head()
    assert "no execution" in refused("executions", "completed-at", config, execution)
    check_models_match(url)

    # all the way down and up again
    assert result("db", "downgrade", config, "base") == "ledger at base"
    assert result("db", "current", config) == ""
    assert_tables(url, absent={"etl_runs", "etl_executions"})
    assert result("db", "upgrade", config, "0002") == "ledger at 0002"
    assert result("db", "current", config) == "0002"
    assert result("db", "upgrade", config) == "ledger schema is up to date"
    check_models_match(url)

    assert "Can't locate revision" in refused("db", "downgrade", config, "nope")
    assert result("db", "current", config) == head()


def check_downgrade_keeps_steps(config: Path, url: str) -> None:
    """Down to 0002 (below the fencing columns of etl_runs) and up to head: the runs and
    their steps survive. Recreating etl_runs on SQLite (batch mode) with foreign keys on
    would drop it and cascade to etl_run_steps."""
    from etl_framework.state import RunStore

    assert result("db", "upgrade", config) == "ledger schema is up to date"
    record_a_run(url)
    assert step_rows(url) == [("kept", "pipeline")]
    assert result("db", "downgrade", config, "0002") == "ledger at 0002"
    assert result("db", "current", config) == "0002"
    assert step_rows(url) == [("kept", "pipeline")]
    assert run_ids(url) == ["kept"]
    assert result("db", "upgrade", config) == "ledger schema is up to date"
    assert step_rows(url) == [("kept", "pipeline")]
    store = RunStore(url)
    try:
        assert store.schema_is_current()
        assert [s.step for s in store.steps("kept")] == ["pipeline"]
    finally:
        store.close()
    check_models_match(url)


def step_rows(url: str) -> list[tuple[str, str]]:
    return [(str(a), str(b)) for a, b in _rows(url, "SELECT run_id, step FROM etl_run_steps")]


def run_ids(url: str) -> list[str]:
    return [str(a) for (a,) in _rows(url, "SELECT run_id FROM etl_runs")]


def _rows(url: str, sql: str) -> list[tuple[object, ...]]:
    from etl_framework.db import ledger_engine

    engine = ledger_engine(url)  # SQLite with foreign keys on, as the ledger runs
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from etl_framework.state.store import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    (only,) = ScriptDirectory.from_config(cfg).get_heads()
    return str(only)


def record_a_run(url: str) -> None:
    from etl_framework.job import StepRecord
    from etl_framework.state import RunStore
    from etl_framework.window import Window, WriteMode

    store = RunStore(url)
    try:
        store.start_run(
            run_id="kept",
            transfer="t",
            execution_date=dt.date(2024, 1, 15),
            mode=WriteMode.TRUNCATE,
            window=Window.unbounded(),
            exclusive=True,
        )
        store.finish_run(
            "kept",
            status="succeeded",
            rows_read=1,
            rows_written=1,
            steps={"pipeline": StepRecord(0.5, 1, 1, succeeded=True)},
        )
    finally:
        store.close()


def assert_tables(url: str, *, absent: set[str]) -> None:
    engine = sa.create_engine(url)
    try:
        names = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert not names & absent, names & absent


def check_models_match(url: str) -> None:
    """The ledger's models (the executions tables included) equal what the migrations
    built: alembic's autogenerate finds nothing to add, drop or alter."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import etl_framework.executions.models  # noqa: F401  (its tables join the metadata)
    from etl_framework.state.models import Base

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"version_table": "etl_alembic_version", "compare_type": True}
            )
            diff = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diff == []
    assert {"etl_executions", "etl_execution_steps", "etl_model_checksums"} <= set(
        Base.metadata.tables
    )
