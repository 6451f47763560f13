"""The DAGs' local profile: run ``pipeline`` in a subprocess instead of a pod.

For trying the generated DAGs in an Airflow on one machine (``invoke airflow-local``,
``airflow dags test``): the task runs the same argv as the pod would
(`TransferSpec.pipeline_args`, the execution date templated the same way), but as a
child process of the Airflow worker, with a local config in place of the transfer's.

The profile is a property of where Airflow runs, not of the deployment: the same
``transfers.yaml`` serves the cluster and a laptop. The DAG file selects it from the
scheduler's environment (`LocalProfile.from_environ`)::

    ETL_AIRFLOW_PROFILE=local          # kubernetes (default) | local
    ETL_PIPELINE_COMMAND=pipeline      # the framework's `pipeline` (a path, or words:
                                       # ".venv/bin/python -m etl_framework")
    ETL_LOCAL_CONFIG=jobs/config/local.yaml   # replaces every transfer's `config`
    ETL_LOCAL_CWD=/path/to/project     # working directory of the run

The transfers file's pod ``env`` (``ETL_ENV: prod``, ``secretKeyRef``s) is the cluster's
and is not applied: the run sees the worker's environment, plus the Airflow run id as
``ETL_ORCHESTRATOR_RUN_ID`` (recorded in the ledger's ``orchestrator_run_id``).

Pure: imports no Airflow (`etl_framework.deploy.airflow` builds the task).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from etl_framework.deploy.spec import TransferSpec
from etl_framework.exceptions import ConfigError

ENV_PROFILE = "ETL_AIRFLOW_PROFILE"
ENV_PIPELINE_COMMAND = "ETL_PIPELINE_COMMAND"
ENV_LOCAL_CONFIG = "ETL_LOCAL_CONFIG"
ENV_LOCAL_CWD = "ETL_LOCAL_CWD"
ENV_ORCHESTRATOR_RUN_ID = "ETL_ORCHESTRATOR_RUN_ID"
"""The Airflow run id, for the ledger (`etl_framework.runner.ENV_ORCHESTRATOR_RUN_ID`; the
runner is not imported here: the scheduler needs none of its dependencies)."""
PROFILES = ("kubernetes", "local")
DEFAULT_PIPELINE_COMMAND = ("pipeline",)

_TEMPLATE_MARKERS = ("{{", "{%")


@dataclass(frozen=True)
class LocalProfile:
    """How the local task runs ``pipeline``: which command, config and directory."""

    pipeline_command: tuple[str, ...] = DEFAULT_PIPELINE_COMMAND
    """The framework's ``pipeline`` (its venv's, not Airflow's), as argv words."""
    config: str | None = None
    """Config location for every transfer (None: the transfer's own ``config``)."""
    cwd: str | None = None
    """Working directory of the run (None: the worker's); relative paths in the config
    (``sqlite:///.etl/state.db``) are relative to it."""

    def __post_init__(self) -> None:
        if not self.pipeline_command or not all(self.pipeline_command):
            raise ConfigError(f"{ENV_PIPELINE_COMMAND} is empty: give the `pipeline` command")
        values = [*self.pipeline_command, self.config or "", self.cwd or ""]
        if any(marker in value for value in values for marker in _TEMPLATE_MARKERS):
            raise ConfigError(
                "the local profile's command, config and directory are passed as they are:"
                " no Jinja template markers ({{ or {%)"
            )

    def spec_for(self, spec: TransferSpec) -> TransferSpec:
        """``spec`` with the local config in place of its own."""
        if self.config is None:
            return spec
        return spec.model_copy(update={"config": self.config})

    def arguments(self, spec: TransferSpec, execution_date: str) -> list[str]:
        """The pod's ``pipeline`` arguments for ``spec``, with the local config."""
        return self.spec_for(spec).pipeline_args(execution_date)

    def argv(self, spec: TransferSpec, execution_date: str) -> list[str]:
        """The whole command line of the run."""
        return [*self.pipeline_command, *self.arguments(spec, execution_date)]

    def environ(self) -> dict[str, str]:
        """The profile as the environment variables `from_environ` reads."""
        env = {ENV_PROFILE: "local", ENV_PIPELINE_COMMAND: shlex.join(self.pipeline_command)}
        if self.config is not None:
            env[ENV_LOCAL_CONFIG] = self.config
        if self.cwd is not None:
            env[ENV_LOCAL_CWD] = self.cwd
        return env

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> LocalProfile | None:
        """The profile ``$ETL_AIRFLOW_PROFILE`` selects: None for ``kubernetes`` (unset).

        Raises:
            ConfigError: an unknown profile or an unusable setting.
        """
        environ = os.environ if environ is None else environ
        profile = environ.get(ENV_PROFILE, "").strip() or "kubernetes"
        if profile not in PROFILES:
            raise ConfigError(
                f"{ENV_PROFILE}={profile!r} is not a profile: use one of {', '.join(PROFILES)}"
            )
        if profile == "kubernetes":
            return None
        command = environ.get(ENV_PIPELINE_COMMAND)
        try:
            words = tuple(shlex.split(command)) if command is not None else None
        except ValueError as exc:
            raise ConfigError(f"{ENV_PIPELINE_COMMAND} cannot be split into words: {exc}") from exc
        return cls(
            pipeline_command=DEFAULT_PIPELINE_COMMAND if words is None else words,
            config=environ.get(ENV_LOCAL_CONFIG) or None,
            cwd=environ.get(ENV_LOCAL_CWD) or None,
        )


__all__ = ["ENV_PROFILE", "LocalProfile"]
