"""Load, interpolate, overlay and validate the framework configuration.

Order of resolution: the file (local path or ``gs://bucket/key``), then the
environment overlay chosen by ``ETL_ENV`` (``environments.<name>`` deep-merged over
the file), then ``${...}`` references, resolved from the environment, then from
secret files mounted by Kubernetes (``$ETL_SECRETS_DIR/<NAME>``), or from explicit
sources::

    ${VAR}              environment, else secret file VAR, else a config error
    ${VAR:-default}     ... else ``default``
    ${file:/path}       the content of a file (trailing newline stripped)
    ${gsm:projects/P/secrets/S[/versions/V]}   Google Secret Manager
    $${                 a literal ``${``

Input is bounded (`etl_framework._config_input`): the file is read up to
`MAX_CONFIG_BYTES`; YAML nesting, alias expansion and duplicate keys are refused
while parsing; ``${file:...}`` and secret files must be regular files of at most
`MAX_REFERENCED_FILE_BYTES`.

Every problem (unreadable reference, invalid field, unknown connection type,
invalid transfer options) is collected and reported together in one
`ConfigValidationError`, each with its path. Secret values never appear in it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from etl_framework import redaction
from etl_framework._config_input import (
    MAX_CONFIG_BYTES,
    MAX_REFERENCED_FILE_BYTES,
    parse_config,
    read_bounded,
)
from etl_framework.connections import ConnectionRef, ConnectorConfig
from etl_framework.db import check_database_url
from etl_framework.exceptions import ConfigError, ConfigValidationError

ENV_VAR_ENVIRONMENT = "ETL_ENV"
ENV_VAR_SECRETS_DIR = "ETL_SECRETS_DIR"
DEFAULT_SECRETS_DIR = "/var/run/secrets/etl"
DEFAULT_STATE_URL = "sqlite:///.etl/state.db"
DEFAULT_LEASE_TTL_SECONDS = 120.0
DEFAULT_HEARTBEAT_SECONDS = 15.0
DEFAULT_PROGRESS_SECONDS = 30.0

_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}")
_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


# --- models ------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StateConfig(_Model):
    """Where the run ledger and leases live."""

    url: Annotated[SecretStr, AfterValidator(check_database_url)] = SecretStr(DEFAULT_STATE_URL)
    """SQLAlchemy URL: SQLite file (default) or PostgreSQL in production."""

    lease_ttl_seconds: float = Field(DEFAULT_LEASE_TTL_SECONDS, gt=0)
    """A live run whose heartbeat is older than this (hung) is taken over. (A run whose
    process died is taken over at once.) At least 3 x ``heartbeat_seconds``."""
    heartbeat_seconds: float = Field(DEFAULT_HEARTBEAT_SECONDS, gt=0)
    auto_migrate: bool | None = None
    """Create/upgrade the ledger schema at run start (default: SQLite only)."""

    @model_validator(mode="after")
    def _ttl_covers_heartbeats(self) -> StateConfig:
        # A TTL shorter than a few heartbeats takes over live runs after one late beat.
        if self.lease_ttl_seconds < 3 * self.heartbeat_seconds:
            raise PydanticCustomError(
                "lease_ttl_too_short",
                "lease_ttl_seconds ({ttl}) must be at least 3 x heartbeat_seconds ({beat})",
                {"ttl": f"{self.lease_ttl_seconds:g}", "beat": f"{self.heartbeat_seconds:g}"},
            )
        return self


class LoggingConfig(_Model):
    format: Literal["auto", "json", "text"] = "auto"
    """auto: readable on a terminal, JSON lines (Cloud Logging) otherwise."""
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    progress: bool = True
    """Live rows and rows/s on a terminal."""
    progress_seconds: float = Field(DEFAULT_PROGRESS_SECONDS, ge=0)
    """In JSON mode, log a progress record (rows, rows/s) this often; 0: never."""


class LineageConfig(_Model):
    """OpenLineage events of every run (`etl_framework.lineage`); off by default."""

    transport: Literal["none", "file", "http"] = "none"
    path: str | None = None
    """file: the file each event is appended to (one JSON line per event)."""
    url: str | None = None
    """http: the lineage backend's base URL (e.g. Marquez ``http://marquez:5000``)."""
    endpoint: str = "api/v1/lineage"
    api_key: SecretStr | None = None
    """http: sent as a bearer token; write it as a ``${VAR}`` reference."""
    namespace: str = "etl_framework"
    """The jobs' OpenLineage namespace."""
    timeout_seconds: float = Field(5.0, gt=0)

    @model_validator(mode="after")
    def _transport_has_its_setting(self) -> LineageConfig:
        needed = {"file": "path", "http": "url"}.get(self.transport)
        if needed and not getattr(self, needed):
            raise PydanticCustomError(
                "lineage_setting_missing",
                "transport {transport} needs lineage.{setting}",
                {"transport": self.transport, "setting": needed},
            )
        return self


