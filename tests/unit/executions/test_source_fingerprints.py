"""Source fingerprints: local files, a user query on a real SQLite database, and an
HTTP source's validators from a real local server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
import sqlalchemy as sa

from etl_framework.exceptions import SourceError
from etl_framework.sources.fingerprints import (
    http_fingerprint,
    location_fingerprint,
    query_fingerprint,
)


def test_local_file_size_and_content(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    source.write_text("a,b\n1,2\n")
    first = location_fingerprint(source)
    assert first is not None and first.startswith("file:8:")
    assert location_fingerprint(str(source)) == first
    source.write_text("a,b\n1,3\n")  # same size, other content
    assert location_fingerprint(source) not in (None, first)
    with pytest.raises(SourceError):
        location_fingerprint(tmp_path / "missing.csv")
    assert location_fingerprint("https://example.com/x.csv") is None


def test_user_query_on_a_sql_source(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id int, updated text)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, '2024-01-01')"))
    query = "SELECT max(updated), count(*) FROM t WHERE id >= :low"
    first = query_fingerprint(engine, query, {"low": 0})
    assert query_fingerprint(engine, query, {"low": 0}) == first
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (2, '2024-01-02')"))
        assert query_fingerprint(conn, query, {"low": 0}) != first
    engine.dispose()


class _Handler(BaseHTTPRequestHandler):
    headers_by_path = {
        "/etag": {"ETag": '"v1"', "Last-Modified": "Mon, 15 Jan 2024 00:00:00 GMT"},
        "/modified": {"Last-Modified": "Mon, 15 Jan 2024 00:00:00 GMT"},
        "/none": {},
    }

    def do_HEAD(self) -> None:
        headers = self.headers_by_path.get(self.path)
        self.send_response(404 if headers is None else 200)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_http_etag_then_last_modified_else_none(server: str) -> None:
    with requests.Session() as session:
        assert http_fingerprint(session, f"{server}/etag", timeout=5) == 'etag:"v1"'
        assert http_fingerprint(session, f"{server}/modified", timeout=5) == (
            "last-modified:Mon, 15 Jan 2024 00:00:00 GMT"
        )
        assert http_fingerprint(session, f"{server}/none", timeout=5) is None
        with pytest.raises(requests.HTTPError):
            http_fingerprint(session, f"{server}/missing", timeout=5)
