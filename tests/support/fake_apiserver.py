"""A tiny stand-in for the Kubernetes API server: enough of batch/v1 Jobs and v1 Pods
(create, read, list by label, follow logs, delete) for the real kubernetes client to talk
to, serving recorded objects from tests/fixtures/k8s/ one poll at a time."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

JOB = re.compile(r"^/apis/batch/v1/namespaces/(?P<ns>[^/]+)/jobs(?:/(?P<name>[^/]+))?$")
PODS = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods$")
LOG = re.compile(r"^/api/v1/namespaces/(?P<ns>[^/]+)/pods/(?P<pod>[^/]+)/log$")


@dataclass
class Scenario:
    """Each GET of the Job advances to the next (job, pods) state; the last one sticks."""

    states: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    logs: dict[str, str] = field(default_factory=dict)
    created: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    position: int = 0
    any_job_name: bool = False
    """Serve the recorded Job and its pods under whatever name was asked for (for Jobs
    whose name has a random suffix, created by a subprocess)."""

    def current(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        return self.states[min(self.position, len(self.states) - 1)]


def _handler(scenario: Scenario) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _not_found(self) -> None:
            self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                             "reason": "NotFound", "code": 404})  # fmt: skip

        def do_POST(self) -> None:
            url = urlparse(self.path)
            scenario.requests.append(f"POST {url.path}")
            match = JOB.match(url.path)
            if not match or match["name"]:
                return self._not_found()
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            scenario.created.append(body)
            created = dict(body)
            created["metadata"] = {**body["metadata"], "uid": "6f1c2b6e", "resourceVersion": "1"}
            self._send(201, created)

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            scenario.requests.append(f"GET {url.path}?{url.query}")
            if (match := JOB.match(url.path)) and match["name"]:
                job, _ = scenario.current()
                if scenario.any_job_name:
                    job = {**job, "metadata": {**job["metadata"], "name": match["name"]}}
                return self._send(200, job)
            if PODS.match(url.path):
                _, pods = scenario.current()
                selector = query.get("labelSelector", [""])[0]
                key, _, value = selector.partition("=")
                if scenario.any_job_name:
                    pods = [
                        {**p, "metadata": {**p["metadata"],
                                           "labels": {**p["metadata"]["labels"], key: value}}}
                        for p in pods
                    ]  # fmt: skip
                items = [p for p in pods if p["metadata"]["labels"].get(key) == value]
                scenario.position += 1
                pod_list = {"kind": "PodList", "apiVersion": "v1", "items": items}
                return self._send(200, pod_list)
            if match := LOG.match(url.path):
                assert query.get("container") == ["pipeline"], query
                # kubernetes client 36 sends "True", 37 "true"
                assert [v.lower() for v in query.get("follow", [])] == ["true"], query
                data = scenario.logs.get(match["pod"], "").encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            return self._not_found()

        def do_DELETE(self) -> None:
            url = urlparse(self.path)
            scenario.requests.append(f"DELETE {url.path}")
            match = JOB.match(url.path)
            if not match or not match["name"]:
                return self._not_found()
            length = int(self.headers.get("Content-Length") or 0)
            options = json.loads(self.rfile.read(length)) if length else {}
            policy = parse_qs(url.query).get("propagationPolicy", [None])[0]
            scenario.deleted.append(f"{match['name']}:{policy or options.get('propagationPolicy')}")
            self._send(200, {"kind": "Status", "apiVersion": "v1", "status": "Success"})

    return Handler


@contextmanager
def fake_apiserver(scenario: Scenario) -> Iterator[str]:
    """Serve ``scenario`` on 127.0.0.1; yields the base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(scenario))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
