"""The PTR name, looked up after the probe of an address target, joins the certificate name check."""

from __future__ import annotations

from dataclasses import replace

from scanner.model import CertificateInfo, EndpointResult, Finding, NameCheck
from scanner.probe.options import ProbeOptions
from scanner.probe.tls_inspect import with_ptr_name
from scanner.verdicts.certificates import certificate_findings
from tests.factories import certificate, result

CERT = certificate(
    "CN=mail.example.test",
    issuer="CN=test CA",
    sans=("mail.example.test",),
    not_before="2026-09-01T00:00:00Z",
    not_after="2027-06-01T00:00:00Z",
    days_left=180,
    key="RSA 2048",
    signature_algorithm="sha256WithRSAEncryption",
    trust_store="ca-file test.pem",
    name_match=None,  # scanned by address, and the certificate names no IP address: nothing to check yet
    names_checked=(),
    name_checks=(NameCheck("127.0.0.5", "address", "not checked", "the certificate names no IP address"),),
)


def result_with(cert: CertificateInfo) -> EndpointResult:
    row = result(993, address="127.0.0.5", cert=cert)
    assert row.tls is not None
    findings = tuple(certificate_findings(row.tls)) + (Finding("plaintext-login-accepted", "critical", "t", "d", "r"),)
    return replace(row, findings=findings)


def ids(result: EndpointResult) -> list[str]:
    return sorted(f.id for f in result.findings)


def test_matching_ptr_settles_the_name_check():
    before = result_with(CERT)
    assert "cert-name-not-checked" in ids(before) and "cert-name-mismatch" not in ids(before)
    after = with_ptr_name(before, "Mail.Example.Test.", ProbeOptions())
    assert after.ptr == "Mail.Example.Test."
    assert after.tls.certificate.name_match is True
    assert after.tls.certificate.names_checked == ("mail.example.test",)
    assert [(c.source, c.result) for c in after.tls.certificate.name_checks] == [
        ("address", "not checked"),
        ("ptr", "match"),
    ]
    assert ids(after) == ["plaintext-login-accepted"]  # only the name finding changed


def test_other_ptr_is_a_guess_and_never_a_mismatch():
    after = with_ptr_name(result_with(CERT), "host-5.example.net", ProbeOptions())
    assert after.tls.certificate.name_match is None
    assert "cert-name-mismatch" not in ids(after)
    notes = [f for f in after.findings if f.id == "cert-name-not-checked"]
    assert len(notes) == 1 and notes[0].severity == "info"
    assert "host-5.example.net (reverse DNS): mismatch" in notes[0].detail
    assert "--expect-name" in notes[0].detail


def test_ptr_does_not_overrule_a_scanned_name_mismatch():
    cert = CertificateInfo(
        **{
            **CERT.__dict__,
            "name_match": False,
            "names_checked": ("imap.example.test",),
            "name_checks": (NameCheck("imap.example.test", "target", "mismatch"),),
        }
    )
    after = with_ptr_name(result_with(cert), "other.example.net", ProbeOptions())
    assert after.tls.certificate.name_match is False
    assert [f.id for f in after.findings].count("cert-name-mismatch") == 1


def test_without_certificate_only_the_ptr_is_recorded():
    plain = EndpointResult(
        host="127.0.0.5", address="127.0.0.5", name=None, port=143, protocol="imap", transport="starttls", state="open"
    )
    assert with_ptr_name(plain, "mail.example.test", ProbeOptions()) == EndpointResult(
        **{**plain.__dict__, "ptr": "mail.example.test"}
    )


def test_names_to_check_say_where_each_name_came_from():
    from scanner.model import Endpoint
    from scanner.probe.tls_inspect import names_to_check

    by_srv = Endpoint(
        "imap.example.net",
        "127.0.0.5",
        993,
        "imap",
        "implicit",
        name="imap.example.net",
        ptr="host-5.example.net",
        srv_domain="example.org",
    )
    options = ProbeOptions(expect_name="mail.example.org")
    assert [(c.source, c.name) for c in names_to_check(by_srv, options)] == [
        ("srv", "imap.example.net"),
        ("srv", "example.org"),
        ("expect-name", "mail.example.org"),
        ("ptr", "host-5.example.net"),
    ]
    typed = Endpoint("mail.example.org", "127.0.0.5", 143, "imap", "starttls", name="mail.example.org")
    assert [(c.source, c.name) for c in names_to_check(typed, ProbeOptions())] == [("target", "mail.example.org")]
    bare = Endpoint("127.0.0.5", "127.0.0.5", 143, "imap", "starttls")
    assert names_to_check(bare, ProbeOptions()) == []  # the address itself is added by the chain analysis
