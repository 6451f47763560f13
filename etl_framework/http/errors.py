"""Errors of HTTP sources, and the URL redaction every message goes through.

::

    SourceError [1]
    ├── HttpStatusError            a status that retrying will not fix (401, 404...)
    ├── HttpRequestError           a request that cannot be made (TLS verification, bad URL,
    │                              a redirect to another origin)
    ├── ResponseVerificationError  Hawk: response unsigned, tampered or wrongly signed
    ├── MalformedPageError         a page that is not the JSON we expect (or a next link to
    │                              another origin, or fewer records than the total says)
    ├── PaginationLoopError        the API pointed back at a page already read, or repeated one
    └── TooManyPagesError          more pages than the source's ``max_pages``
    SourceUnavailableError [75]
    └── HttpUnavailableError       still failing after the retries (or out of wait budget)

Every message names the method, the URL with query secrets and passwords masked,
and the status when there is one.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from etl_framework.exceptions import SourceError, SourceUnavailableError

MASK = "***"
SECRET_PARAM = re.compile(
    r"(token|key|secret|password|passwd|pwd|signature|sig|auth|credential|session)", re.I
)
MAX_DETAIL_CHARS = 200


def redact_url(url: str) -> str:
    """``url`` with userinfo passwords and secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{user}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, MASK if SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*:/,"
        )
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> str:
    """``scheme://host:port`` of ``url``: where credentials sent to ``url`` may go.

    The port is explicit (``https://api.test`` and ``https://api.test:443`` are one
    origin); no path, query or userinfo, so it is safe in messages. Raises
    `ValueError` for a URL whose port is not a number.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    port = parts.port or DEFAULT_PORTS.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None else "")


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_DETAIL_CHARS else text[: MAX_DETAIL_CHARS - 3] + "..."


class HttpStatusError(SourceError):
    """The server answered with a status that is not worth retrying."""

    def __init__(self, method: str, url: str, status: int, reason: str = "", detail: str = ""):
        self.method = method
        self.url = redact_url(url)
        self.status = status
        self.reason = reason
        self.detail = _short(detail)
        text = f"{method} {self.url} failed: HTTP {status}"
        if reason:
            text += f" {reason}"
        if self.detail:
            text += f": {self.detail}"
        super().__init__(text)


class HttpRequestError(SourceError):
    """The request could not be made for a reason waiting will not fix.

    The message names the cause's type, or ``problem`` when given; never the
    cause's own text, which may hold the unredacted URL.
    """

    def __init__(
        self, method: str, url: str, cause: BaseException | None = None, *, problem: str = ""
    ) -> None:
        self.method = method
        self.url = redact_url(url)
        self.cause = cause
        self.problem = problem or (type(cause).__name__ if cause is not None else "unknown error")
        super().__init__(f"{method} {self.url} failed: {self.problem}")


class HttpUnavailableError(SourceUnavailableError):
    """Transient failures went on past the retry budget."""

    def __init__(
        self,
        method: str,
        url: str,
        *,
        attempts: int,
        waited: float,
        status: int | None = None,
        reason: str = "",
        cause: BaseException | None = None,
    ) -> None:
        self.method = method
        self.url = redact_url(url)
        self.attempts = attempts
        self.waited = waited
        self.status = status
        if status is not None:
            last = f"HTTP {status}" + (f" {reason}" if reason else "")
        else:
            last = type(cause).__name__ if cause is not None else "unknown error"
        self.last_error = last
        noun = "attempt" if attempts == 1 else "attempts"
        super().__init__(
            f"{method} {self.url} still failing after {attempts} {noun} "
            f"({waited:.1f}s waited): {last}"
        )


class ResponseVerificationError(SourceError):
    """The response's Hawk ``Server-Authorization`` is missing or does not verify."""

    def __init__(self, method: str, url: str, status: int, problem: str) -> None:
        self.method = method
        self.url = redact_url(url)
        self.status = status
        self.problem = problem
        super().__init__(
            f"response to {method} {self.url} (HTTP {status}) failed Hawk verification: {problem}"
        )


class MalformedPageError(SourceError):
    def __init__(self, url: str, page: int, problem: str) -> None:
        self.url = redact_url(url)
        self.page = page
        self.problem = _short(problem)
        super().__init__(f"page {page} from {self.url} is malformed: {self.problem}")


class PaginationLoopError(SourceError):
    """The API pointed back at a page already read, or served the same records again.

    ``repeated=True``: page ``page`` (at ``url``) holds exactly the records of page
    ``first_seen``, as when an API answers an out-of-range page with its last page.
    """

    def __init__(self, url: str, page: int, first_seen: int, *, repeated: bool = False) -> None:
        self.url = redact_url(url)
        self.page = page
        self.first_seen = first_seen
        self.repeated = repeated
        if repeated:
            text = (
                f"pagination loop: page {page} from {self.url} repeats the records of page "
                f"{first_seen} (does the API answer pages past the end with its last page?)"
            )
        else:
            text = (
                f"pagination loop: page {page} points to {self.url}, "
                f"already read as page {first_seen}"
            )
        super().__init__(text)


class TooManyPagesError(SourceError):
    """The source has more pages than its ``max_pages`` allows."""

    def __init__(self, url: str, max_pages: int) -> None:
        self.url = redact_url(url)
        self.max_pages = max_pages
        super().__init__(
            f"{self.url} has more than max_pages={max_pages} pages; "
            "raise max_pages if the source really is that large"
        )