class FrameworkConfig(_Model):
    """The validated configuration of one run."""

    state: StateConfig = StateConfig()
    logging: LoggingConfig = LoggingConfig()
    lineage: LineageConfig = LineageConfig()
    connections: dict[str, ConnectorConfig] = Field(default_factory=dict)
    transfers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    location: str = "<memory>"
    """Where the config came from (for messages and the ledger)."""
    environment: str | None = None
    checksum: str = ""
    """sha256 of the file as read (before interpolation: holds no secret values)."""

    def connection_problems(self, name: str, kind: str, path: str) -> list[tuple[str, str]]:
        """Problems with the connection ``name`` a transfer needs (of type ``kind``)."""
        connection = self.connections.get(name)
        if connection is None:
            known = ", ".join(sorted(self.connections)) or "none"
            return [(path, f"needs a connection named {name!r} (known connections: {known})")]
        if connection.type != kind:
            return [(f"connections.{name}.type", f"is {connection.type!r}; needs {kind!r}")]
        return []


# --- loading -------------------------------------------------------------------


def read_location(location: str) -> str:
    """The text of a local file or ``gs://`` object (at most `MAX_CONFIG_BYTES`);
    ConfigError when unreadable or too large."""
    if location.startswith("gs://"):
        from etl_framework.gcp.storage import read_bytes

        data = read_bytes(location, max_bytes=MAX_CONFIG_BYTES)
    else:
        try:
            data = read_bounded(Path(location), MAX_CONFIG_BYTES, "config", regular_only=False)
        except FileNotFoundError:
            raise ConfigError(f"config file {location} does not exist") from None
        except OSError as exc:
            raise ConfigError(f"cannot read config {location}: {exc.strerror}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config {location} is not UTF-8 text") from None


def parse_text(text: str, location: str) -> dict[str, Any]:
    """YAML (a superset of JSON) or, for ``*.json``, strict JSON, within the limits of
    `etl_framework._config_input` (depth, aliases, size, no duplicate keys)."""
    data = parse_config(text, location)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config {location} must be a mapping at the top level")
    return data


def deep_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """``overlay`` merged into ``base``: mappings recursively, everything else replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(location: str, environment: str | None = None) -> FrameworkConfig:
    """Read, overlay, interpolate and validate a config; report every problem at once."""
    text = read_location(location)
    raw = parse_text(text, location)
    environment = environment or os.environ.get(ENV_VAR_ENVIRONMENT) or None
    problems: list[tuple[str, str]] = []
    overlays = _overlays(raw.pop("environments", None), problems)
    if environment:
        if environment not in overlays:
            known = ", ".join(sorted(overlays)) or "none"
            problems.append(
                (ENV_VAR_ENVIRONMENT, f"environment {environment!r} not in config (known: {known})")
            )
        elif overlays[environment] is not None:
            raw = deep_merge(raw, overlays[environment])
    resolved = Interpolator(problems).resolve(raw, path="")
    config = _validate(resolved, problems, location, environment, text)
    if problems or config is None:
        raise ConfigValidationError(location, _without_echoes(problems))
    return config


def _overlays(value: Any, problems: list[tuple[str, str]]) -> dict[str, Any]:
    """``environments``: every overlay is checked, the selected one or not (None: the
    overlay of an unusable entry, still a known name)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(("environments", "must be a mapping of environment name -> overlay"))
        return {}
    overlays: dict[str, Any] = {}
    for name, overlay in value.items():
        if overlay is not None and not isinstance(overlay, dict):
            problems.append(
                (f"environments.{name}", "must be a mapping (an overlay of the config)")
            )
            overlay = None
        overlays[str(name)] = overlay
    return overlays


def config_from_mapping(data: Mapping[str, Any], location: str = "<memory>") -> FrameworkConfig:
    """Validate an in-memory config (tests, embedded use); same rules as a file."""
    problems: list[tuple[str, str]] = []
    resolved = Interpolator(problems).resolve(dict(data), path="")
    config = _validate(resolved, problems, location, None, json.dumps(data, default=str))
    if problems or config is None:
        raise ConfigValidationError(location, _without_echoes(problems))
    return config


def _validate(
    raw: dict[str, Any],
    problems: list[tuple[str, str]],
    location: str,
    environment: str | None,
    text: str,
) -> FrameworkConfig | None:
    from etl_framework.connections import connector_class

    connections: dict[str, ConnectorConfig] = {}
    raw_connections = raw.pop("connections", None) or {}
    if not isinstance(raw_connections, dict):
        problems.append(("connections", "must be a mapping of name -> connection"))
        raw_connections = {}
    for name, value in raw_connections.items():
        path = f"connections.{name}"
        if not isinstance(value, dict) or "type" not in value:
            problems.append((path, "must be a mapping with a 'type'"))
            continue
        try:
            model = connector_class(str(value["type"])).config_model
        except ConfigError as exc:
            problems.append((f"{path}.type", str(exc)))
            continue
        except ImportError as exc:
            problems.append((f"{path}.type", f"connector not importable: {exc}"))
            continue
        try:
            connections[name] = model.model_validate(value)
        except ValidationError as exc:
            problems.extend(validation_problems(exc, prefix=path))
    try:
        config = FrameworkConfig.model_validate(
            {
                **raw,
                "location": location,
                "environment": environment,
                "checksum": hashlib.sha256(text.encode()).hexdigest(),
            }
        )
    except ValidationError as exc:
        problems.extend(validation_problems(exc))
        return None
    config = config.model_copy(update={"connections": connections})
    register_secret_fields(config)
    return config


