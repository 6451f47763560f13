"""A real, threaded HTTP API on 127.0.0.1 for tests and the benchmark.

It serves a list of records the way Data Hub's dataset endpoints do, checks every
request's Hawk header with mohawk's ``Receiver`` (with nonce replay protection)
and signs every response with ``Server-Authorization``. One endpoint understands
all the pagination styles the client supports:

* ``?page=N[&page_size=M]`` (page number, first page 1),
* ``?offset=O&limit=L``,
* ``?cursor=TOKEN`` (token from ``next_cursor``),
* no paging parameter: page 1.

Every answer is ``{"count", "next", "next_cursor", "results"}`` (records under
``records_key``, dotted for nesting, e.g. ``data.items``) plus a ``Link`` header.
Filters ``<window_field>__gte`` / ``__lt`` restrict records by a date field.

Faults are scripted per page index (0-based) with `HawkTestServer.fail`:
statuses (optionally with ``Retry-After``), tampered or unsigned bodies,
malformed JSON, dropped connections, a next link that loops back, a redirect.
``max_page_size`` caps ``page_size``/``limit`` the way many APIs do, and
``received`` keeps the path and headers of every request.

Usage::

    with HawkTestServer(make_records(250), page_size=100) as server:
        server.fail(1, status=503, times=2)
        ... server.url + "v4/dataset/omis-dataset" ...
        server.hits[1]  # how often page 1 was requested
"""

from __future__ import annotations

import collections
import datetime as dt
import io
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from mohawk import Receiver
from mohawk.exc import HawkFail

HAWK_ID = "etl-test-client"
HAWK_KEY = "a-long-random-test-key-0123456789"
DATASET_PATH = "/v4/dataset/omis-dataset"
JSON_TYPE = "application/json"

try:
    import orjson

    def _dumps(value: Any) -> bytes:
        return orjson.dumps(value)

except ImportError:  # pragma: no cover - orjson is in the http extra

    def _dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()


def make_records(
    count: int, *, start: dt.date = dt.date(2024, 1, 1), pad: int = 0
) -> list[dict[str, Any]]:
    """OMIS-like records: nested company, dates, optional cancellation reason.

    ``pad`` adds that many characters of notes to each record (the benchmark uses it
    to reach ~350 bytes a record).
    """
    records = []
    for i in range(count):
        day = start + dt.timedelta(days=i % 60)
        cancelled = i % 7 == 3
        records.append(
            {
                "reference": f"OMIS-{i:06d}",
                "company": {"id": f"c{i % 97:04d}", "name": f"Company {i % 97}"},
                "completed_on": None if cancelled else f"{day.isoformat()}T12:{i % 60:02d}:00Z",
                "delivery_date": (day + dt.timedelta(days=10)).isoformat(),
                "cancellation_reason": {"name": "Client withdrew"} if cancelled else None,
                "status": "cancelled" if cancelled else "complete",
                "subtotal_cost": 1000 + i,
                "uk_region": {"name": ["London", "North West", "Scotland"][i % 3]},
                "modified_on": f"{day.isoformat()}T08:00:00Z",
                "notes": "x" * pad,
            }
        )
    return records


@dataclass
class Fault:
    """What the server does instead of a normal answer for one page request."""

    kind: str = "status"
    """status | tamper | unsigned | malformed | drop | loop | redirect"""
    status: int = 503
    retry_after: str | None = None
    target_page: int = 0
    """For ``loop``: the page the next link points back to."""
    location: str = ""
    """For ``redirect``: the ``Location`` of the 302."""


