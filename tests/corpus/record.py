"""Record the corpus: every real server the suite runs, in each configuration it uses, probed by mailprobe; each
endpoint's conversation goes to fixtures/corpus/SERVER/CONFIG-PORT.txt with the verdict the configuration calls for.

    python -m tests.corpus.record                    # every server
    python -m tests.corpus.record cyrus courier      # some (names: see RECORDERS)
    python -m tests.corpus.record --out DIR nginx    # somewhere else than fixtures/corpus

Run as root on a machine set up by .ci/run (the servers' harnesses need it). A server's directory is replaced only
when all its configurations were recorded. The probe is mailprobe's own (probe_endpoint, as a scan runs it) with
random dummy credentials, the password masked as in every result; only the transcript's cut of long lines is lifted,
so that a replay sees the whole capability list a server sent. Exit status 1 when a live verdict differs from the
configuration's: that is a finding to look at before committing the files.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from unittest import mock

from scanner.certgen import make_ca
from scanner.model import Endpoint, EndpointResult
from scanner.probe import transcript as transcript_module
from scanner.probe.conversation import probe_endpoint
from scanner.probe.options import ProbeOptions
from tests.corpus import CORPUS, CorpusEntry, dump
from tests.cyrus_courier import SERVERS_ROOT, CourierInstance, CyrusInstance, courier_version, cyrus_version
from tests.dovecot import SETUPS as DOVECOT_SETUPS
from tests.dovecot import _release_address, allocate_address, dovecot_version, start_instance
from tests.mailservers import MailutilsPair, NginxMailProxy
from tests.postfix import SASL_CONFIG, PostfixInstance, dovecot_submission_config, dovecot_submission_packaged
from tests.postfix import SETUPS as POSTFIX_SETUPS
from tests.pyservers import PyServer, server_python

SERVER_NAME = "mail.example.test"
PORTS: dict[int, tuple[str, Literal["starttls", "implicit"]]] = {
    110: ("pop3", "starttls"), 143: ("imap", "starttls"), 587: ("smtp", "starttls"),
    993: ("imap", "implicit"), 995: ("pop3", "implicit"), 465: ("smtp", "implicit"),
}  # fmt: skip


@dataclass(frozen=True)
class Pki:
    ca_file: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class Running:
    """One server running in one configuration: what to probe, and what its configuration says."""

    config: str
    setting: str
    plaintext_allowed: bool
    address: str
    ports: tuple[int, ...]
    version: str | None = None  # when the configurations differ in version (aiosmtpd), else the Recorder's


@dataclass(frozen=True)
class Recorder:
    slug: str  # the directory under fixtures/corpus
    server: str
    version: Callable[[], str] | None  # None: each configuration names its own (Running.version)
    configurations: Callable[[Pki], Iterator[Running]]  # starts each configuration in turn, stops it after


def _dpkg(package: str) -> str:
    done = subprocess.run(["dpkg-query", "-W", "-f=${Version}", package], capture_output=True, text=True, timeout=30)
    return done.stdout.strip() or "unknown"


def _unpacked(package: str, fallback: Callable[[], str | None]) -> str:
    """The version of a package .ci/run unpacked (its list: SERVERS_ROOT/versions), else the installed one's."""
    with contextlib.suppress(OSError):
        for line in (SERVERS_ROOT / "versions").read_text().splitlines():
            name, _, version = line.partition(" ")
            if name == package:
                return version
    return fallback() or "unknown"


def _nginx_version() -> str:
    said = subprocess.run(["nginx", "-v"], capture_output=True, text=True, timeout=30).stderr
    found = re.search(r"nginx/(\S+)", said)
    return found.group(1) if found else "unknown"


def _dovecot_version() -> str:
    said = subprocess.run(["dovecot", "--version"], capture_output=True, text=True, timeout=30).stdout.split()
    return said[0] if said else ".".join(map(str, dovecot_version() or ()))


# -- the servers, each in the configurations the suite runs -------------------------------------------------------


def dovecot(pki: Pki) -> Iterator[Running]:
    for setup, (ssl, allowed) in DOVECOT_SETUPS.items():
        setting = f"ssl = {ssl}, disable_plaintext_auth = {'no' if allowed else 'yes'}"
        instance = start_instance(setup, cert_path=pki.cert, key_path=pki.key)
        try:
            yield Running(setup, setting, allowed, instance.address, instance.listening_ports)
        finally:
            instance.close()


