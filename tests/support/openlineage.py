"""Checking OpenLineage events: the RunEvent rules of the OpenLineage spec, and a receiver.

`RUN_EVENT` restates, as a JSON Schema, what the OpenLineage 2-0-2 spec requires of a
RunEvent and of the facets we emit (written for these tests from the spec's text; the
spec lives at https://openlineage.io/spec/2-0-2/OpenLineage.json).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import jsonschema

_FACET_BASE = {
    "type": "object",
    "required": ["_producer", "_schemaURL"],
    "properties": {
        "_producer": {"type": "string", "format": "uri"},
        "_schemaURL": {"type": "string", "format": "uri"},
    },
}


def _facet(required: dict[str, Any]) -> dict[str, Any]:
    return {
        "allOf": [
            _FACET_BASE,
            {"type": "object", "required": sorted(required), "properties": required},
        ]
    }


_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {
        "namespace": {"type": "string", "minLength": 1},
        "name": {"type": "string", "minLength": 1},
        "facets": {"type": "object", "additionalProperties": _FACET_BASE},
    },
}

RUN_EVENT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["eventType", "eventTime", "run", "job", "producer", "schemaURL"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {
                "runId": {"type": "string", "format": "uuid"},
                "facets": {
                    "type": "object",
                    "additionalProperties": _FACET_BASE,
                    "properties": {
                        "nominalTime": _facet(
                            {"nominalStartTime": {"type": "string", "format": "date-time"}}
                        ),
                        "errorMessage": _facet(
                            {
                                "message": {"type": "string"},
                                "programmingLanguage": {"type": "string"},
                            }
                        ),
                    },
                },
            },
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {
                "namespace": {"type": "string", "minLength": 1},
                "name": {"type": "string", "minLength": 1},
                "facets": {"type": "object", "additionalProperties": _FACET_BASE},
            },
        },
        "inputs": {
            "type": "array",
            "items": {
                "allOf": [
                    _DATASET,
                    {
                        "properties": {
                            "inputFacets": {
                                "type": "object",
                                "additionalProperties": _FACET_BASE,
                                "properties": {
                                    "inputStatistics": _facet(
                                        {"rowCount": {"type": "integer", "minimum": 0}}
                                    )
                                },
                            }
                        }
                    },
                ]
            },
        },
        "outputs": {
            "type": "array",
            "items": {
                "allOf": [
                    _DATASET,
                    {
                        "properties": {
                            "outputFacets": {
                                "type": "object",
                                "additionalProperties": _FACET_BASE,
                                "properties": {
                                    "outputStatistics": _facet(
                                        {"rowCount": {"type": "integer", "minimum": 0}}
                                    )
                                },
                            }
                        }
                    },
                ]
            },
        },
    },
}

_FORMATS = jsonschema.FormatChecker(["uuid"])


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:
    if not isinstance(value, str) or "T" not in value:
        return False
    return datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


@_FORMATS.checks("uri")
def _uri(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc or parts.path)


def problems(event: dict[str, Any]) -> list[str]:
    """Every way `event` breaks the RunEvent rules, as readable lines (empty: valid)."""
    validator = jsonschema.Draft202012Validator(RUN_EVENT, format_checker=_FORMATS)
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<event>'}: {error.message}"
        for error in validator.iter_errors(event)
    ]


class Received:
    """What a receiver got: the JSON bodies and the Authorization headers, in order."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.authorizations: list[str | None] = []
        self.paths: list[str] = []


@contextmanager
def receiver() -> Iterator[tuple[str, Received]]:
    """A local HTTP server that takes OpenLineage POSTs; yields its URL and what it got."""
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            received.events.append(json.loads(body))
            received.authorizations.append(self.headers.get("Authorization"))
            received.paths.append(self.path)
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()
