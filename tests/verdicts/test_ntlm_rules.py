"""Where NTLM counts as offered, what a CHALLENGE becomes in the row, and the ntlm-info-disclosure finding."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import jsonschema
import pytest

from scanner.model import EndpointResult, NtlmInfo
from scanner.protocols.ntlm import decode_base64, parse_challenge
from scanner.verdicts.ntlm import ntlm_findings, ntlm_info, ntlm_offered, windows_release
from scanner.verdicts.software import DOVECOT, EXCHANGE
from tests.factories import result
from tests.protocols.test_ntlm import SAMBA_CHALLENGE, exchange_like

TODAY = dt.date(2026, 12, 6)
SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "result.schema.json").read_text())


@pytest.mark.parametrize(
    ("protocol", "capabilities", "offered"),
    [
        ("imap", ("IMAP4rev1", "LOGINDISABLED", "STARTTLS", "AUTH=NTLM", "AUTH=GSSAPI"), True),
        ("imap", ("IMAP4rev1", "auth=ntlm"), True),
        ("imap", ("IMAP4rev1", "AUTH=NTLMV2", "XNTLM"), False),
        ("pop3", ("TOP", "UIDL", "SASL NTLM GSSAPI", "STLS"), True),
        ("pop3", ("TOP", "USER", "NTLM"), False),
        ("smtp", ("SIZE 37748736", "STARTTLS", "AUTH GSSAPI NTLM"), True),
        ("smtp", ("AUTH=LOGIN NTLM",), True),
        ("smtp", ("AUTH PLAIN LOGIN", "X-NTLM"), False),
        ("pop3", (), False),
    ],
)
def test_where_ntlm_is_offered(protocol, capabilities, offered) -> None:
    assert ntlm_offered(protocol, capabilities) is offered


def test_a_real_challenge_in_the_row() -> None:
    info = ntlm_info(parse_challenge(decode_base64(SAMBA_CHALLENGE)), over_tls=False)
    assert info == NtlmInfo(
        over_tls=False,
        target_name="CORP",
        netbios_computer="EX01",
        netbios_domain="CORP",
        dns_computer="vm",
        dns_domain=None,  # sent empty
        product_version="6.1.0",
        server_time="2026-12-06T19:46:45Z",
    )


def row_with(info: NtlmInfo | None) -> EndpointResult:
    return result(143, ntlm=info)


def test_the_row_reads_back_and_fits_the_schema() -> None:
    hostile = "\x1b[2J\u202eEX01\ud800"
    info = NtlmInfo(over_tls=True, netbios_computer=hostile, problems=("target name: past the end",))
    for row in (row_with(info), row_with(NtlmInfo(over_tls=False, error="504 5.7.4 Unrecognized")), row_with(None)):
        jsonschema.validate(json.loads(row.to_json()), SCHEMA)
        assert EndpointResult.from_json(row.to_json()) == row


def exchange_info(over_tls: bool) -> NtlmInfo:
    return ntlm_info(parse_challenge(exchange_like()), over_tls=over_tls)


def test_disclosure_in_clear_is_medium_and_names_everything() -> None:
    (finding,) = ntlm_findings("imap", EXCHANGE, exchange_info(False), TODAY)
    assert (finding.id, finding.severity) == ("ntlm-info-disclosure", "medium")
    assert "in clear, before STARTTLS" in finding.detail
    for said in ("target name 'CORP'", "NetBIOS computer name 'EX01'", "DNS computer name 'EX01.corp.example.org'",
                 "DNS domain 'corp.example.org'", "DNS forest 'example.org'",
                 "Windows version 10.0.17763 (Windows Server 2019)"):  # fmt: skip
        assert said in finding.detail
    assert finding.remediation.startswith("Set-ImapSettings -EnableGSSAPIAndNTLMAuth $false")
    assert "accept it and document it" in finding.remediation


def test_disclosure_after_tls_is_low() -> None:
    (finding,) = ntlm_findings("pop3", EXCHANGE, exchange_info(True), TODAY)
    assert finding.severity == "low" and "after TLS" in finding.detail
    assert finding.remediation.startswith("Set-PopSettings -EnableGSSAPIAndNTLMAuth $false")


def test_remedies_by_protocol_and_software() -> None:
    (smtp,) = ntlm_findings("smtp", EXCHANGE, exchange_info(False), TODAY)
    assert "Set-ReceiveConnector" in smtp.remediation and "Integrated" in smtp.remediation
    (dovecot,) = ntlm_findings("imap", DOVECOT, exchange_info(False), TODAY)
    assert dovecot.remediation.startswith("Remove ntlm from auth_mechanisms")
    (unknown,) = ntlm_findings("imap", None, exchange_info(False), TODAY)
    assert "Exchange: Set-ImapSettings" in unknown.remediation and "Dovecot: Remove ntlm" in unknown.remediation


def test_an_end_of_life_build_is_said_so() -> None:
    info = NtlmInfo(over_tls=False, netbios_computer="EX2013", product_version="6.3.9600")
    (finding,) = ntlm_findings("imap", EXCHANGE, info, TODAY)
    assert "6.3.9600 (Windows Server 2012 R2, out of Microsoft's support since 2023-10-10)" in finding.detail
    assert windows_release("10.0.14393") is not None
    (supported,) = ntlm_findings("imap", EXCHANGE, NtlmInfo(False, product_version="10.0.14393"), TODAY)
    assert "(Windows Server 2016)" in supported.detail
    assert windows_release("6.1.0") is None and windows_release("x.y") is None and windows_release(None) is None


def test_no_finding_without_a_name_or_when_nothing_was_read() -> None:
    assert ntlm_findings("imap", EXCHANGE, None, TODAY) == []
    assert ntlm_findings("imap", EXCHANGE, NtlmInfo(over_tls=False, error="AUTHENTICATE refused: BAD"), TODAY) == []
    assert ntlm_findings("imap", EXCHANGE, NtlmInfo(over_tls=False, problems=("target info: ...",)), TODAY) == []
