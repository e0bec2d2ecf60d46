"""Fixtures shared by the engine's tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


@pytest.fixture()
def silent_port() -> Iterator[int]:
    """A listener whose single backlog slot is taken: the kernel drops every further SYN to it."""
    with socket.socket() as server, socket.socket() as filler:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        filler.connect(("127.0.0.1", port))
        yield port
