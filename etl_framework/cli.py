"""The ``pipeline`` command: parse and validate arguments, then hand over to the runner.

Usage errors are one line on stderr and exit 2; our errors exit with their own
code (see `etl_framework.exceptions.ExitCode`). Nothing heavy is imported until a
run actually starts, so ``pipeline --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Any

import click

from etl_framework._version import __version__
from etl_framework.exceptions import ETLError, ExitCode, InvalidDateError
from etl_framework.window import WriteMode, parse_date

PROG = "pipeline"


class DateType(click.ParamType):  # type: ignore[type-arg]  # generic only in click >= 8.3
    """YYYYMMDD (or YYYY-MM-DD) -> datetime.date."""

    name = "YYYYMMDD"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return parse_date(str(value))
        except InvalidDateError:
            self.fail(f"{value!r} is not a date: expected YYYYMMDD or YYYY-MM-DD", param, ctx)


def _list_transfers(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from etl_framework import registry

    for name in registry.names():
        doc = (registry.get(name).__doc__ or "").strip().splitlines()
        click.echo(f"{name:<30} {doc[0] if doc else ''}".rstrip())
    for module, reason in sorted(registry.import_errors().items()):
        click.echo(f"(not importable: {module}: {reason})", err=True)
    ctx.exit(0)


@click.command(
    name=PROG,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=(
        "Exit codes: 0 success, 1 the job failed, 2 usage error, 3 configuration error "
        "(or read-only / permission denied), 4 another run holds the lease, 5 out of space "
        "or quota, 75 transient failure, upstream not ready or no data yet (worth a retry)."
    ),
)
@click.argument("execution_date", metavar="EXECUTION_DATE", type=DateType())
@click.argument("transfer_name", metavar="TRANSFER_NAME")
@click.argument("mode", metavar="truncate|delta", type=click.Choice([m.value for m in WriteMode]))
@click.argument("config_location", metavar="CONFIG_LOCATION")
@click.option(
    "--delta_start_date",
    "--delta-start-date",
    "delta_start_date",
    type=DateType(),
    default=None,
    help="First day of a delta window (default: EXECUTION_DATE).",
)
@click.option(
    "--depends-on",
    "depends_on",
    multiple=True,
    metavar="TRANSFER",
    help="Also wait for this upstream transfer (repeatable; adds to the class's depends_on).",
)
@click.option(
    "--ignore-dependencies",
    is_flag=True,
    default=False,
    help="Run even if an upstream transfer has not covered the window yet.",
)
@click.option(
    "--list-transfers",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_list_transfers,
    help="List the registered transfers and exit.",
)
@click.option(
    "--skip-unchanged/--no-skip-unchanged",
    default=None,
    help="Skip the run when its inputs (models, config, code, source) match the window's "
    "last successful run (default: the transfer's). Never skips without a source fingerprint.",
)
@click.option(
    "--plan",
    is_flag=True,
    help="Print what the run would do (window, strategy, targets, upstream coverage, the "
    "SQL statements with their values, config) and touch nothing.",
)
@click.option(
    "--k8s",
    "k8s_env",
    metavar="ENV",
    default=None,
    help="With --plan: also the Kubernetes Job the deployment of ENV (dev, prod) would run.",
)
@click.option(
    "--format",
    "plan_format",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    help="With --plan: print YAML (default) or JSON.",
)
@click.version_option(__version__, "--version", prog_name=PROG, message="%(prog)s %(version)s")
def command(
    execution_date: dt.date,
    transfer_name: str,
    mode: str,
    config_location: str,
    delta_start_date: dt.date | None,
    skip_unchanged: bool | None,
    depends_on: tuple[str, ...],
    ignore_dependencies: bool,
    plan: bool,
    k8s_env: str | None,
    plan_format: str,
) -> None:
    """Run TRANSFER_NAME for EXECUTION_DATE (YYYYMMDD) in mode truncate or delta.

    CONFIG_LOCATION is a local YAML/JSON file or gs://bucket/key. A delta run
    rebuilds the window [--delta_start_date or EXECUTION_DATE, EXECUTION_DATE + 1 day).
    """
    from etl_framework.runner import run_transfer

    if (k8s_env is not None or plan_format != "yaml") and not plan:
        raise click.UsageError("--k8s and --format go with --plan")
    if plan:
        from etl_framework.plan import render_plan
        from etl_framework.runner import prepare

        request = prepare(
            transfer_name,
            execution_date,
            mode,
            config_location,
            delta_start_date,
            depends_on=depends_on,
            ignore_dependencies=ignore_dependencies,
        )
        click.echo(render_plan(request, k8s_env, plan_format), nl=False)
        sys.exit(ExitCode.OK)
    summary = run_transfer(
        transfer_name,
        execution_date,
        mode,
        config_location,
        delta_start_date,
        skip_unchanged=skip_unchanged,
        depends_on=depends_on,
        ignore_dependencies=ignore_dependencies,
    )
    if summary.unchanged_since:
        click.echo(summary.line())
    sys.exit(summary.exit_code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point with one-line errors and our exit codes.

    Called without ``argv`` (the console script: one run, then the process ends), it
    defers cyclic garbage collection while it starts and freezes the heap before it
    exits (`etl_framework.startup`).
    """
    if argv is not None:
        _main(argv)
        return
    from etl_framework import startup

    startup.defer_collection()
    try:
        _main(None)
    finally:
        startup.freeze_for_exit()


def _main(argv: list[str] | None) -> None:
    from etl_framework.redaction import install_excepthook

    install_excepthook()  # even a bug's traceback shows no secret
    try:
        command.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        _fail(exc.format_message(), ExitCode.USAGE)
    except click.Abort:
        _fail("aborted", ExitCode.FAILED)
    except ETLError as exc:
        _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", ExitCode.FAILED)
    sys.exit(ExitCode.OK)


def _fail(message: str, code: int) -> None:
    from etl_framework.redaction import redact

    # redacted before and after squashing to one line (the squashed form is masked too)
    click.echo(f"{PROG}: error: {redact(' '.join(redact(message).split()))}", err=True)
    sys.exit(code)


if __name__ == "__main__":  # pragma: no cover
    main()
