"""HttpConnector without a network: invalid URLs, TLS settings per request."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter

from etl_framework.connectors.http import HttpConfig, HttpConnector
from etl_framework.http.errors import HttpRequestError


class RecordingAdapter(BaseAdapter):
    """Answers 200 ``{}`` and keeps the ``verify`` each request was sent with."""

    def __init__(self) -> None:
        super().__init__()
        self.verify: list[Any] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.verify.append(kwargs.get("verify"))
        response = requests.Response()
        response.status_code = 200
        response._content = b"{}"
        response.request = request
        response.url = str(request.url)
        return response

    def close(self) -> None:
        pass


def connector(**config: Any) -> HttpConnector:
    return HttpConnector("api", HttpConfig(base_url="https://api.test", **config)).open()


@pytest.mark.parametrize(
    "url",
    [
        "http:///x?token=SECRET1",
        "http://exa mple.com/x?token=SECRET2",
        "http://\u2603\u0000.com/?token=SECRET3",
        "http://[::1/x?token=SECRET4",
    ],
)
def test_invalid_url_is_a_request_error_without_secrets(url: str) -> None:
    with pytest.raises(HttpRequestError, match="InvalidURL") as info:
        connector().get(url, params={"api_key": "SECRET5"})
    error = info.value
    assert error.exit_code == 1
    assert "SECRET" not in str(error)
    assert error.__cause__ is None and error.__suppress_context__  # raw message not chained


@pytest.mark.parametrize("verify_tls", [False, "/etc/ssl/our-ca.pem", True])
def test_verify_tls_wins_over_ca_bundle_environment(
    monkeypatch: pytest.MonkeyPatch, verify_tls: bool | str
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/env/requests-ca.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/env/curl-ca.pem")
    http = connector(verify_tls=verify_tls)
    adapter = RecordingAdapter()
    http.session.mount("https://", adapter)
    http.get("v1/x")
    # True: verify, with the environment's bundle if one is set (requests' rule)
    assert adapter.verify == ["/env/requests-ca.pem" if verify_tls is True else verify_tls]