class HawkTestServer:
    """The server; a context manager that starts and stops it on a free port."""

    def __init__(
        self,
        records: Sequence[dict[str, Any]],
        *,
        page_size: int = 100,
        credentials: dict[str, str] | None = None,
        require_hawk: bool = True,
        sign_responses: bool = True,
        latency: float = 0.0,
        records_key: str = "results",
        window_field: str = "modified_on",
        cache_bodies: bool = False,
        max_page_size: int | None = None,
        response_headers: dict[str, str] | None = None,
        allow_head: bool = True,
    ) -> None:
        self.records = list(records)
        self.page_size = page_size
        self.credentials = credentials if credentials is not None else {HAWK_ID: HAWK_KEY}
        self.require_hawk = require_hawk
        self.sign_responses = sign_responses
        self.latency = latency
        self.records_key = records_key
        self.window_field = window_field
        self.cache_bodies = cache_bodies
        self.max_page_size = max_page_size
        self.response_headers = dict(response_headers or {})
        """Sent with every 200 answer (e.g. ``ETag``, ``Last-Modified``); may change."""
        self.allow_head = allow_head
        """HEAD answers like GET without a body (signed for the empty body), else 405."""
        self.heads = 0
        """How many HEAD requests were answered."""
        self.received: list[tuple[str, dict[str, str]]] = []
        """(path, headers) of every request, in order."""
        self.hits: collections.Counter[int] = collections.Counter()
        self.statuses: list[tuple[int, int]] = []
        """(page, status) of every answer, in order."""
        self.auth_failures: list[str] = []
        self.active = 0
        self.max_active = 0
        """The most requests the server was answering at one time (overlap seen)."""
        self.cpu_seconds = 0.0
        """Process CPU time spent answering (all threads; a rough gauge for benchmarks)."""
        self._faults: dict[int, collections.deque[Fault]] = collections.defaultdict(
            collections.deque
        )
        self._permanent: dict[int, Fault] = {}
        self._nonces: set[tuple[str, str, str]] = set()
        self._bodies: dict[str, tuple[int, bytes, str | None]] = {}
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ---------------------------------------------------------------

    def fail(self, page: int, *, times: int | None = 1, **fault: Any) -> None:
        """Answer requests for ``page`` with a `Fault` ``times`` times (None: always)."""
        with self._lock:
            if times is None:
                self._permanent[page] = Fault(**fault)
            else:
                self._faults[page].extend(Fault(**fault) for _ in range(times))

    def heal(self) -> None:
        """Forget every scripted fault."""
        with self._lock:
            self._faults.clear()
            self._permanent.clear()

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/"

    @property
    def dataset_url(self) -> str:
        return self.url + DATASET_PATH.lstrip("/")

    @property
    def total_pages(self) -> int:
        return max(1, -(-len(self.records) // self.page_size))

    def start(self) -> HawkTestServer:
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name="hawk-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HawkTestServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # --- internals -------------------------------------------------------------

    def _seen_nonce(self, sender_id: str, nonce: str, ts: str) -> bool:
        key = (sender_id, nonce, ts)
        with self._lock:
            if key in self._nonces:
                return True
            self._nonces.add(key)
            return False

    def _next_fault(self, page: int) -> Fault | None:
        with self._lock:
            queue = self._faults.get(page)
            if queue:
                return queue.popleft()
            return self._permanent.get(page)

    def _filtered(self, query: dict[str, str]) -> list[dict[str, Any]]:
        gte = query.get(f"{self.window_field}__gte")
        lt = query.get(f"{self.window_field}__lt")
        if not gte and not lt:
            return self.records
        return [
            r
            for r in self.records
            if (not gte or r[self.window_field][:10] >= gte)
            and (not lt or r[self.window_field][:10] < lt)
        ]

    def page_body(self, base: str, query: dict[str, str]) -> tuple[int, bytes, str | None]:
        """(page index, JSON body, next URL) for a request's query."""
        records = self._filtered(query)
        size = int(query.get("page_size") or query.get("limit") or self.page_size)
        if self.max_page_size is not None:
            size = min(size, self.max_page_size)
        if "offset" in query:
            offset = int(query["offset"])
        elif "cursor" in query:
            offset = int(query["cursor"].removeprefix("c")) * size
        else:
            offset = (int(query.get("page", "1")) - 1) * size
        index = offset // size
        end = offset + size
        rest = {k: v for k, v in query.items() if k not in ("page", "offset", "cursor")}
        next_url = next_cursor = None
        if end < len(records):
            next_cursor = f"c{end // size}"
            if "offset" in query:
                next_query = {**rest, "offset": str(end)}
            elif "cursor" in query:
                next_query = {**rest, "cursor": next_cursor}
            else:
                next_query = {**rest, "page": str(end // size + 1)}
            next_url = f"{base}?{urlencode(next_query)}"
        payload: dict[str, Any] = {
            "count": len(records),
            "next": next_url,
            "next_cursor": next_cursor,
        }
        target: dict[str, Any] = payload
        *parents, leaf = self.records_key.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[leaf] = records[offset:end]
        return index, _dumps(payload), next_url

    def page_url(self, base: str, query: dict[str, str], page: int) -> str:
        return f"{base}?{urlencode({**query, 'page': str(page + 1)})}"


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (and our own dropped connections) are not errors here."""
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    api: HawkTestServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        pass

    def do_HEAD(self) -> None:
        api = self.api
        with api._lock:
            api.heads += 1
        if not api.allow_head:
            self._read_body()
            self._send(405, b"", page=-1)
            return
        self._answer()

    def do_GET(self) -> None:
        api = self.api
        with api._lock:
            api.active += 1
            api.max_active = max(api.max_active, api.active)
        try:
            if api.latency:
                time.sleep(api.latency)
            started = time.process_time()
            try:
                self._answer()
            finally:
                with api._lock:
                    api.cpu_seconds += time.process_time() - started
        finally:
            with api._lock:
                api.active -= 1

    def _answer(self) -> None:
        api = self.api
        request_body = self._read_body()
        with api._lock:
            api.received.append((self.path, dict(self.headers)))
        full_url = f"http://{self.headers.get('Host')}{self.path}"
        receiver = None
        if api.require_hawk:
            try:
                receiver = Receiver(
                    lambda sender_id: {
                        "id": sender_id,
                        "key": api.credentials[sender_id],
                        "algorithm": "sha256",
                    },
                    self.headers.get("Authorization"),
                    full_url,
                    self.command,
                    content=io.BytesIO(request_body),
                    content_type=self.headers.get("Content-Type", ""),
                    seen_nonce=api._seen_nonce,
                )
            except HawkFail as exc:
                api.auth_failures.append(f"{type(exc).__name__}: {exc}")
                self._send(401, b'{"detail": "Incorrect authentication credentials."}', page=-1)
                return
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        base = f"http://{self.headers.get('Host')}{parts.path}"
        cached = api._bodies.get(self.path) if api.cache_bodies else None
        if cached is None:
            cached = api.page_body(base, query)
            if api.cache_bodies:
                api._bodies[self.path] = cached
        index, body, next_url = cached
        if self.command == "HEAD":
            self._send(200, body, page=index, receiver=receiver, next_url=next_url)
            return
        with api._lock:
            api.hits[index] += 1
        fault = api._next_fault(index)
        if fault is None:
            self._send(200, body, page=index, receiver=receiver, next_url=next_url)
        elif fault.kind == "status":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._send(fault.status, b'{"detail": "scripted failure"}', page=index, headers=headers)
        elif fault.kind == "tamper":
            signed = (
                receiver.respond(content=io.BytesIO(body), content_type=JSON_TYPE)
                if receiver
                else None
            )
            tampered = body.replace(b"OMIS-", b"OMIZ-", 1)
            self._send(
                200,
                tampered,
                page=index,
                headers={"Server-Authorization": signed} if signed else {},
            )
        elif fault.kind == "unsigned":
            self._send(200, body, page=index)
        elif fault.kind == "malformed":
            self._send(200, body[: len(body) // 2], page=index, receiver=receiver)
        elif fault.kind == "loop":
            payload = json.loads(body)
            rest = {k: v for k, v in query.items() if k != "page"}
            payload["next"] = api.page_url(base, rest, fault.target_page)
            self._send(
                200, _dumps(payload), page=index, receiver=receiver, next_url=payload["next"]
            )
        elif fault.kind == "redirect":
            self._send(
                302, b"", page=index, receiver=receiver, headers={"Location": fault.location}
            )
        elif fault.kind == "drop":
            self.close_connection = True
            self.connection.shutdown(2)
        else:  # pragma: no cover
            raise ValueError(fault.kind)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes,
        *,
        page: int,
        receiver: Receiver | None = None,
        headers: dict[str, str] | None = None,
        next_url: str | None = None,
    ) -> None:
        api = self.api
        head = self.command == "HEAD"
        with api._lock:
            if not head:
                api.statuses.append((page, status))
        self.send_response(status)
        self.send_header("Content-Type", JSON_TYPE)
        self.send_header("Content-Length", str(len(body)))
        if receiver is not None and api.sign_responses:
            signed = b"" if head else body  # a HEAD answer's content is empty
            self.send_header(
                "Server-Authorization",
                receiver.respond(content=io.BytesIO(signed), content_type=JSON_TYPE),
            )
        extra = {**api.response_headers, **(headers or {})} if status == 200 else headers or {}
        for name, value in extra.items():
            self.send_header(name, value)
        if next_url:
            self.send_header("Link", f'<{next_url}>; rel="next"')
        self.end_headers()
        if not head:
            self.wfile.write(body)


FAST_RETRY = {  # retries that keep the tests fast
    "max_attempts": 4,
    "backoff_initial": 0.01,
    "backoff_max": 0.05,
    "jitter": 0.01,
    "retry_after_floor": 0.05,
    "max_total_wait": 5,
}


def connection_config(
    server: HawkTestServer,
    *,
    key: str = HAWK_KEY,
    retry: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """The ``type: http`` connection config of a connector to ``server``."""
    return {
        "type": "http",
        "base_url": server.url,
        "auth": {"type": "hawk", "id": HAWK_ID, "key": key},
        "retry": {**FAST_RETRY, **(retry or {})},
        **extra,
    }


if __name__ == "__main__":  # pragma: no cover
    with HawkTestServer(make_records(1000)) as srv:
        print(f"serving {srv.dataset_url} (Hawk id {HAWK_ID!r}, key {HAWK_KEY!r}); Ctrl-C stops")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
