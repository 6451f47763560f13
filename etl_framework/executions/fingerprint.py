"""The fingerprint of a run's inputs, for ``pipeline --skip-unchanged``.

sha256 over: the transfer, mode and window; the sha256 of each model file the transfer
declares (`ETLJob.models`, globs relative to the transfer's module); the config file as
read (before interpolation: it holds no secret value) and the transfer's options (secret
fields masked); the job code version (image tag or package version); the source's own
fingerprint (`ETLJob.source_fingerprint`). Every run records one; a run whose source
gives none cannot tell whether its data changed, so it never skips.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from etl_framework.executions.checksums import sha256_of

if TYPE_CHECKING:
    from etl_framework.config import FrameworkConfig
    from etl_framework.job import ETLJob
    from etl_framework.window import Window, WriteMode


def model_checksums(job_cls: type[ETLJob[Any]]) -> dict[str, str]:
    """Relative path -> sha256 of every file matched by ``job_cls.models``."""
    module = sys.modules.get(job_cls.__module__)
    module_file = getattr(module, "__file__", None)
    base = Path(module_file).parent if module_file else Path.cwd()
    found: dict[str, str] = {}
    for pattern in job_cls.models:
        for path in sorted(base.glob(pattern)):
            if path.is_file():
                found[path.relative_to(base).as_posix()] = sha256_of(path)
    return found


def run_fingerprint(
    job_cls: type[ETLJob[Any]],
    config: FrameworkConfig,
    options: Any,
    mode: WriteMode,
    window: Window,
    code_version: str,
) -> tuple[str, bool]:
    """The run's input fingerprint, and whether the source gave its own (only then may
    an equal fingerprint skip the run)."""
    source = job_cls.source_fingerprint(config, options, window)
    dumped = options.model_dump(mode="json") if hasattr(options, "model_dump") else {}
    parts = {
        "transfer": job_cls.transfer_name,
        "mode": str(mode),
        "window": str(window),
        "models": model_checksums(job_cls),
        "config": config.checksum,
        "options": dumped,  # SecretStr fields dump as "**********"
        "code": code_version,
        "source": source,
    }
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest(), source is not None
