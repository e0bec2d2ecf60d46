"""--debug: each endpoint's steps with timings on stderr, nothing by default, never the dummy credentials, server
text escaped."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import socket
import subprocess
import sys

import pytest

from scanner import certgen
from scanner.fakeserver import FakeServer, Profile, bundled_profile
from scanner.fakeserver.tls import context_for
from scanner.model import Endpoint
from scanner.probe import conversation as probe_module
from scanner.probe.conversation import probe_endpoint
from scanner.probe.dialects import DummyCredentials
from scanner.probe.options import ProbeOptions

HOST = "127.0.0.3"
OPTIONS = ProbeOptions(source_address="127.0.0.1", connect_timeout=2, read_timeout=2, login_timeout=3,
                       tls_timeout=3, endpoint_timeout=20, legacy_tls=False)  # fmt: skip
STEPS = ("connect", "greeting", "capabilities", "login", "STARTTLS", "TLS handshake", "STARTTLS command injection",
         "close")  # fmt: skip


@pytest.fixture(scope="module")
def server_tls(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    directory = tmp_path_factory.mktemp("certs")
    return context_for("self-signed", "mail.example.test", HOST, directory, ca=certgen.make_ca("debug log test CA"))


def probe_logged(profile: Profile, server_tls, caplog, monkeypatch) -> tuple[list[str], list[DummyCredentials]]:  # type: ignore[no-untyped-def]
    """Probe a fake server with the debug log on; the log lines and the credentials the probe really used."""
    used: list[DummyCredentials] = []
    real = DummyCredentials.random

    def spy() -> DummyCredentials:
        used.append(real())
        return used[-1]

    monkeypatch.setattr(probe_module.DummyCredentials, "random", staticmethod(spy))

    async def run() -> None:
        async with FakeServer(profile, host=HOST, port=0, ssl_context=server_tls, login_delay=0.01) as server:
            endpoint = Endpoint(HOST, HOST, server.port, profile.protocol, "starttls")
            await probe_endpoint(endpoint, OPTIONS)
            await server.wait_idle()

    with caplog.at_level(logging.DEBUG, logger="mailprobe"):
        asyncio.run(run())
    return [r.getMessage() for r in caplog.records if r.name.startswith("mailprobe")], used


def test_every_step_is_logged_with_its_time_and_no_credential(server_tls, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    lines, used = probe_logged(bundled_profile("dovecot-imap-plaintext-allowed"), server_tls, caplog, monkeypatch)
    for step in STEPS:
        assert any(f" {step}: " in line for line in lines), (step, lines)
    assert all(line.rstrip().endswith(" ms") for line in lines), lines
    assert any("login: LOGIN answered no [AUTHENTICATIONFAILED]" in line for line in lines), lines
    assert any("TLS handshake: TLSv1." in line for line in lines), lines
    assert any("STARTTLS command injection: same-write: silent" in line for line in lines), lines
    assert any("STARTTLS command injection: separate-segment: " in line for line in lines), lines
    (credentials,) = used
    secrets = (credentials.password, credentials.user, base64.b64encode(credentials.sasl_plain).decode())
    assert not [line for line in lines if any(s in line for s in secrets)]


def test_server_text_is_escaped_in_the_log(server_tls, caplog, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    hostile = dataclasses.replace(
        bundled_profile("dovecot-imap-plaintext-refused"), greeting=("* OK \x1b]0;owned\x07\x1b[2J Dovecot ready.",)
    )
    lines, _ = probe_logged(hostile, server_tls, caplog, monkeypatch)
    greeting = [line for line in lines if " greeting: " in line]
    assert greeting and all("\x1b" not in line and "\x07" not in line for line in lines)
    assert "\\x1b]0;owned\\x07\\x1b[2J Dovecot ready." in greeting[0]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("where", ["before", "after", "off"])
def test_debug_flag_before_or_after_the_command_and_off_by_default(where: str) -> None:
    port = _closed_port()
    scan = ["scan", f"imap://127.0.0.1:{port}", "--format", "json", "--timeout", "2"]
    argv = {"before": ["--debug", *scan], "after": [*scan, "--debug"], "off": scan}[where]
    run = subprocess.run([sys.executable, "-m", "scanner", *argv], capture_output=True, text=True, timeout=120)
    assert '"state": "closed"' in run.stdout, run.stdout + run.stderr
    logged = [line for line in run.stderr.splitlines() if "mailprobe.probe:" in line]
    if where == "off":
        assert logged == [], run.stderr
    else:
        assert any(f"127.0.0.1:{port} connect: ConnectError: connection refused after" in line for line in logged)
