"""Auth plug-ins on real requests objects, checked with mohawk's own Receiver."""

from __future__ import annotations

import io
import logging
from typing import Any

import pytest
import requests
from mohawk import Receiver
from mohawk.exc import MacMismatch

from etl_framework.connectors.http import HttpConfig
from etl_framework.http import auth as auth_module
from etl_framework.http.auth import (
    ApiKeyAuth,
    BasicAuth,
    BearerAuth,
    HawkAuth,
    build_auth,
)
from etl_framework.http.errors import ResponseVerificationError

KEY = "werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn"
CREDS = {"id": "dh654", "key": KEY, "algorithm": "sha256"}


def prepare(
    auth: Any, method: str = "GET", url: str = "http://api.test:8080/v4/x?page=2", **kwargs: Any
) -> requests.PreparedRequest:
    return requests.Request(method, url, auth=auth, **kwargs).prepare()


def receive(prepared: requests.PreparedRequest, seen: set[Any] | None = None) -> Receiver:
    seen = set() if seen is None else seen

    def seen_nonce(sender_id: str, nonce: str, ts: str) -> bool:
        if (sender_id, nonce, ts) in seen:
            return True
        seen.add((sender_id, nonce, ts))
        return False

    body = prepared.body or b""
    return Receiver(
        lambda _id: CREDS,
        prepared.headers["Authorization"],
        prepared.url,
        prepared.method,
        content=io.BytesIO(body if isinstance(body, bytes) else body.encode()),
        content_type=prepared.headers.get("Content-Type", ""),
        seen_nonce=seen_nonce,
    )


def response_for(
    prepared: requests.PreparedRequest, body: bytes, header: str | None
) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response._content = body
    response._content_consumed = True
    response.headers["Content-Type"] = "application/json"
    if header is not None:
        response.headers["Server-Authorization"] = header
    response.request = prepared
    response.url = str(prepared.url)
    return response


def test_hawk_signs_get_and_the_server_accepts_it() -> None:
    prepared = prepare(HawkAuth("dh654", KEY))
    assert prepared.headers["Authorization"].startswith('Hawk mac="')
    receive(prepared)  # raises if the signature is wrong


def test_hawk_signs_the_exact_body_and_content_type_sent() -> None:
    prepared = prepare(HawkAuth("dh654", KEY), "POST", json={"b": 1, "a": [1, 2]})
    assert prepared.headers["Content-Type"] == "application/json"
    receive(prepared)
    prepared.body = b'{"b": 2, "a": [1, 2]}'  # one byte changed after signing
    with pytest.raises(Exception, match="hash"):
        receive(prepared)


def test_each_request_gets_a_fresh_nonce_so_the_server_replay_check_passes() -> None:
    auth = HawkAuth("dh654", KEY)
    seen: set[Any] = set()
    first, second = prepare(auth), prepare(auth)
    receive(first, seen)
    receive(second, seen)
    with pytest.raises(Exception, match="already been processed"):
        receive(first, seen)  # a replayed header is refused


def test_wrong_key_is_refused_by_the_server() -> None:
    with pytest.raises(MacMismatch):
        receive(prepare(HawkAuth("dh654", "not-the-key")))


def run_hooks(prepared: requests.PreparedRequest, response: requests.Response) -> None:
    for hook in prepared.hooks["response"]:
        hook(response)


def test_signed_response_verifies() -> None:
    prepared = prepare(HawkAuth("dh654", KEY))
    body = b'{"results": [1, 2, 3]}'
    header = receive(prepared).respond(content=io.BytesIO(body), content_type="application/json")
    run_hooks(prepared, response_for(prepared, body, header))


def test_tampered_response_fails_verification() -> None:
    prepared = prepare(HawkAuth("dh654", KEY))
    body = b'{"results": [1, 2, 3]}'
    header = receive(prepared).respond(content=io.BytesIO(body), content_type="application/json")
    with pytest.raises(ResponseVerificationError, match="MisComputedContentHash") as info:
        run_hooks(prepared, response_for(prepared, b'{"results": [1, 2, 4]}', header))
    assert info.value.exit_code == 1
    assert "GET http://api.test:8080/v4/x?page=2" in str(info.value)


def test_unsigned_response_fails_verification() -> None:
    prepared = prepare(HawkAuth("dh654", KEY))
    with pytest.raises(ResponseVerificationError, match="unsigned"):
        run_hooks(prepared, response_for(prepared, b"{}", None))


def test_response_signed_for_another_request_fails() -> None:
    auth = HawkAuth("dh654", KEY)
    first, second = prepare(auth), prepare(auth)
    body = b"{}"
    header = receive(first).respond(content=io.BytesIO(body), content_type="application/json")
    with pytest.raises(ResponseVerificationError, match="MacMismatch"):
        run_hooks(second, response_for(second, body, header))


