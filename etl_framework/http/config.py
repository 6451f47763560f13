"""Typed config of HTTP connections and sources (pydantic only, no requests import).

A connection (``connections.<name>`` with ``type: http``) says *how* to talk to an
API: base URL, credentials, timeouts, retries. A source (inside a transfer's
options) says *what* to read: the endpoint, its pagination, where the records are,
how many workers fetch pages and whether pages are cached.

Defaults are the named module constants below.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from etl_framework.connections import ConnectionRef

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 60.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_BACKOFF_INITIAL = 1.0
DEFAULT_BACKOFF_MAX = 60.0
DEFAULT_BACKOFF_JITTER = 1.0
DEFAULT_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
DEFAULT_RETRY_AFTER_FLOOR = 1.0
"""Seconds waited when a server says ``Retry-After: 0`` (or a date in the past)."""
DEFAULT_MAX_TOTAL_WAIT = 300.0
DEFAULT_HAWK_SKEW_SECONDS = 60.0
DEFAULT_POOL_SIZE = 10
DEFAULT_RECORDS_PATH = "results"
DEFAULT_CONCURRENCY = 1
DEFAULT_USER_AGENT = "etl_framework"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- auth --------------------------------------------------------------------


class HawkAuthConfig(_Model):
    """Hawk (https://github.com/mozilla/hawk) through mohawk."""

    type: Literal["hawk"] = "hawk"
    id: str
    key: SecretStr
    algorithm: Literal["sha256", "sha1"] = "sha256"
    verify_response: bool = True
    """Check every response's ``Server-Authorization`` (body hash and MAC)."""
    ext: str | None = None
    timestamp_skew_seconds: float = DEFAULT_HAWK_SKEW_SECONDS


class BearerAuthConfig(_Model):
    type: Literal["bearer"] = "bearer"
    token: SecretStr


class BasicAuthConfig(_Model):
    type: Literal["basic"] = "basic"
    username: str
    password: SecretStr


class ApiKeyAuthConfig(_Model):
    """A key sent in a request header (``X-API-Key: ...`` by default)."""

    type: Literal["api_key"] = "api_key"
    key: SecretStr
    header: str = "X-API-Key"
    prefix: str = ""
    """Written before the key, e.g. ``"Token "``."""


AuthConfig = Annotated[
    HawkAuthConfig | BearerAuthConfig | BasicAuthConfig | ApiKeyAuthConfig,
    Field(discriminator="type"),
]


# --- behaviour ---------------------------------------------------------------


class TimeoutConfig(_Model):
    connect: float = Field(DEFAULT_CONNECT_TIMEOUT, gt=0)
    read: float = Field(DEFAULT_READ_TIMEOUT, gt=0)


class RetryConfig(_Model):
    """Retries with exponential backoff and jitter on transient failures.

    Retried: connection errors, timeouts and the statuses in ``statuses``. A
    ``Retry-After`` header (seconds or HTTP-date) replaces the backoff for that
    wait, but never goes below ``retry_after_floor``. The run gives up (exit 75) once
    ``max_attempts`` are used or the next wait would take the total waiting past
    ``max_total_wait``.
    """

    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1)
    backoff_initial: float = Field(DEFAULT_BACKOFF_INITIAL, ge=0)
    backoff_max: float = Field(DEFAULT_BACKOFF_MAX, ge=0)
    jitter: float = Field(DEFAULT_BACKOFF_JITTER, ge=0)
    """Up to this many seconds of random jitter added to each backoff."""
    statuses: frozenset[int] = DEFAULT_RETRY_STATUSES
    retry_after_floor: float = Field(DEFAULT_RETRY_AFTER_FLOOR, gt=0)
    max_total_wait: float = Field(DEFAULT_MAX_TOTAL_WAIT, ge=0)

    @field_validator("statuses")
    @classmethod
    def _statuses_are_errors(cls, value: frozenset[int]) -> frozenset[int]:
        bad = sorted(s for s in value if not 400 <= s <= 599)
        if bad:
            raise ValueError(f"only 4xx/5xx statuses can be retried, got {bad}")
        return value


# --- pagination --------------------------------------------------------------


class NextUrlPagination(_Model):
    """The body names the next page: ``{"next": "https://...", "results": [...]}``."""

    type: Literal["next_url"] = "next_url"
    next_path: str = "next"


class LinkHeaderPagination(_Model):
    """RFC 8288 ``Link: <https://...>; rel="next"``."""

    type: Literal["link_header"] = "link_header"
    rel: str = "next"


