"""The demo: nine bundled fake servers on 127.0.0.2-10 that behave like real deployments, with certificates made at
run time, served from a background thread so any scan (TUI or plain) can probe them.

    with running_demo() as demo:
        scan = Scan(demo.endpoints, demo.options())
        ...
        demo.fix(("127.0.0.3", 38417))   # the server now behaves as its fixed variant; re-probe to see the change

Ports are chosen by the system (unprivileged, never colliding); every address is on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from scanner import certgen
from scanner.fakeserver import FakeServer, bundled_profile
from scanner.fakeserver.tls import make_certificate, server_context
from scanner.model import Endpoint
from scanner.probe.options import ProbeOptions

DEMO_DOMAIN = "demo.mailprobe.test"
CLIENT_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class DemoServer:
    label: str
    profile: str
    address: str
    certificate: str | None  # a scanner.fakeserver.tls kind, None: no TLS at all
    what: str  # what the user should see for it
    fixed_profile: str | None = None  # what "fix" turns it into (None: nothing to fix)
    fixed_certificate: str | None = None

    @property
    def name(self) -> str:
        return f"{self.label}.{DEMO_DOMAIN}"


DEMO_SERVERS: tuple[DemoServer, ...] = (
    DemoServer(
        "securelogin",
        "exchange-imap-securelogin",
        "127.0.0.2",
        "ca-signed",
        "Exchange, LoginType SecureLogin: plaintext refused",
    ),
    DemoServer(
        "plaintextlogin",
        "exchange-imap-plaintextlogin",
        "127.0.0.3",
        "ca-signed",
        "Exchange, LoginType PlainTextLogin: plaintext accepted",
        fixed_profile="exchange-imap-securelogin",
    ),
    DemoServer(
        "dovecot",
        "dovecot-imap-plaintext-allowed",
        "127.0.0.4",
        "ca-signed",
        "Dovecot, disable_plaintext_auth = no: plaintext accepted",
        fixed_profile="dovecot-imap-plaintext-refused",
    ),
    DemoServer(
        "notls",
        "imap-no-tls",
        "127.0.0.5",
        None,
        "no TLS at all: passwords only in clear",
        fixed_profile="dovecot-imap-plaintext-refused",
        fixed_certificate="ca-signed",
    ),
    DemoServer(
        "exchange-cert",
        "exchange-imaps",
        "127.0.0.6",
        "exchange-default",
        "Exchange on 993 with its default self-signed certificate",
        fixed_certificate="ca-signed",
    ),
    DemoServer(
        "expired",
        "dovecot-pop3-plaintext-refused",
        "127.0.0.7",
        "expired",
        "Dovecot POP3 with an expired certificate",
        fixed_certificate="ca-signed",
    ),
    DemoServer(
        "wrongname",
        "dovecot-imap-plaintext-refused",
        "127.0.0.8",
        "wrong-name",
        "Dovecot with a certificate for another name",
        fixed_certificate="ca-signed",
    ),
    DemoServer(
        "liar",
        "imap-logindisabled-liar",
        "127.0.0.9",
        "ca-signed",
        "advertises LOGINDISABLED but accepts LOGIN in clear",
        fixed_profile="dovecot-imap-plaintext-refused",
    ),
    DemoServer(
        "injection",
        "imap-starttls-command-injection",
        "127.0.0.10",
        "ca-signed",
        "refuses plaintext login, but runs commands injected after STARTTLS inside TLS",
        fixed_profile="dovecot-imap-plaintext-refused",
    ),
)


class Demo:
    """The running demo servers (in their own event loop, on a background thread)."""

    def __init__(self, directory: Path, login_delay: float | None = None) -> None:
        self.directory = directory
        self.login_delay = login_delay  # None: each profile's own (Dovecot waits 2 s like the real one)
        self.ca = certgen.make_ca("mailprobe demo CA")
        self.ca_file = str(self.ca.write(directory, "demo-ca"))
        self.servers: dict[tuple[str, int], tuple[DemoServer, FakeServer]] = {}
        self.endpoints: list[Endpoint] = []
        self._loop = asyncio.new_event_loop()
        self._loop.set_exception_handler(_quiet_cancellations)
        self._thread = threading.Thread(target=self._loop.run_forever, name="mailprobe-demo", daemon=True)

    # -- life cycle ----------------------------------------------------------------------------------------------

    def start(self) -> Demo:
        self._thread.start()
        for spec in DEMO_SERVERS:
            server = self._call(self._serve(spec, spec.profile, spec.certificate, port=0))
            endpoint = Endpoint(
                spec.address,
                spec.address,
                server.port,
                server.profile.protocol,
                "implicit" if server.profile.implicit_tls else "starttls",
                spec.name,
            )
            self.servers[endpoint.key] = (spec, server)
            self.endpoints.append(endpoint)
        return self

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        for _, server in self.servers.values():
            with contextlib.suppress(Exception):
                self._call(server.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def options(self, **changes: object) -> ProbeOptions:
        """Probe options for the demo: its CA trusted, connections from 127.0.0.1, short timeouts."""
        values: dict[str, object] = {
            "ca_file": self.ca_file,
            "source_address": CLIENT_ADDRESS,
            "connect_timeout": 3.0,
            "read_timeout": 5.0,
            "tls_timeout": 5.0,
            "endpoint_timeout": 30.0,
        }
        values.update(changes)
        return ProbeOptions(**values)  # type: ignore[arg-type]

    # -- "fix the server" ----------------------------------------------------------------------------------------

    def fix(self, key: tuple[str, int]) -> str | None:
        """Restart the server at key as its fixed variant (same address and port). Returns what changed, or None
        when there is nothing to fix there."""
        entry = self.servers.get(key)
        if entry is None:
            return None
        spec, server = entry
        profile = spec.fixed_profile or server.profile.name
        certificate = spec.fixed_certificate or spec.certificate
        if profile == server.profile.name and certificate == self._certificate_of(server):
            return None
        self._call(server.close())
        new = self._call(self._serve(spec, profile, certificate, port=server.port))
        self.servers[key] = (spec, new)
        cert_changed = certificate != self._certificate_of(server)
        return f"{spec.label} now runs {profile}" + (f" with a {certificate} certificate" if cert_changed else "")

    # -- internals -----------------------------------------------------------------------------------------------

    def _call(self, coro):  # noqa: ANN001, ANN202 - runs a coroutine on the demo loop and waits for its result
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    async def _serve(self, spec: DemoServer, profile_name: str, certificate: str | None, port: int) -> FakeServer:
        profile = bundled_profile(profile_name)
        context = self._context(spec, certificate) if certificate else None
        server = FakeServer(profile, host=spec.address, port=port, ssl_context=context, login_delay=self.login_delay)
        server.demo_certificate = certificate  # type: ignore[attr-defined]
        return await server.start()

    @staticmethod
    def _certificate_of(server: FakeServer) -> str | None:
        return getattr(server, "demo_certificate", None)

    def _context(self, spec: DemoServer, kind: str) -> ssl.SSLContext:
        issued = make_certificate(kind, spec.name, spec.address, self.ca)
        cert_path, key_path = issued.write(self.directory, f"{spec.label}-{kind}")
        return server_context(cert_path, key_path)


def _quiet_cancellations(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
    # Closing a fake server cancels its sessions; asyncio's stream callback then reports each cancellation as an
    # error. Those are expected at shutdown (or on "fix"); anything else is still reported.
    if isinstance(context.get("exception"), asyncio.CancelledError):
        return
    loop.default_exception_handler(context)


@contextlib.contextmanager
def running_demo(login_delay: float | None = None) -> Iterator[Demo]:
    """Start every demo server; stop them and remove their certificates on exit."""
    with tempfile.TemporaryDirectory(prefix="mailprobe-demo-") as directory:
        demo = Demo(Path(directory), login_delay=login_delay)
        try:
            yield demo.start()
        finally:
            demo.stop()
