"""The deployment spec: which transfers run where, on what schedule, with what resources.

``gke_deploy/transfers.yaml`` is the one source of truth for deployment. The Airflow
DAG file (``etl_framework.deploy.airflow``) and the Kubernetes Job manifests
(``etl_framework.deploy``) are both built from the `TransferSpec` objects this module
returns. The file has three sections, merged per transfer in this order::

    defaults          applied to every transfer
    environments.X    overlay selected by ``env`` / ``$ETL_ENV``
    transfers[i]      the transfer's own settings win

Mappings (``env``, ``resources``, ``sql_proxy``) are deep-merged; every other value,
lists included, is replaced. Every layer is validated on its own, so an error names
the place in the file where the bad value is written, and all problems are reported
at once in one `ConfigValidationError`.

Secrets never go in this file, and never into a rendered Job or DAG as a literal:
``env`` holds plain values, and a variable must be a reference
``secretKeyRef:<secret>/<key>`` (rendered as ``valueFrom.secretKeyRef``) when

* its name looks secret (`etl_framework.redaction.looks_secret`: ``*PASSWORD*``,
  ``*SECRET*``, ``*TOKEN*``, ``API_KEY``, ... but not ``KEY_PATH`` or
  ``GOOGLE_APPLICATION_CREDENTIALS``),
* its value is a secret: a URL with a password (``postgresql://u:pw@h/db``), a
  ``password=`` parameter, or a value this process read from a secret source
  (`etl_framework.redaction.is_secret_value`),
* or the transfer's config (when it is a local file) marks it secret: a
  ``${VAR}`` reference in a ``SecretStr`` field (``state.url``, a SQL connection's
  ``url``, HTTP auth keys and tokens) or under a secret-looking name
  (`config_secret_names`).

Renderers take literal values only through `TransferSpec.plain_env`, which checks again.

Pure pydantic: this module imports neither Airflow nor the Kubernetes client.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, NamedTuple, Optional, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
    model_validator,
)
from pydantic.fields import FieldInfo

from etl_framework import redaction
from etl_framework._version import __version__
from etl_framework.config import (
    ENV_VAR_ENVIRONMENT,
    StateConfig,
    deep_merge,
    parse_text,
    read_location,
    validation_problems,
)
from etl_framework.exceptions import (
    ConfigError,
    ConfigValidationError,
    InvalidDateError,
    UnknownTransferError,
    close_matches,
)
from etl_framework.window import WriteMode, parse_date

DEFAULT_TRANSFERS_FILE = "gke_deploy/transfers.yaml"
"""Where `load_transfers` looks when no path is given (relative to the working directory)."""

CREDENTIALS_MOUNT_PATH = "/var/secrets/google"
"""Where the ``credentials_secret`` is mounted (read-only) in the job container."""
DEFAULT_CREDENTIALS_KEY = "key.json"
DEFAULT_SQL_PROXY_IMAGE = "gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1"
DEFAULT_TAG = f"v{__version__}"
"""The release tag CI pushes for this version (immutable, pulled ``IfNotPresent``)."""
MOVING_TAGS = frozenset({"latest"})
"""Tags refused outright: they name whatever was pushed last, so a manifest with one runs
an image nobody chose (and would have to be pulled ``Always``)."""
DEFAULT_RETRIES = 2
DEFAULT_RETRY_DELAY_MINUTES = 5
DEFAULT_ACTIVE_DEADLINE_SECONDS = 3600
DEFAULT_BACKOFF_LIMIT = 2
DEFAULT_TTL_SECONDS_AFTER_FINISHED = 86400

SECRET_REF_PREFIX = "secretKeyRef:"
"""Prefix of an env value that points into a Kubernetes Secret: ``secretKeyRef:<secret>/<key>``."""

SCHEDULE_PRESETS = frozenset(
    {
        "@once",
        "@continuous",
        "@hourly",
        "@daily",
        "@weekly",
        "@monthly",
        "@quarterly",
        "@yearly",
        "@annually",
    }
)

IMMUTABLE_TAG = re.compile(r"^(v?[0-9]+\.[0-9]+\.[0-9]+|[0-9a-f]{7,40})$")
"""Tags treated as immutable, pulled ``IfNotPresent``: a release version ``1.4.0`` /
``v1.4.0`` or a git commit SHA (7-40 hex digits, as CI pushes them). Any other tag
(``latest``, ``dev``, ``1.4``, ``1.4.0-rc1``) can move, so it is pulled ``Always``:
a node that cached an older image under that tag would run it otherwise."""

_DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
_DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|e[0-9]+)?$")
_IMAGE_REPOSITORY = re.compile(r"^[a-z0-9]([a-z0-9._/-]*[a-z0-9])?(:[0-9]+)?(/[a-z0-9._-]+)*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_REF = re.compile(
    "^"
    + re.escape(SECRET_REF_PREFIX)
    + r"(?P<secret>[a-z0-9]([-a-z0-9.]*[a-z0-9])?)/(?P<key>[-._a-zA-Z0-9]+)$"
)


# --- field types (shared by the file layers and the merged spec) -----------


_TEMPLATE_MARKERS = ("{{", "{%")
_NO_TEMPLATES = (
    "values are passed as they are; Airflow would render templates (and could show"
    " what they expand to, secrets included)"
)


def _numbers_to_str(value: Any) -> Any:
    # YAML reads `cpu: 1` and `PORT: 5432` as numbers; Kubernetes wants strings.
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    return value


def _matching(pattern: str, what: str) -> AfterValidator:
    regex = re.compile(pattern)

    def check(value: str) -> str:
        if not regex.match(value):
            raise ValueError(f"{value!r} is not {what}")
        return value

    return AfterValidator(check)


def _check_quantity(value: str) -> str:
    if not _QUANTITY.match(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 500m, 1, 512Mi, 2Gi)")
    return value


def _check_image(value: str) -> str:
    last = value.rsplit("/", 1)[-1]
    if "@" in value or ":" in last:
        raise ValueError(f"image {value!r} must be a repository without tag or digest: set `tag`")
    if not _IMAGE_REPOSITORY.match(value):
        raise ValueError(f"{value!r} is not a valid image repository")
    return value


def _check_tag(value: str) -> str:
    if value in MOVING_TAGS:
        raise ValueError(
            f"tag {value!r} moves with every push: use the tag the build pushed (a release"
            " version or the git commit, see docs/deploy.md) or `digest`"
        )
    return value


def _check_schedule(value: str) -> str:
    if value.startswith("@"):
        if value not in SCHEDULE_PRESETS:
            presets = ", ".join(sorted(SCHEDULE_PRESETS))
            raise ValueError(
                f"unknown schedule preset {value!r}: use one of {presets} or a cron expression"
            )
    elif len(value.split()) not in (5, 6):
        raise ValueError(f"{value!r} is not a cron expression (5 fields, e.g. '0 3 * * *')")
    return value


def _parse_start_date(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() in ("today", "now", "yesterday"):
        # data-flow's datetime.now() start dates moved every parse: Airflow never ran them
        raise ValueError(
            f"{value!r} is not a fixed date: a moving date changes the DAG at every parse; "
            "write the date (YYYY-MM-DD)"
        )
    if isinstance(value, str):
        try:
            return parse_date(value, param="start_date")
        except InvalidDateError as exc:  # pydantic reports only ValueErrors as problems
            raise ValueError(str(exc)) from exc
    return value


def secret_literals(env: Mapping[str, str]) -> list[str]:
    """Names of literal (non-``secretKeyRef``) env values that are secret by name or value."""
    return sorted(
        name
        for name, value in env.items()
        if not value.startswith(SECRET_REF_PREFIX)
        and (redaction.looks_secret(name) or redaction.is_secret_value(value))
    )


def checked_literals(env: Mapping[str, str], transfer: str) -> dict[str, str]:
    """``env`` unchanged; ConfigError naming (never showing) any value that is a secret.

    Every renderer passes its literal env values through this before writing them.
    """
    leaked = secret_literals(env)
    if leaked:
        raise ConfigError(
            f"transfer {transfer!r}: env var(s) {', '.join(map(repr, leaked))} hold secrets"
            f" and are never rendered as literals: use '{SECRET_REF_PREFIX}<secret>/<key>'"
        )
    return dict(env)


def _has_template(value: str) -> bool:
    return any(marker in value for marker in _TEMPLATE_MARKERS)


def _no_template(value: str) -> str:
    if _has_template(value):
        raise ValueError(
            f"{value!r} contains a Jinja template marker ({{{{ or {{%): {_NO_TEMPLATES}"
        )
    return value


def _check_env(env: dict[str, str]) -> dict[str, str]:
    templated = [name for name, value in env.items() if _has_template(value)]
    if templated:
        raise ValueError(
            "env var(s) "
            + ", ".join(repr(n) for n in templated)
            + f" contain a Jinja template marker ({{{{ or {{%): {_NO_TEMPLATES}"
        )
    bad_names = [name for name in env if not _ENV_NAME.match(name)]
    if bad_names:
        raise ValueError(
            "invalid env var name(s) "
            + ", ".join(repr(n) for n in bad_names)
            + ": use letters, digits and underscores"
        )
    bad_refs = [
        name
        for name, value in env.items()
        if value.startswith(SECRET_REF_PREFIX) and not _SECRET_REF.match(value)
    ]
    if bad_refs:
        raise ValueError(
            "malformed secret reference in "
            + ", ".join(repr(n) for n in bad_refs)
            + f": expected {SECRET_REF_PREFIX}<secret>/<key>"
        )
    secret_looking = secret_literals(env)
    if secret_looking:
        raise ValueError(
            "env var(s) "
            + ", ".join(repr(n) for n in secret_looking)
            + " look like secrets (by name, or a value such as a URL with a password):"
            " never write secret values in this file; use"
            f" '{SECRET_REF_PREFIX}<secret>/<key>' to read them from a Kubernetes Secret"
        )
    return env


Name = Annotated[
    str,
    StringConstraints(max_length=63),
    # The registry's rule, minus a trailing `_` and `__`: with _ -> - the name must be a
    # DNS label and a label value (no trailing '-'), and no two names may differ only
    # there. Also valid as an Airflow dag_id.
    _matching(
        r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$",
        "a transfer name (lower case letters, digits and single _ between them,"
        " at most 63 characters)",
    ),
]
Schedule = Annotated[str, AfterValidator(_check_schedule)]
NonEmpty = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
StartDate = Annotated[dt.date, BeforeValidator(_parse_start_date)]
Image = Annotated[str, AfterValidator(_check_image)]
Tag = Annotated[
    str,
    BeforeValidator(_numbers_to_str),
    _matching(r"^[\w][\w.-]{0,127}$", "an image tag"),
    AfterValidator(_check_tag),
]
Digest = Annotated[str, _matching(r"^sha256:[0-9a-f]{64}$", "an image digest (sha256:<64 hex>)")]
DnsLabel = Annotated[
    str,
    StringConstraints(max_length=63),
    _matching(_DNS_LABEL, "a Kubernetes name (lowercase letters, digits and '-')"),
]
DnsSubdomain = Annotated[
    str,
    StringConstraints(max_length=253),
    _matching(_DNS_SUBDOMAIN, "a Kubernetes name (lowercase letters, digits, '-' and '.')"),
]
EnvValue = Annotated[str, BeforeValidator(_numbers_to_str)]
Env = Annotated[dict[str, EnvValue], AfterValidator(_check_env)]
Quantity = Annotated[str, BeforeValidator(_numbers_to_str), AfterValidator(_check_quantity)]
NonNegative = Annotated[int, Field(ge=0)]
Positive = Annotated[int, Field(ge=1)]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class Resources(BaseModel):
    """Container resource requests and limits (Kubernetes quantities as strings)."""

    model_config = _FROZEN

    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)


class SqlProxy(BaseModel):
    """A Cloud SQL Auth Proxy sidecar next to the job container."""

    model_config = _FROZEN

    instance: Annotated[str, StringConstraints(pattern=r"^[^:\s]+:[^:\s]+:[^:\s]+$")]
    """Instance connection name ``project:region:instance``."""
    port: Annotated[int, Field(ge=1, le=65535)] = 5432
    image: NonEmpty = DEFAULT_SQL_PROXY_IMAGE


class SecretKeyRef(NamedTuple):
    """An env value read from a Kubernetes Secret."""

    secret: str
    key: str


class TransferSpec(BaseModel):
    """One transfer with defaults and the environment overlay merged in."""

    model_config = _FROZEN

    name: Name
    """A registered transfer name (``pipeline ... NAME ...``)."""
    schedule: Schedule | None = None
    """Cron expression or Airflow preset; ``None`` = only triggered by hand."""
    mode: WriteMode
    config: Annotated[str, StringConstraints(min_length=1), AfterValidator(_no_template)]
    """Config location passed to ``pipeline`` (local path inside the image or gs://...)."""
    start_date: StartDate
    end_date: StartDate | None = None
    """Last logical date Airflow schedules (None: no end)."""
    catchup: bool = False
    allow_parallel_windows: bool = False
    """Let several windows of this transfer run at once (Airflow max_active_runs > 1)."""
    tags: list[NonEmpty] = Field(default_factory=list)
    image: Image
    """Image repository without tag."""
    tag: Tag = DEFAULT_TAG
    digest: Digest | None = None
    """``sha256:...`` of the pushed image: when set, the image is run by digest."""
    pull_policy: Literal["Always", "IfNotPresent", "Never"] | None = None
    """imagePullPolicy; None: from the tag (see `image_pull_policy`). The ``local``
    overlay sets ``IfNotPresent``: its image was built here and loaded into the cluster."""
    namespace: DnsLabel
    service_account: DnsSubdomain | None = None
    credentials_secret: DnsSubdomain | None = None
    """Secret with key files mounted read-only at /var/secrets/google; None = Workload Identity."""
    credentials_key: Annotated[str, _matching(r"^[-._a-zA-Z0-9]+$", "a Secret key")] = (
        DEFAULT_CREDENTIALS_KEY
    )
    """The key file in ``credentials_secret`` that GOOGLE_APPLICATION_CREDENTIALS points at."""
    env: Env = Field(default_factory=dict)
    resources: Resources = Field(default_factory=Resources)
    retries: NonNegative = DEFAULT_RETRIES
    retry_delay_minutes: NonNegative = DEFAULT_RETRY_DELAY_MINUTES
    active_deadline_seconds: Positive = DEFAULT_ACTIVE_DEADLINE_SECONDS
    backoff_limit: NonNegative = DEFAULT_BACKOFF_LIMIT
    ttl_seconds_after_finished: NonNegative = DEFAULT_TTL_SECONDS_AFTER_FINISHED
    sql_proxy: SqlProxy | None = None
    max_active_runs: Positive | None = None
    """Upper bound of parallel runs when ``allow_parallel_windows`` (None = Airflow's default)."""
    description: str | None = None
    """Free text shown in Airflow when the job's docstring is not available."""
    depends_on: list[Name] = Field(default_factory=list)
    """Upstream transfers: ``pipeline --depends-on`` checks the ledger for their coverage
    of the window (exit 75 until then); Airflow can schedule on their assets."""
    target: (
        Annotated[
            str,
            _matching(
                r"^[A-Za-z0-9_][-A-Za-z0-9_.]*/[A-Za-z0-9_][-A-Za-z0-9_.]*$", "connection/table"
            ),
        ]
        | None
    ) = None
    """``connection/table`` this transfer writes: its Airflow asset is
    ``etl://connection/table`` (default ``etl://transfer/<name>``)."""
    group: Name | None = None
    """Airflow: put this transfer in the DAG of this name with the group's other
    transfers (the group's first transfer in the file gives its schedule and dates)."""
    stage: NonNegative = 0
    """Order in the group: every task of a stage runs after the previous stage's (an
    ``EmptyOperator`` spacer between stages)."""
    schedule_on_upstream: bool = False
    """Airflow: run when every ``depends_on`` asset was updated (and on ``schedule`` too,
    when one is set)."""

    @model_validator(mode="after")
    def _end_after_start(self) -> TransferSpec:
        if self.end_date is not None and self.end_date < self.start_date:
            raise ValueError(f"end_date {self.end_date} is before start_date {self.start_date}")
        return self

    @model_validator(mode="after")
    def _upstream_schedule_needs_upstreams(self) -> TransferSpec:
        if self.schedule_on_upstream and not self.depends_on:
            raise ValueError("schedule_on_upstream needs depends_on")
        return self

    @property
    def asset_uri(self) -> str:
        """The stable URI of the Airflow asset this transfer's task updates."""
        return f"etl://{self.target}" if self.target else f"etl://transfer/{self.name}"

    @model_validator(mode="after")
    def _parallel_runs_need_parallel_windows(self) -> TransferSpec:
        if not self.allow_parallel_windows and (self.max_active_runs or 1) > 1:
            raise ValueError(
                f"max_active_runs {self.max_active_runs} needs allow_parallel_windows: true"
            )
        return self

    @property
    def image_ref(self) -> str:
        """The full image reference: ``repository@digest`` if pinned, else ``repository:tag``."""
        if self.digest is not None:
            return f"{self.image}@{self.digest}"
        return f"{self.image}:{self.tag}"

    @property
    def image_pull_policy(self) -> str:
        """`pull_policy` if set, else ``IfNotPresent`` by digest or an `IMMUTABLE_TAG`,
        ``Always`` for any other tag."""
        if self.pull_policy is not None:
            return self.pull_policy
        if self.digest is not None or IMMUTABLE_TAG.match(self.tag):
            return "IfNotPresent"
        return "Always"

    @property
    def credentials_path(self) -> str | None:
        """Value of GOOGLE_APPLICATION_CREDENTIALS, or None when using Workload Identity."""
        if self.credentials_secret is None:
            return None
        return f"{CREDENTIALS_MOUNT_PATH}/{self.credentials_key}"

    @property
    def k8s_name(self) -> str:
        """The transfer name as a DNS label fragment (``demo_orders`` -> ``demo-orders``)."""
        return self.name.replace("_", "-")

    def plain_env(self) -> dict[str, str]:
        """Env vars with literal values; ConfigError if one of them is a secret.

        The spec was validated when loaded, but a copy (``model_copy(update=...)``)
        skips validation: checked again here, where renderers take the values.
        """
        plain = {k: v for k, v in self.env.items() if not v.startswith(SECRET_REF_PREFIX)}
        return checked_literals(plain, self.name)

    def secret_env(self) -> dict[str, SecretKeyRef]:
        """Env vars read from Kubernetes Secrets (rendered as ``valueFrom.secretKeyRef``)."""
        refs: dict[str, SecretKeyRef] = {}
        for name, value in self.env.items():
            match = _SECRET_REF.match(value)
            if match:
                refs[name] = SecretKeyRef(match["secret"], match["key"])
        return refs

    def pipeline_args(self, execution_date: str, delta_start_date: str | None = None) -> list[str]:
        """Arguments of the ``pipeline`` entry point (without the command itself)."""
        args = [execution_date, self.name, self.mode.value, self.config]
        if delta_start_date is not None:
            args += ["--delta_start_date", delta_start_date]
        for upstream in self.depends_on:
            args += ["--depends-on", upstream]
        return args


# --- the file's layers -------------------------------------------------------


def _optional(field: FieldInfo) -> Any:
    # model_fields keeps Annotated metadata (validators, bounds) apart from the type
    annotation = (
        Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    )
    return Optional[annotation]  # noqa: UP045 - a runtime type expression


_LAYER_FIELDS = {
    name: (_optional(field), None)
    for name, field in TransferSpec.model_fields.items()
    if name != "name"
}
_LAYER_FIELDS["resources"] = (Optional[Resources], None)  # noqa: UP045

SpecLayer: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "SpecLayer", __config__=_FROZEN, **_LAYER_FIELDS
)
"""Any subset of the TransferSpec settings (defaults and environment overlays)."""