class PageNumberPagination(_Model):
    """``?page=1``, ``?page=2``... Directly addressable when the total is known.

    The total comes from ``total_pages_path`` or from ``total_path`` (records) and
    ``page_size``. Without a total, pages are read in order until an empty (or short,
    when ``page_size`` is set) page.
    """

    type: Literal["page_number"] = "page_number"
    page_param: str = "page"
    start: int = 1
    page_size: int | None = Field(None, ge=1)
    page_size_param: str | None = None
    total_path: str | None = None
    total_pages_path: str | None = None


class OffsetPagination(_Model):
    """``?offset=0&limit=100``. Directly addressable when ``total_path`` is given."""

    type: Literal["offset"] = "offset"
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)
    total_path: str | None = None


class CursorPagination(_Model):
    """The body carries a cursor token sent back as a query parameter."""

    type: Literal["cursor"] = "cursor"
    cursor_path: str = "next_cursor"
    cursor_param: str = "cursor"


class NoPagination(_Model):
    """One request, one page."""

    type: Literal["none"] = "none"


PaginationConfig = Annotated[
    NextUrlPagination
    | LinkHeaderPagination
    | PageNumberPagination
    | OffsetPagination
    | CursorPagination
    | NoPagination,
    Field(discriminator="type"),
]


# --- source ------------------------------------------------------------------


class PageCacheConfig(_Model):
    """Keep fetched pages so a retried run resumes without refetching them.

    ``location`` is a local directory or a ``gs://bucket/prefix``. Pages are keyed by
    transfer, mode, window and execution date, and removed after a successful
    publish.
    """

    location: str
    gcs_connection: Annotated[str | None, ConnectionRef("gcs")] = None
    """Name of a ``type: gcs`` connection for credentials (default: ADC/emulator)."""


class WindowParams(_Model):
    """Query parameters that restrict a delta run to its window (ISO dates)."""

    start: str | None = None
    """Receives the window start (inclusive), e.g. ``modified_on__gte``."""
    end: str | None = None
    """Receives the window end (exclusive), e.g. ``modified_on__lt``."""


class HttpSourceConfig(_Model):
    """What to read from an HTTP connection (part of a transfer's options)."""

    connection: Annotated[str, ConnectionRef("http")]
    """The ``type: http`` connection (checked before the run starts)."""
    path: str
    """Endpoint path relative to the connection's ``base_url`` (or an absolute URL)."""
    params: dict[str, str] = Field(default_factory=dict)
    records_path: str = DEFAULT_RECORDS_PATH
    """Dotted path of the record list in each page; ``""`` when the page is the list."""
    pagination: PaginationConfig = Field(default_factory=NextUrlPagination)
    concurrency: int = Field(DEFAULT_CONCURRENCY, ge=1, le=64)
    """Requests in flight: workers fetching directly addressable pages (page number or
    offset with a total), else date sub-windows of a delta run fetched side by side
    (needs both ``window_params``). Anything else is refused: it could not take effect."""
    max_pages_in_flight: int | None = Field(None, ge=1)
    """Pages fetched ahead of the loader (default: 2 x concurrency)."""
    max_pages: int | None = Field(None, ge=1)
    """Fail (`TooManyPagesError`) rather than read more pages than this (default: no cap)."""
    window_params: WindowParams = Field(default_factory=WindowParams)
    page_cache: PageCacheConfig | None = None

    @model_validator(mode="after")
    def _concurrency_can_take_effect(self) -> HttpSourceConfig:
        if self.concurrency > 1 and not pages_addressable(self.pagination):
            wp = self.window_params
            if not (wp.start and wp.end):
                raise ValueError(
                    f"concurrency {self.concurrency} cannot take effect: "
                    f"{_why_not_addressable(self.pagination)}, and without both "
                    "window_params.start and window_params.end the window cannot be split "
                    "into date sub-windows fetched side by side; set concurrency: 1 or "
                    "configure window_params"
                )
        return self


def pages_addressable(pagination: PaginationConfig) -> bool:
    """Whether the remaining pages can be listed from the first one (so fetched by
    several workers): page numbers or offsets with a total the config says where to
    find."""
    if isinstance(pagination, PageNumberPagination):
        return bool(pagination.total_pages_path or (pagination.total_path and pagination.page_size))
    if isinstance(pagination, OffsetPagination):
        return bool(pagination.total_path)
    return False


def _why_not_addressable(pagination: PaginationConfig) -> str:
    if isinstance(pagination, PageNumberPagination):
        return (
            "page_number pages are only listed up front with total_pages_path, or "
            "total_path and page_size"
        )
    if isinstance(pagination, OffsetPagination):
        return "offset pages are only listed up front with total_path"
    if isinstance(pagination, NoPagination):
        return "pagination none reads one page"
    return f"{pagination.type} pages are only known one after another"