def postfix(pki: Pki) -> Iterator[Running]:
    for setup, s in POSTFIX_SETUPS.items():
        setting = f"smtpd_tls_security_level = {s.security_level}, smtpd_tls_auth_only = "
        setting += "yes" if s.auth_only_after_tls else "no"
        setting += "" if s.tls else ", no certificate"
        allowed = not s.auth_only_after_tls and s.security_level != "encrypt"
        backend = start_instance("plaintext_allowed", extra_config=SASL_CONFIG, cert_path=pki.cert, key_path=pki.key)
        try:
            with PostfixInstance(setup, dovecot=backend) as instance:
                yield Running(setup, setting, allowed, instance.address, instance.ports)
        finally:
            backend.close()


def dovecot_submission(pki: Pki) -> Iterator[Running]:
    if not dovecot_submission_packaged():
        raise RuntimeError("dovecot-submissiond is not installed")
    for setup in ("plaintext_refused", "plaintext_allowed"):
        allowed = DOVECOT_SETUPS[setup][1]
        address = allocate_address()
        extra = dovecot_submission_config(address)
        instance = start_instance(setup, address=address, extra_config=extra, cert_path=pki.cert, key_path=pki.key)
        try:
            setting = f"submission service, disable_plaintext_auth = {'no' if allowed else 'yes'}"
            yield Running(setup, setting, allowed, address, (587, 465))
        finally:
            instance.close()
            _release_address(address)


def mailutils(pki: Pki) -> Iterator[Running]:
    for mode, allowed in (("required", False), ("ondemand", True), ("false", True)):
        with MailutilsPair(mode, pki.cert, pki.key) as instance:
            yield Running(f"tls_{mode}", f"tls-mode {mode}", allowed, instance.address, (143, 110))


def nginx(pki: Pki) -> Iterator[Running]:
    for mode, allowed in (("only", False), ("on", True), ("off", True)):
        with NginxMailProxy(mode, pki.cert, pki.key) as instance:
            setting = f"starttls {mode}" + ("; no certificate" if mode == "off" else "")
            yield Running(f"starttls_{mode}", setting, allowed, instance.address, tuple(instance.ports()))


def _pip_version(venv: str, distribution: str) -> str:
    """The version installed in a py-server venv (tests/pyservers.py; made on first use)."""
    python = server_python(venv)
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    return done.stdout.strip() or "unknown"


def aiosmtpd(pki: Pki) -> Iterator[Running]:
    # aiosmtpd's command line with a certificate: require_starttls (its default then) answers every command but
    # NOOP, EHLO, STARTTLS and QUIT with 530 before STARTTLS; auth_require_tls (the default) offers AUTH only over
    # TLS. No authenticator: over TLS every login fails (login_always_fail). No password is read in clear.
    setting = "aiosmtpd -n -c aiosmtpd.handlers.Sink --tlscert --tlskey: require_starttls, auth_require_tls"
    for version in ("1.4.5", "1.4.6"):
        with PyServer.aiosmtpd(version, pki.cert, pki.key) as server:
            yield Running(
                version, setting, False, server.address, (587,), _pip_version(f"aiosmtpd-{version}", "aiosmtpd")
            )


def twisted(pki: Pki) -> Iterator[Running]:
    # tests/servers/twisted_imap.py: an IMAP4Server with a context factory advertises LOGINDISABLED in clear and
    # answers LOGIN there with BAD before any credential check (imap4.py do_LOGIN); no portal, so every login over
    # TLS fails.
    setting = "IMAP4Server(contextFactory=...), no portal: LOGINDISABLED before STARTTLS"
    with PyServer.twisted_imap(pki.cert, pki.key) as server:
        yield Running("no_portal", setting, False, server.address, (143,))


def pymap(pki: Pki) -> Iterator[Running]:
    # pymap with --cert/--key offers no SASL mechanism in clear (LOGINDISABLED), except to a loopback client: its
    # greeting gives one the mechanisms of TLS (pymap/imap/state.py do_greeting, sock_info.from_localhost). The
    # harness and every probe are on 127.0.0.0/8, so LOGIN and AUTHENTICATE PLAIN check the password in clear.
    setting = "pymap --cert --key dict; client on loopback: from_localhost gives the TLS SASL mechanisms in clear"
    with PyServer.pymap(pki.cert, pki.key) as server:
        yield Running("dict", setting, True, server.address, (143,))


def cyrus(pki: Pki) -> Iterator[Running]:
    for setup, s in CyrusInstance.setups.items():
        with CyrusInstance(setup, pki.cert, pki.key) as instance:
            yield Running(setup, s.setting, s.plaintext_allowed, instance.address, instance.ports)


def courier(pki: Pki) -> Iterator[Running]:
    for setup, s in CourierInstance.setups.items():
        with CourierInstance(setup, pki.cert, pki.key) as instance:
            yield Running(setup, s.setting, s.plaintext_allowed, instance.address, instance.ports)


