"""analyse_chain and certificate_findings on certificates made for the test by a private CA."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from pathlib import Path

import pytest

from scanner.certgen import CA, Issued, exchange_default, make_ca, self_signed
from scanner.model import CertificateInfo, EndpointResult, TlsInfo
from scanner.tls.certificate import (
    TRUST_EXPIRED,
    TRUST_INCOMPLETE,
    TRUST_NOT_YET_VALID,
    TRUST_SELF_SIGNED,
    TRUST_UNKNOWN_ISSUER,
    TRUST_UNKNOWN_ROOT,
    TRUST_WEAK_SIGNATURE,
    analyse_chain,
    matches_name,
)
from scanner.tls.trust import TrustStore, TrustStoreError, load_trust_store
from scanner.verdicts.certificates import certificate_findings
from scanner.verdicts.software import DOVECOT, EXCHANGE

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
START = NOW - dt.timedelta(days=1)
NAME = "imap.example.test"


@pytest.fixture(scope="module")
def pki() -> tuple[CA, CA]:
    root = make_ca("mailprobe tls-test root")
    return root, make_ca("mailprobe tls-test intermediate", parent=root)


@pytest.fixture(scope="module")
def with_ca(pki: tuple[CA, CA], tmp_path_factory: pytest.TempPathFactory) -> TrustStore:
    """Only the private root, as with --ca-file and no default store."""
    return load_trust_store([pki[0].write(tmp_path_factory.mktemp("anchors"), "root")], defaults=False)


@pytest.fixture(scope="module")
def default_store() -> TrustStore:
    return load_trust_store()


def _leaf(pki: tuple[CA, CA], names: list[str] | None = None, **kwargs: object) -> Issued:
    kwargs.setdefault("not_before", START)
    return pki[1].issue([NAME] if names is None else names, **kwargs)  # type: ignore[arg-type]


def _analyse(
    issued: Issued | tuple[bytes, ...], trust: TrustStore, names: tuple[str, ...] = (NAME,), address: str | None = None
) -> CertificateInfo:
    chain = issued.chain_der if isinstance(issued, Issued) else issued
    return analyse_chain(chain, names=names, address=address, trust=trust, now=NOW)


def _ids(info: CertificateInfo, **kwargs: object) -> set[str]:
    return {f.id for f in certificate_findings(TlsInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", info), now=NOW, **kwargs)}  # type: ignore[arg-type]


def test_good_certificate_fills_every_field(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    leaf = _leaf(pki, [NAME, "mail.example.test"], ip_addresses=["127.0.0.2"], days=90)
    info = _analyse(leaf, with_ca)
    assert info.subject == f"CN={NAME}"
    assert info.issuer == "CN=mailprobe tls-test intermediate,O=mailprobe tests"
    assert info.sans == (NAME, "mail.example.test", "127.0.0.2")
    assert info.not_before == START.replace(microsecond=0)  # typed: a UTC datetime that prints as ISO 8601
    assert str(info.not_after) == (START + dt.timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert (info.key_type, info.key_bits) == ("RSA", 2048)
    assert info.days_left == 89
    assert info.sha256 == hashlib.sha256(leaf.cert_der).hexdigest()
    assert info.key == "RSA 2048"
    assert info.signature_algorithm == "sha256WithRSAEncryption"
    assert info.chain_length == 2
    assert info.chain == (
        f"CN={NAME} <- CN=mailprobe tls-test intermediate,O=mailprobe tests",
        "CN=mailprobe tls-test intermediate,O=mailprobe tests <- CN=mailprobe tls-test root,O=mailprobe tests",
    )
    assert (info.trusted, info.trust_error, info.self_signed, info.exchange_default) == (True, None, False, False)
    assert info.trust_store.startswith("ca-file ")
    assert (info.name_match, info.names_checked) == (True, (NAME,))
    assert _ids(info) == set()
    # the model round-trips what analyse_chain produced
    result = EndpointResult("h", "127.0.0.2", NAME, 993, "imap", "implicit", "open", tls=TlsInfo("TLSv1.3", "x", info))
    assert EndpointResult.from_json(result.to_json()).tls.certificate == info  # type: ignore[union-attr]


def test_private_ca_without_ca_file_is_untrusted(pki: tuple[CA, CA], default_store: TrustStore) -> None:
    info = _analyse(_leaf(pki), default_store)
    assert not info.trusted
    assert info.trust_error_kind == TRUST_UNKNOWN_ISSUER
    assert "mailprobe tls-test root" in (info.trust_error or "")
    assert info.trust_store.startswith(("system (", "Mozilla ("))
    findings = certificate_findings(TlsInfo("TLSv1.3", "x", info), now=NOW)
    assert [f.id for f in findings] == ["cert-untrusted"]
    assert findings[0].severity == "high"
    assert info.trust_store in findings[0].detail


def test_root_sent_but_unknown(pki: tuple[CA, CA], default_store: TrustStore) -> None:
    chain = _leaf(pki).chain_der + (pki[0].cert_der,)
    info = _analyse(chain, default_store)
    assert info.trust_error_kind == TRUST_UNKNOWN_ROOT
    assert info.chain_length == 3


def test_missing_intermediate_is_an_incomplete_chain(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    info = _analyse(_leaf(pki, include_intermediates=False), with_ca)
    assert not info.trusted
    assert info.trust_error_kind == TRUST_INCOMPLETE
    assert "mailprobe tls-test intermediate" in (info.trust_error or "")
    assert info.chain_length == 1
    findings = certificate_findings(TlsInfo("TLSv1.3", "x", info), now=NOW, software=DOVECOT)
    assert [f.id for f in findings] == ["cert-untrusted"]
    assert "intermediates" in findings[0].remediation and "ssl_cert" in findings[0].remediation


def test_intermediate_in_ca_file_completes_the_chain(pki: tuple[CA, CA], tmp_path: Path) -> None:
    store = load_trust_store([pki[1].write(tmp_path, "sub")], defaults=False)
    assert _analyse(_leaf(pki, include_intermediates=False), store).trusted


def test_expired(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    leaf = _leaf(pki, not_before=NOW - dt.timedelta(days=100), days=90)
    info = _analyse(leaf, with_ca)
    assert not info.trusted
    assert info.trust_error_kind == TRUST_EXPIRED
    assert info.days_left == -10
    findings = certificate_findings(TlsInfo("TLSv1.3", "x", info), now=NOW)
    assert [f.id for f in findings] == ["cert-expired"]  # not also cert-untrusted: the expiry is the reason
    assert str(info.not_after) in findings[0].detail


def test_not_yet_valid(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    info = _analyse(_leaf(pki, not_before=NOW + dt.timedelta(days=2), days=90), with_ca)
    assert info.trust_error_kind == TRUST_NOT_YET_VALID
    assert _ids(info) == {"cert-not-yet-valid"}


def test_expiring_soon(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    info = _analyse(_leaf(pki, days=20), with_ca)
    assert info.trusted and info.days_left == 19
    findings = certificate_findings(TlsInfo("TLSv1.3", "x", info), now=NOW, expiry_warn_days=30)
    assert [(f.id, f.severity) for f in findings] == [("cert-expiring-soon", "low")]
    assert "19 days" in findings[0].detail
    assert _ids(info, expiry_warn_days=10) == set()


def test_wrong_name(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    info = _analyse(_leaf(pki, ["other.example.test"]), with_ca, names=("imap.example.test", "mx.example.test"))
    assert info.trusted  # trust and names are judged separately
    assert info.name_match is False
    assert info.names_checked == ("imap.example.test", "mx.example.test")
    findings = certificate_findings(TlsInfo("TLSv1.3", "x", info), now=NOW, software=EXCHANGE)
    assert [f.id for f in findings] == ["cert-name-mismatch"]
    assert "other.example.test" in findings[0].detail and "mx.example.test" in findings[0].detail
    assert "X509CertificateName" in findings[0].remediation


@pytest.mark.parametrize(
    ("name", "expected"),
    [("imap.example.test", True), ("IMAP.Example.Test.", True), ("a.b.example.test", False), ("example.test", False)],
)
def test_wildcard(pki: tuple[CA, CA], with_ca: TrustStore, name: str, expected: bool) -> None:
    info = _analyse(_leaf(pki, ["*.example.test"]), with_ca, names=(name,))
    assert info.trusted
    assert info.name_match is expected
    assert ("cert-name-mismatch" in _ids(info)) is not expected


def test_name_rules() -> None:
    assert not matches_name("imap.example.test", ["f*.example.test"], [])  # partial-label wildcard: never
    assert not matches_name("example.test", ["*.test"], [])
    assert not matches_name("www.example.test", ["www.*.test"], [])
    assert matches_name("127.0.0.2", [], ["127.0.0.2"])
    assert not matches_name("127.0.0.2", ["127.0.0.2"], [])  # an address needs an IP SAN, not a DNS SAN
    assert matches_name("2001:db8::1", [], ["2001:db8:0::1"])


def test_ip_san_and_no_name(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    leaf = _leaf(pki, [], ip_addresses=["127.0.0.2"])
    info = _analyse(leaf, with_ca, names=(), address="127.0.0.2")
    assert info.trusted and info.name_match is True and info.names_checked == ("127.0.0.2",)
    assert _analyse(leaf, with_ca, names=(), address="127.0.0.3").name_match is False
    nothing = _analyse(leaf, with_ca, names=(), address=None)
    assert nothing.name_match is None and nothing.names_checked == ()
    assert _ids(nothing) == {"cert-name-not-checked"}  # info: says how to check, never a mismatch


def test_exchange_default_self_signed(default_store: TrustStore, tmp_path: Path) -> None:
    exch = exchange_default("EX01.corp.example.test", not_before=START)
    info = _analyse(exch, default_store, names=("ex01.corp.example.test",))
    assert info.subject == "CN=EX01" and info.issuer == "CN=EX01"
    assert (info.self_signed, info.exchange_default, info.trusted) == (True, True, False)
    assert info.trust_error_kind == TRUST_SELF_SIGNED
    assert info.name_match is True
    findings = {f.id: f for f in certificate_findings(TlsInfo("TLSv1.2", "x", info), now=NOW, software=EXCHANGE)}
    assert set(findings) == {"cert-self-signed", "cert-exchange-default"}
    assert findings["cert-exchange-default"].severity == "medium"
    assert "Enable-ExchangeCertificate" in findings["cert-exchange-default"].remediation
    # pinned with --ca-file: trusted, but still Exchange's default certificate
    cert_path, _ = exch.write(tmp_path, "ex")
    pinned = load_trust_store([cert_path], defaults=False)
    pinned_info = _analyse(exch, pinned, names=("ex01.corp.example.test",))
    assert pinned_info.trusted and pinned_info.trust_error is None
    assert _ids(pinned_info) == {"cert-exchange-default"}


def test_other_exchange_and_plain_self_signed(default_store: TrustStore) -> None:
    auth = self_signed("Microsoft Exchange Server Auth Certificate", [], not_before=START)
    info = _analyse(auth, default_store, names=(NAME,))
    assert info.exchange_default and info.self_signed
    assert _ids(info) == {"cert-self-signed", "cert-exchange-default", "cert-name-mismatch"}
    plain = _analyse(self_signed(NAME, [NAME], not_before=START, days=365), default_store)
    assert plain.self_signed and not plain.exchange_default
    assert _ids(plain) == {"cert-self-signed"}
    single_label = _analyse(self_signed("EX01", ["EX01"], not_before=START), default_store, names=())
    assert not single_label.exchange_default  # needs the FQDN SAN too


def test_weak_key(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    info = _analyse(_leaf(pki, key_size=1024), with_ca)
    assert info.key == "RSA 1024"
    assert info.trusted  # cryptography's verifier accepts RSA 1024; the finding is ours
    (finding,) = certificate_findings(TlsInfo("TLSv1.3", "x", info), now=NOW)
    assert (finding.id, finding.severity) == ("cert-weak-key", "medium")
    assert "1024" in finding.detail
    ec_info = _analyse(_leaf(pki, key_type="ec", key_size=256), with_ca)
    assert ec_info.key == "EC secp256r1" and ec_info.trusted and _ids(ec_info) == set()


def test_sha1_signature(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    info = _analyse(_leaf(pki, hash_name="sha1"), with_ca)
    assert info.signature_algorithm == "sha1WithRSAEncryption"
    assert not info.trusted  # cryptography's verifier, like modern clients, refuses SHA-1 signatures
    assert info.trust_error_kind == TRUST_WEAK_SIGNATURE
    assert _ids(info) == {"cert-weak-signature", "cert-untrusted"}


def test_long_validity(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    info = _analyse(_leaf(pki, days=825), with_ca)
    findings = certificate_findings(TlsInfo("TLSv1.3", "x", info), now=NOW)
    assert [(f.id, f.severity) for f in findings] == [("cert-long-validity", "info")]  # private CA: info only
    assert "825 days" in findings[0].detail
    public = dataclasses.replace(info, trust_store="system (/etc/ssl/certs/ca-certificates.crt)")
    assert [f.severity for f in certificate_findings(TlsInfo("TLSv1.3", "x", public), now=NOW)] == ["low"]


def test_legacy_versions_and_remediation_per_software(pki: tuple[CA, CA], with_ca: TrustStore) -> None:
    tls = TlsInfo("TLSv1.3", "x", _analyse(_leaf(pki), with_ca), ("TLSv1", "TLSv1.1"), ("SSLv3: cannot offer",))
    (finding,) = certificate_findings(tls, now=NOW)
    assert (finding.id, finding.severity) == ("tls-legacy-version", "medium")
    assert "TLSv1, TLSv1.1" in finding.detail and "SSLv3" in finding.detail
    assert "Exchange:" in finding.remediation and "ssl_min_protocol" in finding.remediation
    (dovecot,) = certificate_findings(tls, now=NOW, software=DOVECOT)
    assert dovecot.remediation.startswith("Set ssl_min_protocol")
    (exchange,) = certificate_findings(tls, now=NOW, software=EXCHANGE)
    assert "SCHANNEL" in exchange.remediation and "ssl_min_protocol" not in exchange.remediation
    assert certificate_findings(TlsInfo(None, None), now=NOW) == []


def test_bad_input(with_ca: TrustStore, tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        analyse_chain((), names=(NAME,), address=None, trust=with_ca)
    with pytest.raises(ValueError):
        analyse_chain((b"not a certificate",), names=(NAME,), address=None, trust=with_ca)
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    with pytest.raises(TrustStoreError):
        load_trust_store([empty])
    with pytest.raises(TrustStoreError):
        load_trust_store([tmp_path / "missing.pem"])