def test_verification_can_be_turned_off() -> None:
    prepared = prepare(HawkAuth("dh654", KEY, verify_response=False))
    assert not prepared.hooks["response"]


def test_error_responses_are_not_verified() -> None:
    prepared = prepare(HawkAuth("dh654", KEY))
    response = response_for(prepared, b"busy", None)
    response.status_code = 503
    run_hooks(prepared, response)  # the status is what gets reported, not the signature


def test_hawk_hash_does_not_format_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    """mohawk pprint-formats hashed parts for a debug line; the body must not be one."""
    import mohawk.util

    formatted: list[int] = []
    real = mohawk.util.pprint.pformat

    def spy(value: Any, *args: Any, **kwargs: Any) -> str:
        text = real(value, *args, **kwargs)
        formatted.append(len(text))
        return text

    monkeypatch.setattr(mohawk.util.pprint, "pformat", spy)
    body = b'{"x": "' + b"y" * 300_000 + b'"}'
    prepared = prepare(
        HawkAuth("dh654", KEY), "POST", data=body, headers={"Content-Type": "application/json"}
    )
    header = receive(prepared).respond(content=io.BytesIO(body), content_type="application/json")
    formatted.clear()
    run_hooks(prepared, response_for(prepared, body, header))
    assert formatted and max(formatted) < 1000


def test_mohawk_nonce_warning_is_silenced_only_while_verifying_responses(
    caplog: pytest.LogCaptureFixture,
) -> None:
    prepared = prepare(HawkAuth("dh654", KEY))
    body = b"{}"
    header = receive(prepared).respond(content=io.BytesIO(body), content_type="application/json")
    with caplog.at_level(logging.WARNING, logger="mohawk"):
        run_hooks(prepared, response_for(prepared, body, header))
        assert not [r for r in caplog.records if "seen_nonce" in r.getMessage()]
        logging.getLogger("mohawk.base").warning("seen_nonce was None; elsewhere")
        assert [r for r in caplog.records if "seen_nonce" in r.getMessage()]


def test_hawk_refuses_streamed_bodies() -> None:
    with pytest.raises(TypeError, match="bytes"):
        prepare(HawkAuth("dh654", KEY), "POST", data=iter([b"a", b"b"]))


def test_bearer_basic_api_key_headers() -> None:
    assert prepare(BearerAuth("tok123")).headers["Authorization"] == "Bearer tok123"
    assert prepare(BasicAuth("u", "p")).headers["Authorization"] == "Basic dTpw"
    headers = prepare(ApiKeyAuth("k-1", header="Authorization", prefix="Token ")).headers
    assert headers["Authorization"] == "Token k-1"
    assert prepare(ApiKeyAuth("k-2")).headers["X-API-Key"] == "k-2"


@pytest.mark.parametrize(
    "auth, secret",
    [
        ({"type": "hawk", "id": "i", "key": "hawk-secret-key"}, "hawk-secret-key"),
        ({"type": "bearer", "token": "bearer-secret"}, "bearer-secret"),
        ({"type": "basic", "username": "u", "password": "basic-secret"}, "basic-secret"),
        ({"type": "api_key", "key": "api-secret"}, "api-secret"),
    ],
)
def test_secrets_never_appear_in_reprs(auth: dict[str, str], secret: str) -> None:
    config = HttpConfig.model_validate({"type": "http", "base_url": "https://x.test", "auth": auth})
    plugin = build_auth(config.auth)
    assert secret not in repr(config)
    assert secret not in str(config.model_dump())
    assert secret not in repr(plugin)
    assert type(plugin).__name__ in {"HawkAuth", "BearerAuth", "BasicAuth", "ApiKeyAuth"}


def test_build_auth_none() -> None:
    assert build_auth(None) is None
    assert auth_module.hashable_content(None).read() == b""
    assert auth_module.hashable_content("é").read() == "é".encode()


def test_slow_response_verifies_but_a_far_off_clock_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time
    import types

    import mohawk.base

    auth = HawkAuth("dh654", KEY, timestamp_skew_seconds=2)
    prepared = prepare(auth)
    body = b'{"results": [1]}'
    header = receive(prepared).respond(content=io.BytesIO(body), content_type="application/json")
    real_now = mohawk.base.utc_now
    monkeypatch.setattr(mohawk.base, "utc_now", lambda **kw: real_now(**kw) + 100)
    with pytest.raises(ResponseVerificationError, match="TokenExpired"):
        run_hooks(prepared, response_for(prepared, body, header))  # clocks 100 s apart
    later = time.monotonic() + 100
    monkeypatch.setattr(auth_module, "time", types.SimpleNamespace(monotonic=lambda: later))
    run_hooks(prepared, response_for(prepared, body, header))  # the page took 100 s
    with pytest.raises(ResponseVerificationError, match="MisComputedContentHash"):
        run_hooks(prepared, response_for(prepared, b'{"results": [2]}', header))