def _without_echoes(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Each path's first problem: a reference that could not be resolved also fails
    validation (it became ""), and that second message would only confuse."""
    seen: set[str] = set()
    kept = []
    for path, message in problems:
        if path not in seen:
            kept.append((path, message))
            seen.add(path)
    return kept


def validation_problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """pydantic errors as (path, message) pairs; never includes the offending input."""
    out = []
    for error in exc.errors(include_input=False, include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        out.append((f"{prefix}.{path}" if prefix and path else prefix or path, error["msg"]))
    return out


def connection_reference_problems(
    config: FrameworkConfig, value: Any, path: str
) -> list[tuple[str, str]]:
    """Every field declared with `ConnectionRef` inside ``value`` (a validated options
    model, at any depth) names a connection of its kind."""
    problems: list[tuple[str, str]] = []
    if isinstance(value, BaseModel):
        for name, field in type(value).model_fields.items():
            item = getattr(value, name)
            where = f"{path}.{name}"
            refs = [m for m in field.metadata if isinstance(m, ConnectionRef)]
            if refs and isinstance(item, str):
                problems += config.connection_problems(item, refs[0].kind, where)
            else:
                problems += connection_reference_problems(config, item, where)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            problems += connection_reference_problems(config, item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problems += connection_reference_problems(config, item, f"{path}[{index}]")
    return problems


def register_secret_fields(model: BaseModel) -> None:
    for value in _walk_models(model):
        if isinstance(value, SecretStr):
            redaction.register_secret(value.get_secret_value())


def _walk_models(value: Any) -> list[Any]:
    found: list[Any] = []
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found.extend(_walk_models(getattr(value, name)))
    elif isinstance(value, Mapping):
        for item in value.values():
            found.extend(_walk_models(item))
    elif isinstance(value, list | tuple):
        for item in value:
            found.extend(_walk_models(item))
    else:
        found.append(value)
    return found


# --- interpolation ---------------------------------------------------------------


def _gsm_resolver(reference: str) -> str:
    from etl_framework.gcp.secrets_gsm import resolve

    return str(resolve(reference))


def read_secret_file(path: Path) -> str:
    """A secret file's text without its trailing newline (a regular file of at most
    `MAX_REFERENCED_FILE_BYTES`).

    Raises:
        ConfigError: not a regular file, too large, or not UTF-8 text.
        OSError: missing or unreadable.
    """
    data = read_bounded(path, MAX_REFERENCED_FILE_BYTES, "secret file", regular_only=True)
    try:
        return data.decode("utf-8").rstrip("\n")
    except UnicodeDecodeError:
        raise ConfigError(f"secret file {path} is not UTF-8 text") from None


def _file_resolver(reference: str) -> str:
    try:
        return read_secret_file(Path(reference))
    except OSError:
        raise KeyError(reference) from None


SECRET_SOURCES: dict[str, Callable[[str], str]] = {
    "file": _file_resolver,
    "gsm": _gsm_resolver,
}
"""Explicit ``${scheme:reference}`` sources; every value they give is a secret."""


class Interpolator:
    """Resolve ``${...}`` references in every string of a config tree."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.secrets_dir = Path(os.environ.get(ENV_VAR_SECRETS_DIR, DEFAULT_SECRETS_DIR))

    def resolve(self, value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {k: self.resolve(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v, f"{path}[{i}]") for i, v in enumerate(value)]
        if isinstance(value, str) and "${" in value:
            return _REFERENCE.sub(lambda m: self._substitute(m, path), value)
        return value

    def _substitute(self, match: re.Match[str], path: str) -> str:
        if match.group(0) == "$${":
            return "${"
        body = match.group(1)
        scheme, sep, reference = body.partition(":")
        if sep and scheme in SECRET_SOURCES and not reference.startswith("-"):
            try:
                value = SECRET_SOURCES[scheme](reference)
            except KeyError:
                self.problems.append((path, f"secret {body!r} not found"))
                return ""
            except ConfigError as exc:
                self.problems.append((path, str(exc)))
                return ""
            redaction.register_secret(value)
            return value
        name, has_default, default = body.partition(":-")
        if not _VAR_NAME.match(name):
            self.problems.append((path, f"invalid reference ${{{body}}}"))
            return ""
        if "${" in default:
            self.problems.append(
                (path, f"invalid reference ${{{body}}}: a default cannot contain a reference")
            )
            return ""
        if name in os.environ:
            value = os.environ[name]
            if redaction.looks_secret(name) or redaction.looks_secret(path):
                redaction.register_secret(value)
            return value
        secret_file = self.secrets_dir / name
        if secret_file.is_file():
            try:
                value = read_secret_file(secret_file)
            except (ConfigError, OSError) as exc:
                self.problems.append((path, str(exc)))
                return ""
            redaction.register_secret(value)
            return value
        if has_default:
            return default
        self.problems.append((path, f"environment variable or secret {name!r} is not set"))
        return ""
