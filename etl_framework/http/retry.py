"""Retries of one HTTP request: exponential backoff with jitter, Retry-After, a wait cap.

Built on tenacity rather than urllib3's ``Retry``: urllib3 retries below requests,
re-sending the same prepared headers, so a Hawk request would be replayed with its
already-used nonce (and the response hook that verifies signatures would only see
the last attempt). Here each attempt goes back through ``Session.request``: the
auth plug-in signs it afresh and verifies its response.

What is retried: connection errors (TLS handshakes cut short included, but not
certificate verification failures), timeouts,
connections dropped mid-body, and the configured statuses (default 429, 500, 502,
503, 504). ``Retry-After`` (seconds or an HTTP-date) replaces the backoff for that
wait, with a floor so ``Retry-After: 0`` cannot spin. The run gives up when the
attempts are used up or the next wait would take the total waiting past
``max_total_wait``; it then raises `HttpUnavailableError` (exit 75).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import ssl
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
)
from tenacity.stop import stop_base

from etl_framework.http.errors import HttpStatusError, HttpUnavailableError, redact_url

if TYPE_CHECKING:
    from etl_framework.http.config import RetryConfig

log = logging.getLogger("etl_framework.http")


class RetryableStatus(Exception):
    """Raised inside an attempt when the status is one we retry."""

    def __init__(self, response: requests.Response) -> None:
        self.response = response
        super().__init__(response.status_code)


def parse_retry_after(value: str | None, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP-date).

    None when absent or unparsable; never negative (a past date gives 0).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return max(0.0, (when - now).total_seconds())


def is_transient(exc: BaseException) -> bool:
    """Whether waiting and sending again may help."""
    if isinstance(exc, RetryableStatus):
        return True
    if isinstance(exc, requests.exceptions.SSLError):
        # a certificate problem does not go away by waiting; a handshake cut short
        # (SSLEOFError, a reset) is a connection error like any other
        return not is_certificate_failure(exc)
    return isinstance(
        exc,
        requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError,
    )


def is_certificate_failure(exc: BaseException) -> bool:
    """Whether a TLS error is about the certificate (verification, a bad certificate).

    requests wraps the `ssl` error in urllib3's errors; the chain (arguments,
    ``reason``, causes) is searched for `ssl.SSLCertVerificationError` (expired,
    untrusted, wrong host) or a TLS error whose message names a certificate (the
    server rejected ours, say).
    """
    seen: set[int] = set()
    todo: list[object] = [exc]
    while todo:
        item = todo.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError | ssl.CertificateError):
            return True
        # only TLS errors' own text: urllib3's wrappers quote the URL, whose path may
        # say "certificate" for reasons of its own
        if isinstance(item, ssl.SSLError | requests.exceptions.SSLError) and any(
            "certificate" in arg.lower() for arg in item.args if isinstance(arg, str)
        ):
            return True
        todo.extend(item.args)
        todo.extend((getattr(item, "reason", None), item.__cause__, item.__context__))
    return False


class _Wait:
    """Backoff with jitter, replaced by the server's Retry-After when it sends one."""

    def __init__(self, policy: RetryConfig) -> None:
        self.policy = policy

    def backoff(self, state: RetryCallState) -> float:
        """``initial * 2**(n-1)`` plus up to ``jitter`` seconds, at most ``backoff_max``."""
        policy = self.policy
        try:
            base = float(policy.backoff_initial * 2 ** (state.attempt_number - 1))
        except OverflowError:
            base = policy.backoff_max
        return min(base + random.uniform(0, policy.jitter), policy.backoff_max)

    def __call__(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableStatus):
            after = parse_retry_after(exc.response.headers.get("Retry-After"))
            if after is not None:
                return max(after, self.policy.retry_after_floor)
        return float(self.backoff(state))


class _StopWhenOverBudget(stop_base):
    """Stop when the wait about to start would exceed the total waiting budget."""

    def __init__(self, max_total_wait: float) -> None:
        self.max_total_wait = max_total_wait

    def __call__(self, state: RetryCallState) -> bool:
        return state.idle_for + state.upcoming_sleep > self.max_total_wait


def send_with_retries(
    send: Callable[[], requests.Response],
    *,
    method: str,
    url: str,
    policy: RetryConfig,
    sleep: Callable[[float], None] = time.sleep,
) -> requests.Response:
    """Call ``send`` until it gives a response that is neither transient nor an error.

    Returns a response with a status below 400. Raises `HttpStatusError` (exit 1)
    for a status that is not retried, `HttpUnavailableError` (exit 75) when the
    retries run out.
    """

    def attempt() -> requests.Response:
        response = send()
        if response.status_code in policy.statuses:
            response.close()
            raise RetryableStatus(response)
        return response

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        what = (
            f"HTTP {exc.response.status_code}"
            if isinstance(exc, RetryableStatus)
            else type(exc).__name__
        )
        log.warning(
            "%s %s: %s; retry %d/%d in %.2fs",
            method,
            redact_url(url),
            what,
            state.attempt_number,
            policy.max_attempts - 1,
            state.upcoming_sleep,
        )

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=_Wait(policy),
        stop=stop_after_attempt(policy.max_attempts) | _StopWhenOverBudget(policy.max_total_wait),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        response = retrying(attempt)
    except RetryableStatus as exc:
        stats = retrying.statistics
        raise HttpUnavailableError(
            method,
            url,
            attempts=int(stats.get("attempt_number", 1)),
            waited=float(stats.get("idle_for", 0.0)),
            status=exc.response.status_code,
            reason=exc.response.reason or "",
        ) from None
    except requests.RequestException as exc:
        if not is_transient(exc):
            raise
        stats = retrying.statistics
        raise HttpUnavailableError(
            method,
            url,
            attempts=int(stats.get("attempt_number", 1)),
            waited=float(stats.get("idle_for", 0.0)),
            cause=exc,
        ) from exc
    if response.status_code >= 400:
        raise HttpStatusError(
            method, url, response.status_code, response.reason or "", _body_text(response)
        )
    return response


def _body_text(response: requests.Response) -> str:
    try:
        return response.text[:1000]
    except Exception:  # a body we cannot decode is not worth a second error
        return ""
