"""Deterministic results and a fake probe (the "fake engine") for the TUI tests and the benchmark."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from scanner.model import (
    Capabilities,
    CertificateInfo,
    Endpoint,
    EndpointResult,
    Finding,
    PlaintextLogin,
    TranscriptLine,
)
from scanner.probe.context import ScanContext
from scanner.probe.options import ProbeOptions
from scanner.scan.scheduler import Scan
from tests.factories import certificate
from tests.factories import result as shared_result

SECRET = "Zq7-not-a-real-password"


def cert(
    *,
    days_left: int = 300,
    trusted: bool = True,
    self_signed: bool = False,
    exchange_default: bool = False,
    name_match: bool | None = True,
    subject: str = "CN=mail.example.test",
) -> CertificateInfo:
    return certificate(
        subject,
        days_left=days_left,
        issuer="CN=Demo CA" if not self_signed else subject,
        sans=("mail.example.test",),
        not_before="2026-01-01T00:00:00Z",
        not_after="2027-01-01T00:00:00Z",
        sha="ab" * 32,
        chain_length=2,
        trusted=trusted,
        trust_store="demo CA file",
        trust_error=None if trusted else "unable to get issuer",
        self_signed=self_signed,
        exchange_default=exchange_default,
        name_match=name_match,
        names_checked=("mail.example.test",),
        chain=(f"{subject} <- CN=Demo CA", "CN=Demo CA <- CN=Demo CA"),
    )


def result(
    last_octet: int,
    port: int = 143,
    *,
    verdict: str = "refused",
    software: str | None = "Dovecot",
    findings: tuple[Finding, ...] = (),
    certificate: CertificateInfo | None = None,
    state: str = "open",
    name: str | None = None,
    tls_version: str | None = "TLSv1.3",
) -> EndpointResult:
    """A loopback row as the demo servers give them, with a transcript that holds SECRET (which must never show)."""
    is_open = state == "open"
    transcript = (
        (
            TranscriptLine("S", "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] ready", False, 3),
            TranscriptLine("C", f"a1 LOGIN mailprobe-3f9a {SECRET}", False, 5),
            TranscriptLine("S", "a1 NO [PRIVACYREQUIRED] Plaintext authentication disallowed", False, 6),
            TranscriptLine("*", "TLS started: TLSv1.3", True, 20),
            TranscriptLine("C", f"a2 LOGIN mailprobe-3f9a {SECRET}", True, 22),
            TranscriptLine("S", "a2 NO [AUTHENTICATIONFAILED] Authentication failed.", True, 2025),
        )
        if is_open
        else ()
    )
    return shared_result(
        port, address=f"127.0.0.{last_octet}", state=state, verdict=verdict, findings=findings, tls_version=tls_version,
        cert=certificate if certificate is not None else cert(), name=name,
        error=None if is_open else "connection refused" if state == "closed" else "timed out",
        greeting="* OK ready" if is_open else None, software=software if is_open else None,
        capabilities=Capabilities(("IMAP4rev1", "STARTTLS", "LOGINDISABLED"), ("IMAP4rev1", "AUTH=PLAIN"))
        if is_open else Capabilities(),
        plaintext_login=PlaintextLogin(verdict if is_open else "not_tested",
                                       ("clear: NO [PRIVACYREQUIRED]", "TLS: NO [AUTHENTICATIONFAILED] after 2003 ms")
                                       if is_open else ()),
        transcript=transcript, duration_ms=2100 if is_open else 5,
    )  # fmt: skip


ACCEPTED = Finding(
    "plaintext-login-accepted",
    "critical",
    "Plaintext login accepted",
    "The server checked a password sent without TLS.",
    "Dovecot: set disable_plaintext_auth = yes (auth_allow_cleartext = no in 2.4).",
)
SELF_SIGNED = Finding(
    "certificate-self-signed",
    "high",
    "Self-signed certificate",
    "Clients cannot verify the server.",
    "Install a certificate from a trusted CA.",
)
EXPIRED = Finding(
    "certificate-expired",
    "high",
    "Certificate expired",
    "The certificate is past its end date.",
    "Renew the certificate.",
)
NO_TLS = Finding("starttls-not-offered", "critical", "No TLS at all", "STARTTLS is not offered.", "Enable TLS.")
WRONG_NAME = Finding(
    "certificate-name-mismatch",
    "medium",
    "Certificate name mismatch",
    "The certificate does not cover the name.",
    "Issue a certificate for the name clients use.",
)


def demo_like() -> list[EndpointResult]:
    """Eight rows that look like the demo servers, plus one silent and one closed endpoint."""
    return [
        result(2, name="securelogin.demo.test", software="Microsoft Exchange"),
        result(3, name="plaintext.demo.test", software="Microsoft Exchange", verdict="accepted", findings=(ACCEPTED,)),
        result(4, name="dovecot.demo.test", verdict="accepted", findings=(ACCEPTED,)),
        result(
            5,
            110,
            name="notls.demo.test",
            software="Courier",
            verdict="accepted",
            tls_version=None,
            findings=(ACCEPTED, NO_TLS),
        ),
        result(
            6,
            993,
            name="exdefault.demo.test",
            software="Microsoft Exchange",
            certificate=cert(trusted=False, self_signed=True, exchange_default=True, name_match=False),
            findings=(SELF_SIGNED,),
        ),
        result(7, 995, name="expired.demo.test", certificate=cert(days_left=-12), findings=(EXPIRED,)),
        result(8, name="wrongname.demo.test", certificate=cert(name_match=False), findings=(WRONG_NAME,)),
        result(9, name="liar.demo.test", software="Dovecot", verdict="inconclusive"),
        result(10, state="filtered"),
        result(11, state="closed"),
    ]


class FakeProbe:
    """Answers each endpoint with its canned result after `delay` seconds; `changes` swaps answers for re-probes."""

    def __init__(self, results: Iterable[EndpointResult], delay: float = 0.0) -> None:
        self.answers = {r.key: r for r in results}
        self.delay = delay
        self.calls: list[tuple[str, int]] = []
        self.held: set[tuple[str, int]] = set()  # these endpoints wait until release() (to keep a scan running)
        self._released: asyncio.Event | None = None

    def release(self) -> None:
        self.held.clear()
        if self._released is not None:
            self._released.set()

    async def __call__(self, endpoint: Endpoint, options: ProbeOptions, context: ScanContext) -> EndpointResult:
        self.calls.append(endpoint.key)
        if endpoint.key in self.held:
            if self._released is None:
                self._released = asyncio.Event()
            await self._released.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answers[endpoint.key]


def fake_scan(results: list[EndpointResult], delay: float = 0.0, concurrency: int = 4) -> tuple[Scan, FakeProbe]:
    probe = FakeProbe(results, delay)
    scan = Scan([r.endpoint for r in results], ProbeOptions(), probe=probe, concurrency=concurrency, total=len(results))
    return scan, probe


def fixed_clock(value: float = 1000.0) -> Callable[[], float]:
    return lambda: value
