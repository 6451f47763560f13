"""Auth plug-ins for requests (`requests.auth.AuthBase`): Hawk, bearer, basic, API key.

`HawkAuth` signs the exact bytes and content type each request sends, with a
fresh nonce per attempt, and by default verifies the ``Server-Authorization`` of
every successful response (MAC and body hash) in a response hook, so a tampered or
unsigned page raises before any record is handed on.

Why payload hashes go through a file object: mohawk 1.1.0's
``calculate_payload_hash`` formats every hashed part with ``pprint`` for a debug
log line, whatever the log level (the string is built before ``log.debug`` is
called). For a 350 KB page that is ~30-40 ms per hash. mohawk also accepts a
file-like ``content`` (read in blocks, and logged as ``<_io.BytesIO ...>``): the
same hash in ~0.3 ms, without forking or patching mohawk. See
``tests/unit/http/test_auth.py::test_hawk_hash_does_not_format_the_body``.
"""

from __future__ import annotations

import io
import logging
import math
import threading
import time
from typing import TYPE_CHECKING, Any

from requests.auth import AuthBase, HTTPBasicAuth

from etl_framework.http.errors import ResponseVerificationError

if TYPE_CHECKING:
    from requests import PreparedRequest, Response

    from etl_framework.http.config import AuthConfig

SERVER_AUTHORIZATION = "Server-Authorization"
_NO_NONCE_CHECK_WARNING = "seen_nonce was None"


class _ResponseNonceWarningFilter(logging.Filter):
    """Drop mohawk's "seen_nonce was None" warning for *response* checks only.

    mohawk warns on every ``accept_response`` because the sender has no nonce
    callback. A response header carries no nonce (mohawk would fail looking it up if
    we gave one), and its MAC covers our own request's fresh nonce, so a replayed
    response cannot verify: the warning is noise, once per page. Receivers (servers)
    that forget their nonce check still get the warning.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            isinstance(record.msg, str)
            and record.msg.startswith(_NO_NONCE_CHECK_WARNING)
            and _verifying.active
        )


class _Verifying(threading.local):
    active = False


_verifying = _Verifying()
logging.getLogger("mohawk.base").addFilter(_ResponseNonceWarningFilter())


def hashable_content(body: bytes | str | None) -> io.BytesIO:
    """``body`` as the file object mohawk hashes without formatting it for a log line."""
    if body is None:
        return io.BytesIO(b"")
    if isinstance(body, str):
        body = body.encode("utf-8")
    return io.BytesIO(body)


class HawkAuth(AuthBase):
    """Hawk request signing and response verification through mohawk."""

    def __init__(
        self,
        hawk_id: str,
        key: str,
        algorithm: str = "sha256",
        *,
        verify_response: bool = True,
        ext: str | None = None,
        timestamp_skew_seconds: float = 60.0,
    ) -> None:
        try:
            import mohawk  # noqa: F401
        except ImportError:
            from etl_framework.exceptions import missing_extra_error

            raise missing_extra_error("mohawk", "http") from None
        self._credentials = {"id": hawk_id, "key": key, "algorithm": algorithm}
        self.hawk_id = hawk_id
        self.algorithm = algorithm
        self.verify_response = verify_response
        self.ext = ext
        self.timestamp_skew_seconds = timestamp_skew_seconds

    def __repr__(self) -> str:  # never the key
        return f"HawkAuth(id={self.hawk_id!r}, algorithm={self.algorithm!r})"

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        from mohawk import Sender

        body = request.body
        if body is not None and not isinstance(body, bytes | str):
            raise TypeError("HawkAuth signs bytes bodies only, not streams or generators")
        content_type = request.headers.get("Content-Type", "")
        sender = Sender(
            dict(self._credentials),
            str(request.url),
            str(request.method),
            content=hashable_content(body),
            content_type=content_type,
            ext=self.ext,
        )
        request.headers["Authorization"] = sender.request_header
        if self.verify_response:
            request.hooks["response"].append(self._verifier(sender, time.monotonic()))
        return request

    def _verifier(self, sender: Any, signed_at: float) -> Any:
        def verify(response: Response, *args: Any, **kwargs: Any) -> Response:
            if not response.ok:  # errors are reported by status; their bodies are not used
                return response
            try:
                self.verify(sender, response, elapsed=time.monotonic() - signed_at)
            except BaseException:
                response.close()  # an unread body would keep its connection checked out
                raise
            return response

        return verify

    def verify(self, sender: Any, response: Response, *, elapsed: float = 0.0) -> None:
        """Raise `ResponseVerificationError` unless ``response`` is signed for ``sender``.

        mohawk checks a response against the *request's* timestamp, so a page that
        took longer than the skew to arrive would look expired. ``elapsed``, the
        seconds since the request was signed, is added to the allowed skew: the time
        check then still catches a clock far off, while the MAC (over our fresh
        nonce and timestamp) and the body hash are checked as strictly as ever.
        """
        from mohawk.exc import HawkFail

        method = str(response.request.method)
        header = response.headers.get(SERVER_AUTHORIZATION)
        if not header:
            raise ResponseVerificationError(
                method,
                response.url,
                response.status_code,
                f"no {SERVER_AUTHORIZATION} header (unsigned response)",
            )
        _verifying.active = True
        try:
            sender.accept_response(
                header,
                content=hashable_content(response.content),
                content_type=response.headers.get("Content-Type", ""),
                # whole seconds, as mohawk compares them
                timestamp_skew_in_seconds=self.timestamp_skew_seconds + math.ceil(elapsed),
            )
        except HawkFail as exc:
            raise ResponseVerificationError(
                method, response.url, response.status_code, f"{type(exc).__name__}: {exc}"
            ) from exc
        finally:
            _verifying.active = False


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>``."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "BearerAuth(token=***)"

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request


class ApiKeyAuth(AuthBase):
    """An API key in a request header."""

    def __init__(self, key: str, header: str = "X-API-Key", prefix: str = "") -> None:
        self._key = key
        self.header = header
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"ApiKeyAuth(header={self.header!r}, key=***)"

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        request.headers[self.header] = f"{self.prefix}{self._key}"
        return request


class BasicAuth(HTTPBasicAuth):
    """HTTP basic auth whose repr hides the password."""

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password=***)"


def build_auth(config: AuthConfig | None) -> AuthBase | None:
    """The plug-in for an auth config; secrets are unwrapped here and nowhere else."""
    from etl_framework.http.config import (
        ApiKeyAuthConfig,
        BasicAuthConfig,
        BearerAuthConfig,
        HawkAuthConfig,
    )

    if config is None:
        return None
    if isinstance(config, HawkAuthConfig):
        return HawkAuth(
            config.id,
            config.key.get_secret_value(),
            config.algorithm,
            verify_response=config.verify_response,
            ext=config.ext,
            timestamp_skew_seconds=config.timestamp_skew_seconds,
        )
    if isinstance(config, BearerAuthConfig):
        return BearerAuth(config.token.get_secret_value())
    if isinstance(config, BasicAuthConfig):
        return BasicAuth(config.username, config.password.get_secret_value())
    if isinstance(config, ApiKeyAuthConfig):
        return ApiKeyAuth(config.key.get_secret_value(), config.header, config.prefix)
    raise TypeError(f"unsupported auth config {type(config).__name__}")