TransferLayer: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "TransferLayer", __config__=_FROZEN, name=(Name, ...), **_LAYER_FIELDS
)
"""One entry of ``transfers``: a name plus any settings."""

_SECTIONS = ("defaults", "environments", "transfers")
_MERGED_SECTIONS = frozenset({"env", "resources", "sql_proxy"})


def _merge_layers(*layers: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if key in _MERGED_SECTIONS and isinstance(value, Mapping):
                old = merged.get(key)
                merged[key] = deep_merge(old, value) if isinstance(old, Mapping) else dict(value)
            else:
                merged[key] = value
    return merged


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _problems(prefix: str, exc: ValidationError, known: Sequence[str]) -> list[tuple[str, str]]:
    """`etl_framework.config.validation_problems` in the deployment file's words: an
    unknown setting with a close match, a missing one that defaults may provide."""
    problems = []
    errors = exc.errors(include_input=False, include_url=False)
    for error, (path, msg) in zip(errors, validation_problems(exc, prefix), strict=True):
        loc = error["loc"]
        if error["type"] == "extra_forbidden":
            hint = close_matches(str(loc[-1]), known) if len(loc) == 1 else []
            msg = "unknown setting" + (f"; did you mean {hint[0]!r}?" if hint else "")
        elif error["type"] == "missing":
            msg = "required" if loc[-1:] == ("name",) else "required: set it here or in defaults"
        problems.append((path, msg.removeprefix("Value error, ")))
    return problems


def _validate(
    model: type[BaseModel], raw: Any, prefix: str, problems: list[tuple[str, str]]
) -> BaseModel | None:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_problems(prefix, exc, list(model.model_fields)))
        return None


