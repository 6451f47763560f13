"""HttpConnector against real local servers: redirects, slow Hawk pages, TLS cut short."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from etl_framework.connectors.http import HttpConfig, HttpConnector
from etl_framework.exceptions import ExitCode
from etl_framework.http.errors import HttpRequestError, HttpUnavailableError, url_origin
from tests.support.hawk_server import DATASET_PATH, FAST_RETRY, HAWK_ID, HAWK_KEY, HawkTestServer

Server = Callable[..., HawkTestServer]
Connect = Callable[..., HttpConnector]
API_KEY = "APIKEY-SECRET-123"
TOKEN = "BEARER-SECRET-456"
AUTHS = [
    pytest.param({"type": "api_key", "key": API_KEY}, "X-API-Key", API_KEY, id="api_key"),
    pytest.param(
        {"type": "bearer", "token": TOKEN}, "Authorization", f"Bearer {TOKEN}", id="bearer"
    ),
]


def open_connector(base_url: str, **config: Any) -> HttpConnector:
    config.setdefault("retry", FAST_RETRY)
    return HttpConnector("api", HttpConfig.model_validate({"base_url": base_url, **config})).open()


@pytest.mark.parametrize("auth, header, value", AUTHS)
def test_cross_origin_redirect_is_refused_before_credentials_leave(
    hawk_api: Server, auth: dict[str, str], header: str, value: str
) -> None:
    api = hawk_api(require_hawk=False)
    elsewhere = hawk_api(require_hawk=False)  # another port: another origin
    api.fail(0, kind="redirect", location=elsewhere.dataset_url + "?token=s3cret")
    connector = open_connector(api.url, auth=auth)
    with pytest.raises(HttpRequestError, match="redirect to another origin") as info:
        connector.get(DATASET_PATH)
    assert info.value.exit_code == ExitCode.FAILED
    assert url_origin(elsewhere.url) in str(info.value)
    assert "s3cret" not in str(info.value) and value not in str(info.value)
    assert elsewhere.received == []  # nothing, so no credentials, reached the other host
    assert api.received[0][1][header] == value
    connector.close()


@pytest.mark.parametrize("auth, header, value", AUTHS)
def test_same_origin_redirect_is_followed_with_credentials(
    hawk_api: Server, auth: dict[str, str], header: str, value: str
) -> None:
    api = hawk_api(require_hawk=False)
    api.fail(0, kind="redirect", location=DATASET_PATH + "?page=2")
    connector = open_connector(api.url, auth=auth)
    response = connector.get(DATASET_PATH)
    assert response.json()["results"][0]["reference"] == "OMIS-000100"
    assert [path for path, _ in api.received] == [DATASET_PATH, DATASET_PATH + "?page=2"]
    assert all(headers[header] == value for _, headers in api.received)
    connector.close()


def test_hawk_page_slower_than_the_skew_still_verifies(hawk_api: Server) -> None:
    server = hawk_api(records=10, latency=1.2)
    auth = {"type": "hawk", "id": HAWK_ID, "key": HAWK_KEY, "timestamp_skew_seconds": 0}
    connector = open_connector(server.url, auth=auth)
    response = connector.get(DATASET_PATH)  # verified in the response hook
    assert len(response.json()["results"]) == 10
    assert server.auth_failures == []
    connector.close()


@pytest.fixture
def tls_cut_short() -> Iterator[tuple[int, list[int]]]:
    """A port whose server hangs up in the middle of every TLS handshake (as an LB can)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted = [0]
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            accepted[0] += 1
            conn.recv(65536)  # the ClientHello
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1], accepted
    stop.set()
    listener.close()
    thread.join(timeout=5)


def test_tls_handshake_cut_short_is_retried_then_transient(
    tls_cut_short: tuple[int, list[int]],
) -> None:
    port, accepted = tls_cut_short
    connector = open_connector(f"https://127.0.0.1:{port}", retry={**FAST_RETRY, "max_attempts": 3})
    with pytest.raises(HttpUnavailableError) as info:
        connector.get("x")
    assert info.value.exit_code == ExitCode.TRANSIENT
    assert info.value.attempts == 3 and accepted[0] == 3
    connector.close()
