"""Errors of HTTP sources, and the URL redaction every message goes through.

::

    SourceError [1]
    ├── HttpStatusError            a status that retrying will not fix (401, 404...)
    ├── HttpRequestError           a request that cannot be made (TLS failure, bad URL...)
    ├── ResponseVerificationError  Hawk: response unsigned, tampered or wrongly signed
    ├── MalformedPageError         a page that is not the JSON we expect
    └── PaginationLoopError        the API pointed back at a page already read
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
    """The request could not be made for a reason waiting will not fix."""

    def __init__(self, method: str, url: str, cause: BaseException) -> None:
        self.method = method
        self.url = redact_url(url)
        self.cause = cause
        super().__init__(f"{method} {self.url} failed: {type(cause).__name__}")


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
    def __init__(self, url: str, page: int, first_seen: int) -> None:
        self.url = redact_url(url)
        self.page = page
        self.first_seen = first_seen
        super().__init__(
            f"pagination loop: page {page} points to {self.url}, already read as page {first_seen}"
        )