class _Loader(yaml.SafeLoader):
    """SafeLoader that leaves dates as strings and records duplicate keys.

    Both become reported problems: a bad date instead of a crash, a duplicate key
    instead of PyYAML's silent "the last one wins".
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, str]] = []
        """(location, message) of every duplicate key, in the order found."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[str, int] = {}
        for key_node, _value in node.value:
            if (
                not isinstance(key_node, yaml.ScalarNode)
                or key_node.tag == "tag:yaml.org,2002:merge"
            ):
                continue
            line = key_node.start_mark.line + 1
            key = key_node.value
            if key in first_line:
                self.duplicates.append(
                    (
                        f"line {line}",
                        f"duplicate key {key!r} (first on line {first_line[key]}):"
                        " give each setting once",
                    )
                )
            else:
                first_line[key] = line
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read(path: Path) -> tuple[Any, list[tuple[str, str]]]:
    """The parsed file and its duplicate keys as problems."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read transfers file {path}: {exc.strerror or exc}") from exc
    loader = _Loader(text)
    try:
        return loader.get_single_data(), loader.duplicates
    except yaml.YAMLError as exc:
        raise ConfigError(f"transfers file {path} is not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def selected_environment(env: str | None) -> tuple[str | None, str]:
    """The overlay to apply and where its name came from: ``env`` if given, else
    ``$ETL_ENV`` (as for a run's config, `etl_framework.config.load_config`), else none."""
    if env is not None:
        return env, "env"
    from_environ = os.environ.get(ENV_VAR_ENVIRONMENT) or None
    return from_environ, f"${ENV_VAR_ENVIRONMENT}"


def load_transfers(
    path: str | Path = DEFAULT_TRANSFERS_FILE, env: str | None = None
) -> list[TransferSpec]:
    """Read, merge and validate every transfer of a deployment file.

    Args:
        path: The transfers file (YAML).
        env: Name of the overlay under ``environments``; None reads ``$ETL_ENV`` and
            applies no overlay when that is unset too.

    Raises:
        ConfigError: The file cannot be read or parsed, or the environment is unknown.
        ConfigValidationError: Some settings are invalid; lists every problem with its path.
    """
    path = Path(path)
    raw, duplicates = _read(path)
    location = str(path)
    problems: list[tuple[str, str]] = list(duplicates)
    if not isinstance(raw, Mapping):
        kind = "empty" if raw is None else f"a {type(raw).__name__}"
        raise ConfigValidationError(
            location,
            [("(top level)", f"expected a mapping with {', '.join(_SECTIONS)}; got {kind}")],
        )
    for key in raw:
        if key not in _SECTIONS:
            hint = close_matches(str(key), _SECTIONS)
            problems.append(
                (str(key), "unknown section" + (f"; did you mean {hint[0]!r}?" if hint else ""))
            )

    raw_defaults = raw.get("defaults") or {}
    defaults_ok = _validate(SpecLayer, raw_defaults, "defaults", problems) is not None

    raw_envs = raw.get("environments") or {}
    env_name, env_source = selected_environment(env)
    overlay: Mapping[str, Any] = {}
    overlay_ok = True
    if not isinstance(raw_envs, Mapping):
        problems.append(("environments", "expected a mapping of environment name -> settings"))
        raw_envs = {}
    for name, layer in raw_envs.items():
        ok = _validate(SpecLayer, layer or {}, f"environments.{name}", problems) is not None
        if name == env_name:
            overlay, overlay_ok = layer or {}, ok
    if env_name is not None and env_name not in raw_envs:
        known = ", ".join(map(str, raw_envs)) or "none defined"
        problems.append(
            (f"environments.{env_name}", f"unknown environment (from {env_source}); known: {known}")
        )
        overlay_ok = False

    raw_transfers = raw.get("transfers")
    if raw_transfers is None:
        problems.append(("transfers", "required: a list of transfers"))
        raw_transfers = []
    elif not isinstance(raw_transfers, list):
        problems.append(("transfers", "expected a list of transfers"))
        raw_transfers = []

    specs: list[TransferSpec] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw_transfers):
        prefix = f"transfers[{index}]"
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and name in seen:
            problems.append(
                (f"{prefix}.name", f"duplicate transfer {name!r} (also transfers[{seen[name]}])")
            )
            continue
        if isinstance(name, str):
            seen[name] = index
        if _validate(TransferLayer, entry, prefix, problems) is None:
            continue
        assert isinstance(entry, Mapping)
        if not (defaults_ok and overlay_ok):
            continue  # the shared layers' problems are already listed once
        merged = _merge_layers(raw_defaults, overlay, entry)
        spec = _validate(TransferSpec, merged, prefix, problems)
        if spec is not None:
            assert isinstance(spec, TransferSpec)
            problems.extend(_config_marked_literals(spec, prefix, path))
            specs.append(spec)

    if problems:
        raise ConfigValidationError(location, problems)
    return specs


