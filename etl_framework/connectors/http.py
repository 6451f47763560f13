"""HTTP APIs through a requests Session (``type: http``).

A connection names the API and how to talk to it::

    connections:
      datahub:
        type: http
        base_url: https://datahub.example.com
        auth: {type: hawk, id: "${HAWK_ID}", key: "${HAWK_KEY}"}   # or bearer/basic/api_key
        timeout: {connect: 10, read: 60}
        retry: {max_attempts: 5, backoff_initial: 1, max_total_wait: 300}

`HttpConnector.request` sends one request with the connection's auth, timeouts
and retries (`etl_framework.http.retry`) and returns a response with a status
below 400, or raises: `HttpStatusError` (exit 1), `HttpUnavailableError` (exit 75),
`ResponseVerificationError` (exit 1, Hawk), `HttpRequestError` (exit 1: TLS
verification, an invalid URL, a redirect to another origin, which is refused so
credentials never follow it). Pagination, concurrent fetch and the
page cache live in `etl_framework.sources.http`, on top of this.

requests, mohawk and tenacity are imported when the connector opens, so a config
can be validated without the ``http`` extra.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import urlencode, urljoin

from pydantic import Field, field_validator

from etl_framework.connections import Connector, ConnectorConfig
from etl_framework.http.config import (
    DEFAULT_POOL_SIZE,
    DEFAULT_USER_AGENT,
    AuthConfig,
    RetryConfig,
    TimeoutConfig,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    import requests


class HttpConfig(ConnectorConfig):
    """``type: http``: an HTTP API."""

    type: Literal["http"] = "http"
    base_url: str
    auth: AuthConfig | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: TimeoutConfig = Field(default_factory=TimeoutConfig)
    retry: RetryConfig = Field(default_factory=RetryConfig)
    verify_tls: bool | str = True
    """False to skip TLS verification, or the path of a CA bundle."""
    pool_size: int = Field(DEFAULT_POOL_SIZE, ge=1)
    """Connections kept open per host; raised to a source's concurrency when needed."""
    user_agent: str = DEFAULT_USER_AGENT

    @field_validator("base_url")
    @classmethod
    def _absolute_http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            from etl_framework.http.errors import redact_url

            # The value may carry a token in its query: show it redacted.
            raise ValueError(
                f"base_url must start with http:// or https://, got {redact_url(value)!r}"
            )
        return value if value.endswith("/") else value + "/"


class HttpConnector(Connector):
    """A requests Session with the connection's auth, timeouts and retries."""

    type_name = "http"
    config_model = HttpConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"read", "concurrent_read"})

    config: HttpConfig

    def __init__(self, name: str, config: ConnectorConfig) -> None:
        super().__init__(name, config)
        self._session: requests.Session | None = None
        self._pool_size = self.config.pool_size
        self._lock = threading.Lock()

    # --- lifecycle -------------------------------------------------------------

    def _open(self) -> None:
        try:
            from etl_framework.http._session import ApiSession  # imports requests
        except ImportError:
            from etl_framework.exceptions import missing_extra_error

            raise missing_extra_error("requests", "http") from None
        from etl_framework.http.auth import build_auth

        session: requests.Session = ApiSession()
        session.headers["User-Agent"] = self.config.user_agent
        session.headers["Accept"] = "application/json"
        session.headers.update(self.config.headers)
        session.auth = build_auth(self.config.auth)
        session.verify = self.config.verify_tls
        # trust_env for proxies; verify is also passed per request (see `request`)
        session.trust_env = True
        self._session = session
        self._mount(self._pool_size)

    def _close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _mount(self, pool_size: int) -> None:
        from requests.adapters import HTTPAdapter

        assert self._session is not None
        for prefix in ("http://", "https://"):
            old = self._session.adapters.get(prefix)
            # max_retries=0: retries happen above requests, see etl_framework.http.retry
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
            self._session.mount(prefix, adapter)
            if old is not None:
                old.close()  # its idle connections; nothing is in flight between fetches

    def reserve_concurrency(self, workers: int) -> None:
        """Make the connection pool large enough for ``workers`` parallel requests."""
        self.open()
        with self._lock:
            if workers > self._pool_size:
                self._pool_size = workers
                self._mount(workers)

    @property
    def session(self) -> requests.Session:
        self.open()
        assert self._session is not None
        return self._session

    # --- requests --------------------------------------------------------------

    def url_for(self, path_or_url: str) -> str:
        """An absolute URL: ``path_or_url`` itself, or joined to ``base_url``."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return urljoin(self.config.base_url, path_or_url.lstrip("/"))

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | Sequence[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        data: bytes | str | None = None,
        json: Any = None,
        sleep: Callable[[float], None] | None = None,
    ) -> requests.Response:
        """Send one request with retries; a response with status < 400 or an error."""
        import time

        import requests as _requests

        from etl_framework.http.errors import HttpRequestError
        from etl_framework.http.retry import is_transient, send_with_retries

        session = self.session
        url = self.url_for(path_or_url)
        method = method.upper()
        pairs = _param_list(params)
        try:
            prepared = _requests.models.PreparedRequest()
            prepared.prepare_url(url, pairs)
        except _requests.RequestException as exc:
            # its message holds the URL unredacted, query secrets included: not chained
            shown = f"{url}{'&' if '?' in url else '?'}{urlencode(pairs)}" if pairs else url
            raise HttpRequestError(method, shown, exc) from None
        full_url = str(prepared.url)
        timeout = (self.config.timeout.connect, self.config.timeout.read)

        def send() -> _requests.Response:
            return session.request(
                method,
                url,
                params=pairs,
                headers=headers,
                data=data,
                json=json,
                timeout=timeout,
                # explicit: with trust_env, REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE would
                # otherwise replace a session-level False or CA bundle path
                verify=self.config.verify_tls,
            )

        try:
            return send_with_retries(
                send,
                method=method,
                url=full_url,
                policy=self.config.retry,
                sleep=sleep or time.sleep,
            )
        except _requests.RequestException as exc:
            if is_transient(exc):
                raise
            raise HttpRequestError(method, full_url, exc) from exc

    def get(self, path_or_url: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        return self.request("GET", path_or_url, params=params)


def _param_list(
    params: Mapping[str, Any] | Sequence[tuple[str, str]] | None,
) -> list[tuple[str, Any]] | None:
    """Query parameters as ordered pairs (a mapping or pairs; repeated keys kept)."""
    if not params:
        return None
    if hasattr(params, "items"):
        return list(params.items())
    return list(params)
