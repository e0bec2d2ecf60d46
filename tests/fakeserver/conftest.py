"""Shared fixtures: certificates from scanner.certgen, a non-verifying client context, a line reader."""

from __future__ import annotations

import ssl

import pytest

from scanner.fakeserver.tls import context_for
from tests.fakeserver.helpers import HOST


@pytest.fixture(scope="session")
def server_ctx(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    return context_for("ca-signed", "mail.example.test", HOST, tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def client_ctx() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the scanner judges certificates later; these tests only need the channel
    return ctx