# --- what the transfer's config marks secret ----------------------------------

_CONFIG_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")


def _annotation_is_secret(annotation: Any, keys: Sequence[str | int]) -> bool:
    """Whether the value at ``keys`` below a field of type ``annotation`` is a SecretStr."""
    from pydantic import SecretBytes, SecretStr

    if annotation in (SecretStr, SecretBytes):
        return True
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _annotation_is_secret(args[0], keys)
    if origin in (Union, UnionType):
        return any(_annotation_is_secret(arg, keys) for arg in args)
    if not keys:
        return False
    if origin in (list, tuple, set, frozenset, Sequence) and args:
        return _annotation_is_secret(args[0], keys[1:])
    if origin in (dict, Mapping) and len(args) == 2:
        return _annotation_is_secret(args[1], keys[1:])
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return _model_field_is_secret(annotation, keys)
    return False


def _model_field_is_secret(model: type[BaseModel] | None, keys: Sequence[str | int]) -> bool:
    if model is None or not keys:
        return False
    for name, field in model.model_fields.items():
        if keys[0] in (name, field.alias):
            return _annotation_is_secret(field.annotation, keys[1:]) or any(
                _annotation_is_secret(m, keys[1:]) for m in field.metadata if isinstance(m, type)
            )
    return False


def _section_model(raw: Mapping[str, Any], keys: Sequence[str | int]) -> type[BaseModel] | None:
    """The model that validates ``raw[keys[0]][keys[1]]`` (a connection, transfer options)."""
    from etl_framework import registry
    from etl_framework.connections import connector_class

    section, name = keys[0], keys[1] if len(keys) > 1 else None
    try:
        if section == "connections" and name is not None:
            return connector_class(str(raw["connections"][name]["type"])).config_model
        if section == "transfers" and isinstance(name, str):
            # Only a job this process has imported: renderers (the Airflow scheduler
            # above all) never import job modules, whose dependencies live in the image.
            job = registry.snapshot()[0].get(name)
            return job.options_model if job is not None else None
    except Exception:  # unknown connection type: the run reports it; names still count
        return None
    return None


