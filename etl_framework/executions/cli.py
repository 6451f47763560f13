"""``etlctl executions ...``: dpo's commands on the run ledger of a config.

Stdout carries only the result (an id, a timestamp, a list of names, or nothing), so
a shell script can capture it: ``id=$(etlctl executions init config.yaml)``. Logs and
warnings go to stderr; errors are one line on stderr with the README's exit codes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from etl_framework.executions.store import ExecutionStore

F = TypeVar("F", bound=Callable[..., Any])
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
_log = logging.getLogger("etl_framework.executions")


def _log_level(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is None or ctx.resilient_parsing:
        return
    from etl_framework import logs

    logs.configure("text", value.upper(), stream=sys.stderr)


def log_level_option(func: F, default: str | None = None) -> F:
    """``--log-level`` on the group (default INFO) and on each command (overrides it)."""
    return click.option(
        "--log-level",
        "-l",
        type=click.Choice(LOG_LEVELS, case_sensitive=False),
        default=default,
        show_default=default is not None,
        expose_value=False,
        is_eager=True,
        callback=_log_level,
        help="Logging level (logs go to stderr).",
    )(func)


@contextmanager
def _store(config_location: str) -> Iterator[ExecutionStore]:
    from etl_framework.config import load_config
    from etl_framework.executions.store import ExecutionStore

    config = load_config(config_location)
    store = ExecutionStore(
        config.state.url.get_secret_value(), auto_migrate=config.state.auto_migrate
    )
    try:
        yield store
    finally:
        store.close()


@click.group("executions")
@partial(log_level_option, default="INFO")
def executions() -> None:
    """Pipeline executions and their steps' model checksums (dpo's commands).

    Each command prints only its result on stdout.
    """


@executions.command("init")
@click.argument("config_location", metavar="CONFIG")
@log_level_option
def init(config_location: str) -> None:
    """Start a new execution; print its id (a UUID)."""
    with _store(config_location) as store:
        execution_id = store.init()
    _log.info("execution %s started", execution_id)
    click.echo(execution_id)


@executions.command("last-successful")
@click.argument("config_location", metavar="CONFIG")
@log_level_option
def last_successful(config_location: str) -> None:
    """Print the id of the last completed execution (an empty line: none yet)."""
    with _store(config_location) as store:
        click.echo(store.last_successful() or "")


@executions.command("completed-at")
@click.argument("config_location", metavar="CONFIG")
@click.argument("execution_id")
@log_level_option
def completed_at(config_location: str, execution_id: str) -> None:
    """Print when EXECUTION_ID completed (ISO 8601 with time zone)."""
    with _store(config_location) as store:
        click.echo(store.completed_at(execution_id).isoformat())


@executions.command("init-step")
@click.argument("config_location", metavar="CONFIG")
@click.argument("execution_id")
@click.argument("step_name")
@click.argument("base_path")
@click.argument("patterns", metavar="PATTERN...", nargs=-1, required=True)
@log_level_option
def init_step(
    config_location: str, execution_id: str, step_name: str, base_path: str, patterns: tuple[str]
) -> None:
    """Record step STEP_NAME of EXECUTION_ID with the sha256 of each model file matched
    by the PATTERNs (unix-style, relative to BASE_PATH: '*.sql', '**/*.json'); print
    the step's id. A model's name is its file name without extension, unique in the step.
    """
    with _store(config_location) as store:
        step = store.init_step(execution_id, step_name, base_path, patterns)
    if not step.models:
        click.echo(
            f"etlctl: warning: no model file under {base_path} matches "
            f"{' '.join(patterns)}: step {step_name!r} is empty",
            err=True,
        )
    _log.info("step %s (%s): %d models", step.step_id, step_name, len(step.models))
    click.echo(step.step_id)


@executions.command("compare")
@click.argument("config_location", metavar="CONFIG")
@click.argument("step_id")
@click.argument("previous_execution_id")
@log_level_option
def compare(config_location: str, step_id: str, previous_execution_id: str) -> None:
    """Print the comma-separated, sorted names of the models of STEP_ID that changed,
    were added or were removed since the same-named step of PREVIOUS_EXECUTION_ID (an
    empty line: none)."""
    with _store(config_location) as store:
        click.echo(",".join(store.compare(step_id, previous_execution_id)))


@executions.command("complete-step")
@click.argument("config_location", metavar="CONFIG")
@click.argument("step_id")
@click.option(
    "--rows", type=click.IntRange(min=0, max=2**63 - 1), default=None, help="Rows processed."
)
@log_level_option
def complete_step(config_location: str, step_id: str, rows: int | None) -> None:
    """Mark STEP_ID completed (prints nothing)."""
    with _store(config_location) as store:
        store.complete_step(step_id, rows)


@executions.command("complete")
@click.argument("config_location", metavar="CONFIG")
@click.argument("execution_id")
@log_level_option
def complete(config_location: str, execution_id: str) -> None:
    """Mark EXECUTION_ID completed (prints nothing)."""
    with _store(config_location) as store:
        store.complete(execution_id)