RECORDERS: dict[str, Recorder] = {
    r.slug: r
    for r in (
        Recorder("dovecot", "Dovecot", _dovecot_version, dovecot),
        Recorder("postfix", "Postfix", lambda: _dpkg("postfix"), postfix),
        Recorder("dovecot-submission", "Dovecot submission", _dovecot_version, dovecot_submission),
        Recorder("mailutils", "GNU Mailutils imap4d/pop3d", lambda: _dpkg("mailutils-imap4d"), mailutils),
        Recorder("nginx", "nginx mail proxy", _nginx_version, nginx),
        Recorder("cyrus", "Cyrus IMAP", lambda: _unpacked("cyrus-imapd", cyrus_version), cyrus),
        Recorder("courier", "Courier", lambda: _unpacked("courier-imap", courier_version), courier),
        Recorder("aiosmtpd", "aiosmtpd", None, aiosmtpd),
        Recorder("twisted", "Twisted IMAP4Server", lambda: _pip_version("twisted-26.10.0", "Twisted"), twisted),
        Recorder("pymap", "pymap", lambda: _pip_version("pymap-0.36.7", "pymap"), pymap),
    )
}


# -- recording ------------------------------------------------------------------------------------------------------


def expected_verdict(port: int, plaintext_allowed: bool) -> str:
    if PORTS[port][1] == "implicit":
        return "not_applicable"
    return "accepted" if plaintext_allowed else "refused"


async def probe(running: Running, pki: Pki) -> list[EndpointResult]:
    options = ProbeOptions(  # without the injection test: the corpus keeps the login conversation (see replay.py)
        legacy_tls=False,
        ca_file=str(pki.ca_file),
        source_address="127.0.0.1",
        expect_name=SERVER_NAME,
        injection_test=False,
    )
    endpoints = [
        Endpoint(running.address, running.address, port, PORTS[port][0], PORTS[port][1], name=SERVER_NAME)  # type: ignore[arg-type]
        for port in running.ports
    ]
    with mock.patch.object(transcript_module, "MAX_LINE_CHARS", 1_000_000):
        return list(await asyncio.gather(*(probe_endpoint(e, options) for e in endpoints)))


def record(recorder: Recorder, pki: Pki) -> tuple[list[CorpusEntry], list[str]]:
    """The entries of one server in all its configurations, and the verdicts that differ from the ground truth."""
    version = recorder.version() if recorder.version else "unknown"
    entries: list[CorpusEntry] = []
    wrong: list[str] = []
    for running in recorder.configurations(pki):
        for result in asyncio.run(probe(running, pki)):
            expected = expected_verdict(result.port, running.plaintext_allowed)
            got = result.plaintext_login.verdict
            print(f"{recorder.slug} {running.config} {result.port}: {result.state}, {got} (expected {expected})")
            if result.state != "open":
                wrong.append(f"{recorder.slug} {running.config} {result.port}: {result.state} {result.error}")
                continue
            if got != expected:
                wrong.append(f"{recorder.slug} {running.config} {result.port}: {got}, expected {expected}")
            entries.append(
                CorpusEntry(
                    server=recorder.server,
                    version=running.version or version,
                    config=running.config,
                    setting=running.setting,
                    protocol=result.protocol,
                    port=result.port,
                    transport=result.transport,
                    expected_verdict=expected,
                    recorded_verdict=got,
                    transcript=result.transcript,
                )
            )
    return entries, wrong


def write(slug: str, entries: list[CorpusEntry], out: Path) -> None:
    directory = out / slug
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for entry in entries:
        (directory / f"{entry.config}-{entry.port}.txt").write_text(dump(entry), "utf-8")


def _pki(directory: Path) -> Pki:
    directory.chmod(0o755)  # the servers' own users read the certificate
    ca = make_ca("mailprobe corpus CA")
    ca_file = ca.write(directory, "ca")
    cert, key = ca.issue([SERVER_NAME]).write(directory, "leaf")
    return Pki(Path(ca_file), Path(cert), Path(key))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.corpus.record", description=__doc__.split("\n\n")[0])
    parser.add_argument("servers", nargs="*", help=f"servers to record: {', '.join(RECORDERS)} (default: all)")
    parser.add_argument("--out", type=Path, default=CORPUS, help="corpus directory (default: fixtures/corpus)")
    args = parser.parse_args(argv)
    unknown = [s for s in args.servers if s not in RECORDERS]
    if unknown:
        parser.error(f"unknown server {unknown[0]!r}; known: {', '.join(RECORDERS)}")
    wrong: list[str] = []
    with tempfile.TemporaryDirectory(prefix="mp-corpus-pki-") as files:
        pki = _pki(Path(files))
        for slug in args.servers or list(RECORDERS):
            entries, differing = record(RECORDERS[slug], pki)
            write(slug, entries, args.out)
            wrong.extend(differing)
    for line in wrong:
        print(f"DIFFERS: {line}", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