def _secret_leaf(raw: Mapping[str, Any], keys: Sequence[str | int]) -> bool:
    if keys[0] == "state":
        return _model_field_is_secret(StateConfig, keys[1:])
    if keys[0] in ("connections", "transfers") and len(keys) > 2:
        return _model_field_is_secret(_section_model(raw, keys), keys[2:])
    return False


def config_secret_names(location: str | Path) -> dict[str, str]:
    """Env vars a config reads (``${VAR}``) into a place it treats as secret.

    Returns ``{VAR: config path}`` for every reference in a ``SecretStr`` field (the
    state URL, a SQL connection's URL, HTTP auth secrets, and secret fields of a
    transfer's options when its job class is already imported: job modules are never
    imported here) or under a secret-looking name, in the file and in each of its
    ``environments`` overlays. Such a variable holds a secret in the pod, so a Job or
    DAG must take it from a Kubernetes Secret.

    Raises:
        ConfigError: the file cannot be read or parsed.
    """
    text = read_location(str(location))
    base = parse_text(text, str(location))
    overlays = base.pop("environments", None)
    trees = [base]
    if isinstance(overlays, Mapping):
        trees += [deep_merge(base, o) for o in overlays.values() if isinstance(o, Mapping)]
    found: dict[str, str] = {}

    def walk(raw: Mapping[str, Any], node: Any, keys: list[str | int]) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(raw, value, [*keys, str(key)])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(raw, value, [*keys, index])
        elif isinstance(node, str) and keys:
            path = _path("", keys)
            names = _CONFIG_REFERENCE.findall(node)
            secret_leaf = bool(names) and (redaction.looks_secret(path) or _secret_leaf(raw, keys))
            for name in names:
                if secret_leaf or redaction.looks_secret(name):
                    found.setdefault(name, path)

    for tree in trees:
        walk(tree, tree, [])
    return found


