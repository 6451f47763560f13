"""The requests Session of an HTTP connection: redirects stay on their origin.

requests strips only ``Authorization`` when a redirect leaves the host, so the
header of an `ApiKeyAuth` (or any header of the connection) would follow a
``Location`` to another server. `ApiSession` refuses a redirect whose scheme, host
or port differs from the URL that answered it, before the new request is sent; a
redirect within the origin is followed as before.
"""

from __future__ import annotations

import requests

from etl_framework.http.errors import HttpRequestError, redact_url, url_origin


class ApiSession(requests.Session):
    """A Session that follows redirects within one origin only."""

    def rebuild_auth(
        self, prepared_request: requests.PreparedRequest, response: requests.Response
    ) -> None:
        old = url_origin(str(response.request.url))
        try:
            new = url_origin(str(prepared_request.url))
        except ValueError:
            new = "(unparsable)"
        if new != old:
            raise HttpRequestError(
                str(response.request.method),
                str(response.request.url),
                problem=(
                    f"HTTP {response.status_code} redirect to another origin {new} refused "
                    f"(credentials are only sent to {old}); point the URL at the API's "
                    f"final location ({redact_url(str(prepared_request.url))})"
                ),
            )
        super().rebuild_auth(prepared_request, response)  # type: ignore[no-untyped-call]
