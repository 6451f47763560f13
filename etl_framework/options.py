"""`NoOptions`: the options model of a transfer that takes none.

Kept out of `etl_framework.job` so that importing the job base (the CLI does, for
``--help``) does not import pydantic.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class NoOptions(BaseModel):
    """The options of a transfer that takes none: ``transfers.<name>`` stays empty."""

    model_config = ConfigDict(extra="forbid", frozen=True)


__all__ = ["NoOptions"]
