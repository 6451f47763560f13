"""Retry policy: what is retried, how long we wait, when we give up."""

from __future__ import annotations

import datetime as dt
import ssl
from collections.abc import Iterable

import pytest
import requests

from etl_framework.exceptions import ExitCode
from etl_framework.http.config import RetryConfig
from etl_framework.http.errors import HttpStatusError, HttpUnavailableError
from etl_framework.http.retry import parse_retry_after, send_with_retries

URL = "https://api.test/v1/items?page=3&api_key=SECRETVALUE"
POLICY = RetryConfig(
    max_attempts=5,
    backoff_initial=0.5,
    backoff_max=4,
    jitter=0,
    retry_after_floor=1,
    max_total_wait=60,
)


def response(
    status: int, headers: dict[str, str] | None = None, body: bytes = b"{}"
) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    r.reason = {
        200: "OK",
        404: "Not Found",
        429: "Too Many Requests",
        500: "Internal Server Error",
        503: "Service Unavailable",
    }.get(status, "")
    r._content = body
    r._content_consumed = True
    r.headers.update(headers or {})
    return r


class Script:
    """A ``send`` that plays back responses/exceptions and records the sleeps."""

    def __init__(self, outcomes: Iterable[requests.Response | Exception]) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.sleeps: list[float] = []

    def __call__(self) -> requests.Response:
        outcome = self.outcomes[min(self.calls, len(self.outcomes) - 1)]
        self.calls += 1
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def run(self, policy: RetryConfig = POLICY) -> requests.Response:
        return send_with_retries(
            self, method="GET", url=URL, policy=policy, sleep=self.sleeps.append
        )


def test_parse_retry_after_seconds_and_dates() -> None:
    now = dt.datetime(2024, 1, 15, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("Mon, 15 Jan 2024 12:00:30 GMT", now) == 30.0
    assert parse_retry_after("Mon, 15 Jan 2024 11:00:00 GMT", now) == 0.0  # past: no wait
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("-5") is None


def test_success_needs_one_call() -> None:
    script = Script([response(200)])
    assert script.run().status_code == 200
    assert script.calls == 1 and script.sleeps == []


def test_burst_of_server_errors_then_success_backs_off_exponentially() -> None:
    script = Script([response(500), response(503), response(502), response(200)])
    assert script.run().status_code == 200
    assert script.calls == 4
    assert script.sleeps == [0.5, 1.0, 2.0]


def test_backoff_is_capped_and_jittered() -> None:
    policy = POLICY.model_copy(update={"jitter": 0.25, "max_attempts": 8})
    script = Script([response(503)] * 7 + [response(200)])
    script.run(policy)
    assert all(s <= 4 for s in script.sleeps)
    assert script.sleeps[-1] == 4
    assert any(s != b for s, b in zip(script.sleeps, [0.5, 1, 2, 4], strict=False))


def test_retry_after_seconds_is_honoured() -> None:
    script = Script([response(429, {"Retry-After": "3"}), response(200)])
    script.run()
    assert script.sleeps == [3.0]


def test_retry_after_zero_does_not_spin() -> None:
    script = Script([response(429, {"Retry-After": "0"})] * 3 + [response(200)])
    script.run()
    assert script.sleeps == [1.0, 1.0, 1.0]


def test_retry_after_http_date() -> None:
    when = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20)
    header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    script = Script([response(503, {"Retry-After": header}), response(200)])
    script.run()
    assert 17 <= script.sleeps[0] <= 21


def test_permanent_503_gives_up_with_a_transient_error() -> None:
    script = Script([response(503)])
    with pytest.raises(HttpUnavailableError) as info:
        script.run()
    error = info.value
    assert script.calls == 5 and len(script.sleeps) == 4
    assert error.exit_code == ExitCode.TRANSIENT
    assert error.status == 503 and error.attempts == 5
    text = str(error)
    assert "GET https://api.test/v1/items?page=3&api_key=***" in text
    assert "HTTP 503 Service Unavailable" in text and "5 attempts" in text
    assert "SECRETVALUE" not in text


