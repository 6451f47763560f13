"""The GCS emulator (gcp-storage-emulator), in-process on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.services.postgres import free_port


@contextmanager
def gcs_emulator_server() -> Iterator[str]:
    """Run the emulator in memory; yield its endpoint ``http://127.0.0.1:PORT``."""
    from gcp_storage_emulator.server import create_server

    port = free_port()
    server = create_server("127.0.0.1", port, in_memory=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
