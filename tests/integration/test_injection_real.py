"""STARTTLS command injection against real servers, each pinned: the vulnerable ones must be flagged with their own
answer as the evidence, the fixed and safe ones must not be.

Vulnerable: aiosmtpd 1.4.5 (CVE-2024-34083), Courier's POP3 server as Debian 12 ships it (courier-pop 1.0.16 with
courier-imap 5.0.13: CVE-2021-38084), Twisted 26.10.0's IMAP4Server and pymap 0.36.7 (no CVE known to us).
Not vulnerable: aiosmtpd 1.4.6 (the fix), Courier's IMAP server, Cyrus 3.6 (IMAP and POP3), GNU Mailutils
imap4d/pop3d and nginx's mail proxy (their handshake fails on the injected bytes: read as TLS, never run). Dovecot,
Postfix and Dovecot submission are checked where their other tests scan them (test_probe_dovecot.py,
test_submission_postfix.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner.certgen import make_ca
from scanner.model import Endpoint, EndpointResult, Protocol
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions
from tests.cyrus_courier import CourierInstance, CyrusInstance
from tests.mailservers import MailutilsPair, NginxMailProxy
from tests.pyservers import PyServer

OPTIONS = ProbeOptions(
    source_address="127.0.0.1", connect_timeout=3, read_timeout=5, legacy_tls=False, injection_wait=0.5
)


@pytest.fixture(scope="module")
def leaf() -> Iterator[tuple[Path, Path]]:
    files = Path(tempfile.mkdtemp(prefix="mp-injection-"))
    files.chmod(0o755)
    try:
        yield make_ca("mailprobe injection CA").issue(["mail.example.test"]).write(files, "leaf")
    finally:
        shutil.rmtree(files, ignore_errors=True)


def probe(address: str, port: int, protocol: Protocol, **changes: object) -> EndpointResult:
    endpoint = Endpoint(address, address, port, protocol, "starttls")
    return asyncio.run(probe_endpoint(endpoint, dataclasses.replace(OPTIONS, **changes)))  # type: ignore[arg-type]


def injection_ids(result: EndpointResult) -> list[str]:
    return [f.id for f in result.findings if f.id == "starttls-command-injection"]


def assert_flagged(result: EndpointResult, answer_starts: str) -> None:
    assert result.state == "open" and result.starttls == "ok", result.error
    injection = result.starttls_injection
    assert injection is not None and injection.verdict == "vulnerable", injection
    answered = [t for t in injection.tries if t.outcome == "answered-in-tls"]
    assert answered and all(t.evidence[-1].startswith(answer_starts) for t in answered), answered
    assert injection_ids(result) == ["starttls-command-injection"]


def assert_not_flagged(result: EndpointResult) -> None:
    assert result.state == "open" and result.starttls == "ok", result.error
    injection = result.starttls_injection
    assert injection is not None and injection.verdict == "not_vulnerable", injection
    assert not injection_ids(result)


def test_aiosmtpd_1_4_5_is_flagged(leaf: tuple[Path, Path]) -> None:
    with PyServer.aiosmtpd("1.4.5", *leaf) as smtp:
        result = probe(smtp.address, 587, "smtp")
    assert_flagged(result, "250 ")
    finding = next(f for f in result.findings if f.id == "starttls-command-injection")
    assert "aiosmtpd CVE-2024-34083" in finding.detail


def test_aiosmtpd_1_4_6_is_not(leaf: tuple[Path, Path]) -> None:
    with PyServer.aiosmtpd("1.4.6", *leaf) as smtp:
        assert_not_flagged(probe(smtp.address, 587, "smtp"))


def test_twisted_imap4server_is_flagged(leaf: tuple[Path, Path]) -> None:
    with PyServer.twisted_imap(*leaf) as imap:
        result = probe(imap.address, 143, "imap")
    assert_flagged(result, "mpi")
    tag = next(t.sent.split()[0] for t in result.starttls_injection.tries if t.outcome == "answered-in-tls")  # type: ignore[union-attr]
    assert any(line.startswith(f"{tag} OK") for t in result.starttls_injection.tries for line in t.evidence)  # type: ignore[union-attr]


def test_pymap_is_flagged(leaf: tuple[Path, Path]) -> None:
    with PyServer.pymap(*leaf) as imap:
        assert_flagged(probe(imap.address, 143, "imap"), "mpi")


def test_gnu_mailutils_is_not(leaf: tuple[Path, Path]) -> None:
    with MailutilsPair("required", *leaf) as mu:
        for port, protocol in ((143, "imap"), (110, "pop3")):
            result = probe(mu.address, port, protocol)  # type: ignore[arg-type]
            assert_not_flagged(result)
            tries = {t.variant: t for t in result.starttls_injection.tries}  # type: ignore[union-attr]
            assert tries["same-write"].outcome == "broke-handshake", result.starttls_injection
            # On a loaded machine the separate segment is in before Mailutils reads STARTTLS, and it then closes
            # the connection without answering (no TLS session for the command to ride into): 9 runs in 12 with
            # three busy loops beside the test, none on a quiet machine.
            late = tries["separate-segment"]
            assert late.outcome == "broke-handshake" or (
                late.outcome == "failed" and "closed the connection" in (late.note or "")
            ), result.starttls_injection


def test_nginx_mail_proxy_is_not(leaf: tuple[Path, Path]) -> None:
    with NginxMailProxy("only", *leaf) as ngx:
        for port, protocol in ((143, "imap"), (110, "pop3")):
            assert_not_flagged(probe(ngx.address, port, protocol))  # type: ignore[arg-type]


def test_courier_pop3_is_flagged_and_its_imap_is_not(leaf: tuple[Path, Path]) -> None:
    with CourierInstance("tls_required", *leaf) as courier:
        pop3 = probe(courier.address, 110, "pop3", read_timeout=8, login_timeout=10)
        imap = probe(courier.address, 143, "imap", read_timeout=8, login_timeout=10)
    assert_flagged(pop3, ".")  # the CAPA listing, ended by its dot, inside TLS (CVE-2021-38084)
    answered = next(t for t in pop3.starttls_injection.tries if t.outcome == "answered-in-tls")  # type: ignore[union-attr]
    assert answered.sent == "CAPA" and answered.evidence[0].startswith("+OK")
    assert "IMPLEMENTATION Courier Mail Server" in answered.evidence
    assert_not_flagged(imap)


def test_cyrus_is_not(leaf: tuple[Path, Path]) -> None:
    with CyrusInstance("plaintext_refused", *leaf) as cyrus:
        for port, protocol in ((143, "imap"), (110, "pop3")):
            assert_not_flagged(probe(cyrus.address, port, protocol, read_timeout=8, login_timeout=10))  # type: ignore[arg-type]