def _local_config(spec: TransferSpec, transfers_file: Path) -> Path | None:
    """The spec's config as a local file, if it is one (relative: to the working
    directory, else to the repository that holds ``gke_deploy/transfers.yaml``)."""
    if "://" in spec.config:
        return None  # gs://: read by the pod, not at render time
    candidate = Path(spec.config)
    for path in (candidate, transfers_file.resolve().parent.parent / candidate):
        if path.is_file():
            return path
    return None


def _config_marked_literals(
    spec: TransferSpec, prefix: str, transfers_file: Path
) -> list[tuple[str, str]]:
    config = _local_config(spec, transfers_file)
    if config is None:
        return []
    try:
        marked = config_secret_names(config)
    except ConfigError as exc:
        return [(f"{prefix}.config", str(exc))]
    return [
        (
            f"{prefix}.env.{name}",
            f"the config {spec.config} reads it into {marked[name]}, a secret: use"
            f" '{SECRET_REF_PREFIX}<secret>/<key>' (never a literal value)",
        )
        for name in sorted(marked)
        if name in spec.env and not spec.env[name].startswith(SECRET_REF_PREFIX)
    ]


def get_transfer(
    name: str, path: str | Path = DEFAULT_TRANSFERS_FILE, env: str | None = None
) -> TransferSpec:
    """The merged spec of one transfer; UnknownTransferError if the file does not list it."""
    specs = load_transfers(path, env)
    for spec in specs:
        if spec.name == name:
            return spec
    raise UnknownTransferError(name, [spec.name for spec in specs])


__all__ = [
    "CREDENTIALS_MOUNT_PATH",
    "DEFAULT_TRANSFERS_FILE",
    "Resources",
    "SecretKeyRef",
    "SqlProxy",
    "TransferSpec",
    "checked_literals",
    "config_secret_names",
    "get_transfer",
    "load_transfers",
    "selected_environment",
]