def test_total_wait_cap_stops_before_a_wait_that_would_exceed_it() -> None:
    policy = POLICY.model_copy(update={"max_total_wait": 10, "max_attempts": 20})
    script = Script([response(429, {"Retry-After": "4"})])
    with pytest.raises(HttpUnavailableError) as info:
        script.run(policy)
    assert script.sleeps == [4.0, 4.0]  # a third 4 s wait would make 12 s > 10 s
    assert info.value.waited == 8.0


def test_retry_after_longer_than_the_budget_gives_up_at_once() -> None:
    script = Script([response(503, {"Retry-After": "3600"})])
    with pytest.raises(HttpUnavailableError):
        script.run()
    assert script.calls == 1 and script.sleeps == []


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_other_client_errors_fail_at_once(status: int) -> None:
    script = Script([response(status, body=b'{"detail": "nope"}')])
    with pytest.raises(HttpStatusError) as info:
        script.run()
    assert script.calls == 1
    assert info.value.exit_code == ExitCode.FAILED
    assert info.value.status == status
    assert f"GET https://api.test/v1/items?page=3&api_key=*** failed: HTTP {status}" in str(
        info.value
    )
    assert "nope" in str(info.value)


def test_statuses_are_configurable() -> None:
    policy = POLICY.model_copy(update={"statuses": frozenset({503})})
    with pytest.raises(HttpStatusError):
        Script([response(500)]).run(policy)
    script = Script([response(404), response(200)])
    script.run(POLICY.model_copy(update={"statuses": frozenset({404})}))
    assert script.calls == 2


def test_connection_errors_and_timeouts_are_retried() -> None:
    script = Script(
        [
            requests.ConnectionError("refused"),
            requests.ReadTimeout("slow"),
            requests.exceptions.ChunkedEncodingError("cut"),
            response(200),
        ]
    )
    assert script.run().status_code == 200
    assert script.calls == 4


def test_connection_errors_exhausted_are_transient() -> None:
    script = Script([requests.ConnectTimeout("no route")])
    with pytest.raises(HttpUnavailableError) as info:
        script.run()
    assert info.value.exit_code == ExitCode.TRANSIENT
    assert isinstance(info.value.__cause__, requests.ConnectTimeout)
    assert "ConnectTimeout" in str(info.value)


def test_tls_failures_are_not_retried() -> None:
    script = Script([requests.exceptions.SSLError("bad certificate")])
    with pytest.raises(requests.exceptions.SSLError):
        script.run()
    assert script.calls == 1


def test_retry_config_rejects_non_error_statuses() -> None:
    with pytest.raises(ValueError, match="4xx/5xx"):
        RetryConfig(statuses=frozenset({200}))


def tls_error(reason: BaseException) -> requests.exceptions.SSLError:
    """A requests SSLError wrapped the way requests and urllib3 wrap a real one."""
    from urllib3.exceptions import MaxRetryError
    from urllib3.exceptions import SSLError as Urllib3SSLError

    wrapped = Urllib3SSLError(reason)
    wrapped.__cause__ = reason
    url = "/v1/certificates?api_key=SECRETVALUE"  # "certificate" in a path is not a TLS error
    return requests.exceptions.SSLError(MaxRetryError(None, url, wrapped))  # type: ignore[arg-type]


def test_tls_handshake_cut_short_is_retried_like_a_connection_error() -> None:
    eof = ssl.SSLEOFError(8, "[SSL: UNEXPECTED_EOF_WHILE_READING] EOF in violation of protocol")
    script = Script([tls_error(eof), tls_error(ConnectionResetError(104, "reset")), response(200)])
    assert script.run().status_code == 200
    assert script.calls == 3
    script = Script([tls_error(eof)])
    with pytest.raises(HttpUnavailableError) as info:
        script.run()
    assert info.value.exit_code == ExitCode.TRANSIENT and script.calls == POLICY.max_attempts


@pytest.mark.parametrize(
    "reason",
    [
        ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed"),
        ssl.SSLError(1, "[SSL: SSLV3_ALERT_BAD_CERTIFICATE] sslv3 alert bad certificate"),
    ],
)
def test_certificate_failures_are_not_retried(reason: BaseException) -> None:
    script = Script([tls_error(reason)])
    with pytest.raises(requests.exceptions.SSLError):
        script.run()
    assert script.calls == 1
