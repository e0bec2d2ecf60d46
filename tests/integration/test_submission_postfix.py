"""SMTP submission against real Postfix (Dovecot SASL) in the set-ups admins run, scanned as a user would:
``mailprobe scan -p client``. Postfix listens on 587/465 of the same 127.0.0.x address where a private Dovecot
serves 110/143/993/995, so one scan sees a whole mail host. Nothing may ever send a message."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scanner import certgen
from tests.dovecot import _release_address, allocate_address, start_instance
from tests.postfix import (
    SASL_CONFIG,
    SUBMISSION,
    SUBMISSIONS,
    PostfixInstance,
    dovecot_submission_config,
    dovecot_submission_packaged,
    require_postfix,
)

pytestmark = pytest.mark.dovecot
ROOT = Path(__file__).resolve().parents[2]


def scan_client_ports(address: str) -> dict[int, dict]:
    done = subprocess.run(
        [sys.executable, "-m", "scanner", "scan", address, "-p", "client", "--source-address", "127.0.0.1",
         "--format", "json", "--no-legacy-tls", "--no-tui"],
        capture_output=True, text=True, timeout=240, cwd=ROOT, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return {row["port"]: row for row in json.loads(done.stdout)["results"]}


def scanned(setup: str, tmp_path_factory, *, own_certificate: bool = False) -> Iterator[tuple[dict, str]]:
    require_postfix()
    dovecot = start_instance("plaintext_allowed", extra_config=SASL_CONFIG)
    try:
        cert = key = None
        if own_certificate:  # a different certificate on submission than on 993, as when a connector keeps its own
            directory = tmp_path_factory.mktemp("submission-cert")
            cert, key = certgen.self_signed("smtp.mailprobe.test", ["smtp.mailprobe.test"], days=2).write(
                directory, "smtp"
            )
        with PostfixInstance(setup, dovecot=dovecot, cert_path=cert, key_path=key) as postfix:
            rows = scan_client_ports(dovecot.address)
            log = postfix.read_log()
        yield rows, log
    finally:
        dovecot.close()


@pytest.fixture(scope="module")
def auth_after_tls(tmp_path_factory):
    yield from scanned("auth_after_tls", tmp_path_factory, own_certificate=True)


@pytest.fixture(scope="module")
def auth_in_clear(tmp_path_factory):
    yield from scanned("auth_in_clear", tmp_path_factory)


@pytest.fixture(scope="module")
def no_tls(tmp_path_factory):
    yield from scanned("no_tls", tmp_path_factory)


@pytest.fixture(scope="module")
def tls_required(tmp_path_factory):
    yield from scanned("tls_required", tmp_path_factory)


def ids(row: dict) -> set[str]:
    return {f["id"] for f in row["findings"]}


def never_sent_mail(rows: dict[int, dict], log: str) -> None:
    for port in (465, 587):
        said = [line["text"].upper() for line in rows[port]["transcript"] if line["direction"] == "C"]
        assert not [s for s in said if s.startswith(("MAIL", "RCPT", "DATA", "BDAT"))], said
    assert "from=<" not in log and "queued" not in log  # Postfix logs every message it takes in


def test_auth_only_after_tls_is_refused_with_postfixs_words(auth_after_tls):
    rows, log = auth_after_tls
    row = rows[587]
    assert (row["protocol"], row["transport"], row["state"], row["starttls"]) == ("smtp", "starttls", "open", "ok")
    assert row["plaintext_login"]["verdict"] == "refused", row["plaintext_login"]
    evidence = " ".join(row["plaintext_login"]["evidence"])
    assert "503 5.5.1" in evidence and "authentication not enabled" in evidence
    assert "535 5.7.8" in evidence  # the same dummy AUTH over TLS got the credential check: the differential
    assert not any(c.upper().startswith("AUTH") for c in row["capabilities"]["before_tls"])
    assert any(c.upper().startswith("AUTH") for c in row["capabilities"]["after_tls"])
    assert not ids(row) & {"submission-auth-accepted-in-clear", "submission-auth-before-starttls"}
    assert row["software"] == "Postfix"
    assert row["starttls_injection"]["verdict"] == "not_vulnerable", row["starttls_injection"]
    assert "starttls-command-injection" not in ids(row)
    never_sent_mail(rows, log)


def test_a_submission_certificate_differing_from_993s_is_reported(auth_after_tls, tls_required):
    rows, _ = auth_after_tls
    assert rows[993]["tls"]["certificate"]["sha256"] != rows[587]["tls"]["certificate"]["sha256"]
    for port in (587, 465):
        found = {f["id"]: f for f in rows[port]["findings"]}
        assert "submission-cert-mismatch" in found, found
        assert "smtp.mailprobe.test" in found["submission-cert-mismatch"]["detail"]
        assert "smtpd_tls_chain_files" in found["submission-cert-mismatch"]["remediation"]
    assert not any("submission-cert-mismatch" in ids(row) for row in rows.values() if row["protocol"] != "smtp")
    same, _ = tls_required  # Postfix there serves Dovecot's own certificate: nothing to report
    assert not any("submission-cert-mismatch" in ids(row) for row in same.values())


def test_implicit_tls_on_465(auth_after_tls):
    row = auth_after_tls[0][465]
    assert (row["protocol"], row["transport"], row["state"]) == ("smtp", "implicit", "open")
    assert row["plaintext_login"]["verdict"] == "not_applicable"
    assert row["tls"]["version"] and row["tls"]["certificate"]["subject"]
    assert any(c.upper().startswith("AUTH") for c in row["capabilities"]["after_tls"])


def test_auth_in_clear_is_accepted_with_the_evidence(auth_in_clear):
    rows, log = auth_in_clear
    row = rows[587]
    assert row["plaintext_login"]["verdict"] == "accepted", row["plaintext_login"]
    assert any("in clear" in e and "535 5.7.8" in e for e in row["plaintext_login"]["evidence"])
    found = {f["id"]: f for f in row["findings"]}
    assert found["submission-auth-accepted-in-clear"]["severity"] == "critical"
    assert "smtpd_tls_auth_only = yes" in found["submission-auth-accepted-in-clear"]["remediation"]
    assert "submission-auth-before-starttls" in found
    # the answer in clear decided: the dummy AUTH is not repeated over TLS
    assert sum(1 for line in row["transcript"] if line["direction"] == "C" and line["text"].startswith("AUTH")) == 1
    never_sent_mail(rows, log)


def test_no_tls_at_all(no_tls):
    rows, log = no_tls
    row = rows[587]
    assert row["starttls"] == "not_offered"
    assert "submission-starttls-missing" in ids(row)
    assert row["plaintext_login"]["verdict"] == "accepted"
    assert rows[465]["state"] == "closed"
    assert "submission-465-missing" in ids(row)
    never_sent_mail(rows, log)


def test_tls_required_with_a_self_signed_certificate(tls_required):
    rows, log = tls_required
    row = rows[587]
    assert row["plaintext_login"]["verdict"] == "refused", row["plaintext_login"]
    assert any("530 5.7.0" in e for e in row["plaintext_login"]["evidence"])
    assert row["starttls"] == "ok"
    assert row["tls"]["certificate"]["self_signed"] is True
    assert any(i.startswith("cert-") for i in ids(row))  # judged exactly as on 993
    self_signed = next(f for f in row["findings"] if f["id"] == "cert-self-signed")
    assert "On this submission port: smtpd_tls_chain_files" in self_signed["remediation"]  # where to act on Postfix
    assert ids(rows[465]) & {i for i in ids(row) if i.startswith("cert-")}
    never_sent_mail(rows, log)


@pytest.mark.parametrize(("setup", "verdict"), [("plaintext_refused", "refused"), ("plaintext_allowed", "accepted")])
def test_dovecot_submission_service(setup, verdict):
    if not dovecot_submission_packaged():
        pytest.skip("dovecot-submissiond is not installed")
    address = allocate_address()
    dovecot = start_instance(
        setup,
        address=address,
        extra_config=dovecot_submission_config(address),
        extra_ports=(SUBMISSION, SUBMISSIONS),  # start() returns once these listen too, or fails saying so
    )
    try:
        rows = scan_client_ports(address)
    finally:
        dovecot.close()
        _release_address(address)
    row = rows[587]
    assert row["software"] == "Dovecot" and row["starttls"] == "ok"
    assert row["plaintext_login"]["verdict"] == verdict, row["plaintext_login"]
    evidence = " ".join(row["plaintext_login"]["evidence"])
    if verdict == "refused":
        assert "523 5.7.10" in evidence and "Plaintext authentication disabled." in evidence
        assert "submission-auth-before-starttls" not in ids(row)
    else:
        assert "535 5.7.8" in evidence
        found = {f["id"]: f for f in row["findings"]}
        assert "auth_allow_cleartext" in found["submission-auth-accepted-in-clear"]["remediation"]
    assert rows[465]["state"] == "open" and rows[465]["plaintext_login"]["verdict"] == "not_applicable"
    assert row["starttls_injection"]["verdict"] == "not_vulnerable", row["starttls_injection"]
    assert "starttls-command-injection" not in ids(row)
    for port in (465, 587):
        said = [line["text"].upper() for line in rows[port]["transcript"] if line["direction"] == "C"]
        assert not [s for s in said if s.startswith(("MAIL", "RCPT", "DATA", "BDAT"))]
