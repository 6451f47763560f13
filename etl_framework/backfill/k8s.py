"""``etlctl backfill ... --k8s ENV``: the backfill's windows as one Indexed Job.

The same list of windows a local backfill would run (with ``--only-missing``: only the
days without a succeeded run) becomes one `build_backfill_job` (a list with gaps is
passed in the Job, see ``ETL_BACKFILL_DAYS``), created and followed by
`etl_framework.deploy.launcher` exactly as ``invoke backfill-gke`` does; the exit code
is the Job's `etl_framework.deploy.outcome.JobOutcome.exit_code`.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Sequence

import click

from etl_framework.window import WriteMode, format_date


def backfill_manifest(
    transfer: str,
    days: Sequence[dt.date],
    env: str,
    transfers_file: str,
    mode: WriteMode,
    *,
    parallelism: int,
    name_suffix: str,
) -> dict[str, object]:
    """The Indexed Job of ``days`` (sorted, not empty) for overlay ``env``."""
    from etl_framework.deploy.manifests import ENVIRONMENTS, build_backfill_job
    from etl_framework.deploy.spec import get_transfer

    if env not in ENVIRONMENTS:
        raise click.UsageError(f"--k8s {env!r}: expected one of {', '.join(ENVIRONMENTS)}")
    spec = get_transfer(transfer, transfers_file, env=env)
    return build_backfill_job(
        spec,
        days[0],
        days[-1],
        days=days,
        parallelism=parallelism,
        env=env,
        mode=mode,
        name_suffix=name_suffix,
    )


def run_k8s(
    transfer: str,
    days: Sequence[dt.date],
    env: str,
    transfers_file: str,
    mode: WriteMode,
    *,
    parallelism: int,
    dry_run: bool,
    context: str | None,
) -> None:
    """Print (``dry_run``) or launch and follow the Job; exits with the Job's outcome."""
    from etl_framework.deploy import launcher
    from etl_framework.deploy.manifests import random_suffix, to_yaml

    if not days:
        click.echo("nothing to backfill", err=True)
        return
    days = sorted(days)
    suffix = format_date(days[-1])[4:] if dry_run else random_suffix()
    manifest = backfill_manifest(
        transfer, days, env, transfers_file, mode, parallelism=parallelism, name_suffix=suffix
    )
    if dry_run:
        click.echo(to_yaml(manifest), nl=False)
        return
    click.echo(f"backfill {transfer}: {len(days)} windows as one Indexed Job", err=True)
    outcome = launcher.run_job(manifest, context=context)
    if outcome.summary:
        click.echo(f"run summary: {outcome.summary}")
    if not outcome.succeeded:
        click.echo(f"error: Job {outcome.reason.value}: {outcome.message}", err=True)
        sys.exit(outcome.exit_code)
    click.echo(f"Job succeeded: {outcome.message}")
