"""Transfers for the hostile-input tests (imported via ETL_JOBS_MODULES in subprocesses)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ConfigDict

from etl_framework import ETLJob, Outcome, register
from etl_framework.http.config import HttpSourceConfig
from etl_framework.sources.http import HttpSource


class ApiOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: HttpSourceConfig


@register("plain_http_job")
class PlainHttpJob(ETLJob):
    """An HTTP transfer that declares no config_problems of its own: the framework checks
    its source's connection (a ConnectionRef field) before the run starts."""

    options_model = ApiOptions

    def pre_execution_cleansing(self) -> None: ...

    def pipeline(self) -> None:
        options = self.context.options
        assert isinstance(options, ApiOptions)
        records: Iterator[Any] = HttpSource.from_context(self.context, options.source).records()
        for _record in records:
            self.context.counters.add_written(1)

    def post_execution_cleanup(self, outcome: Outcome) -> None: ...
