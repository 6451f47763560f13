"""Secret Manager references, replayed from recorded exchanges at the gRPC level.

No Secret Manager emulator exists. The real client (real gRPC transport, real
protobuf serialisation, real routing headers) talks to an in-process gRPC server on
127.0.0.1 that replays the recorded AccessSecretVersion responses and errors in
``data/gsm_access_secret_version.json`` and records what it received.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import pytest
from google.cloud.secretmanager_v1.types import (
    AccessSecretVersionRequest,
    AccessSecretVersionResponse,
)

from etl_framework import redaction
from etl_framework.config import config_from_mapping
from etl_framework.exceptions import ConfigError, ConfigValidationError
from etl_framework.gcp import secrets_gsm

RECORDING = Path(__file__).parent / "data" / "gsm_access_secret_version.json"
SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"


class ReplayServer:
    """Answers AccessSecretVersion from the recording; keeps every request it got."""

    def __init__(self, recording: dict[str, Any]) -> None:
        import grpc

        self.exchanges = {e["request"]["name"]: e for e in recording["exchanges"]}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        handler = grpc.unary_unary_rpc_method_handler(
            self.access,
            request_deserializer=AccessSecretVersionRequest.deserialize,
            response_serializer=AccessSecretVersionResponse.serialize,
        )
        self.server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler(SERVICE, {"AccessSecretVersion": handler}),)
        )
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def access(self, request: AccessSecretVersionRequest, context: Any) -> Any:
        import grpc

        self.requests.append((request.name, dict(context.invocation_metadata())))
        exchange = self.exchanges.get(request.name)
        if exchange is None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"unrecorded request {request.name}")
        if "error" in exchange:
            error = exchange["error"]
            context.abort(getattr(grpc.StatusCode, error["code"]), error["message"])
        return AccessSecretVersionResponse.from_json(json.dumps(exchange["response"]))


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    import grpc
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import secretmanager
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
        SecretManagerServiceGrpcTransport,
    )

    server = ReplayServer(json.loads(RECORDING.read_text()))
    server.server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    transport = SecretManagerServiceGrpcTransport(
        channel=channel, credentials=AnonymousCredentials()
    )
    secrets_gsm.set_client(secretmanager.SecretManagerServiceClient(transport=transport))
    try:
        yield server
    finally:
        secrets_gsm.set_client(None)
        channel.close()
        server.server.stop(grace=None)
        redaction.forget_all()


def test_latest_version_by_default_with_routing_header(replay: ReplayServer) -> None:
    assert secrets_gsm.resolve("projects/acme-data/secrets/warehouse-password") == "s3cr3t-p4ss"
    name, metadata = replay.requests[0]
    assert name == "projects/acme-data/secrets/warehouse-password/versions/latest"
    assert metadata["x-goog-request-params"] == f"name={name}"
    # cached: the same reference is fetched once per process
    assert secrets_gsm.resolve("projects/acme-data/secrets/warehouse-password/versions/latest")
    assert len(replay.requests) == 1


def test_pinned_version(replay: ReplayServer) -> None:
    value = secrets_gsm.resolve("projects/acme-data/secrets/warehouse-password/versions/3")
    assert value == "older-p4ss"
    assert replay.requests[0][0].endswith("/versions/3")


def test_missing_version_is_a_key_error(replay: ReplayServer) -> None:
    with pytest.raises(KeyError):
        secrets_gsm.resolve("projects/acme-data/secrets/warehouse-password/versions/9")


def test_permission_denied_names_the_role(replay: ReplayServer) -> None:
    with pytest.raises(ConfigError, match="secretAccessor") as caught:
        secrets_gsm.resolve("projects/other-team/secrets/api-key")
    assert "projects/other-team/secrets/api-key/versions/latest" in str(caught.value)


def test_checksum_mismatch_is_refused(replay: ReplayServer) -> None:
    with pytest.raises(ConfigError, match="checksum mismatch") as caught:
        secrets_gsm.resolve("projects/acme-data/secrets/tampered")
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    "reference",
    [
        "acme/warehouse",
        "projects/p/secrets/",
        "projects/p/secrets/s/versions/",
        "projects//secrets/s",
    ],
)
def test_malformed_references(reference: str) -> None:
    with pytest.raises(ConfigError, match="invalid Secret Manager reference"):
        secrets_gsm.resolve(reference)


def test_config_resolves_gsm_references_and_masks_them(replay: ReplayServer) -> None:
    config = config_from_mapping(
        {
            "connections": {
                "warehouse": {
                    "type": "sql",
                    "url": "postgresql+psycopg://etl:${gsm:projects/acme-data/secrets/"
                    "warehouse-password}@db/warehouse",
                }
            }
        }
    )
    url = config.connections["warehouse"].url.get_secret_value()  # type: ignore[attr-defined]
    assert url == "postgresql+psycopg://etl:s3cr3t-p4ss@db/warehouse"
    assert "s3cr3t-p4ss" not in repr(config)
    assert redaction.redact("password is s3cr3t-p4ss") == "password is ***"

    with pytest.raises(ConfigValidationError) as caught:
        config_from_mapping(
            {
                "connections": {
                    "warehouse": {
                        "type": "sql",
                        "url": "${gsm:projects/acme-data/secrets/warehouse-password/versions/9}",
                    }
                }
            }
        )
    assert "connections.warehouse.url" in str(caught.value)
    assert "not found" in str(caught.value)


def test_trailing_newline_is_stripped_like_file_secrets(replay: ReplayServer) -> None:
    """``echo pw | gcloud secrets create`` stores a newline; ${file:} strips it too."""
    assert secrets_gsm.resolve("projects/acme-data/secrets/api-token") == "t0k3n-value"
