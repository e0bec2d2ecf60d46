"""Certificates a hostile or broken server can send, made at run time: each is judged on what can be read, with a
finding saying what could not be checked, and never erases the row (issue 12, containment).

Also the organisation-CA chains OpenSSL accepts although the strict profile does not (issue 13): trusted, with the
deviation as a separate low finding in plain words.
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scanner.certgen import CA, make_ca, tampered
from scanner.model import CertificateInfo, Endpoint, TlsInfo
from scanner.probe.options import ProbeOptions
from scanner.probe.tls_inspect import inspect_tls
from scanner.tls.certificate import analyse_chain
from scanner.tls.channel import HandshakeInfo
from scanner.tls.names import NameCandidate
from scanner.tls.trust import TrustStore, load_trust_store
from scanner.verdicts.certificates import certificate_findings

NAME = "mail.example.test"
_RSA_OID = bytes.fromhex("06092a864886f70d010101")  # rsaEncryption
_UNKNOWN_OID = bytes.fromhex("06092a864886f70d010163")  # 1.2.840.113549.1.1.99: nobody's key algorithm
_V3 = bytes.fromhex("a003020102")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[CA, CA, TrustStore]:
    root = make_ca("hostile-test root")
    issuing = make_ca("hostile-test issuing", parent=root)
    directory: Path = tmp_path_factory.mktemp("anchors")
    return root, issuing, load_trust_store([root.write(directory, "root")], defaults=False)


def analyse(chain: tuple[bytes, ...], trust: TrustStore, names: tuple[str, ...] = (NAME,)) -> CertificateInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no library warning may reach the user's stderr
        return analyse_chain(chain, names=[NameCandidate("target", n) for n in names], address=None, trust=trust)


def ids(info: CertificateInfo) -> dict[str, str]:
    return {f.id: f.severity for f in certificate_findings(TlsInfo("TLSv1.3", "x", info))}


def no_oid(text: str) -> bool:
    return not re.search(r"\b\d+(\.\d+){3,}\b", text)


def test_version_field_out_of_range_is_read_and_refused(pki: tuple[CA, CA, TrustStore]) -> None:
    _, issuing, trust = pki
    chain = issuing.issue([NAME]).chain_der
    leaf = tampered(chain[0], issuing.key, lambda tbs: tbs.replace(_V3, bytes.fromhex("a003020105"), 1))
    info = analyse((leaf, *chain[1:]), trust)
    assert (info.subject, info.sans, info.name_match) == (f"CN={NAME}", (NAME,), True)  # read past the version
    assert not info.trusted and "version field says 6" in (info.trust_error or "")
    assert ids(info)["cert-untrusted"] == "high"


def test_negative_serial_is_a_deviation_not_a_crash(pki: tuple[CA, CA, TrustStore]) -> None:
    _, issuing, trust = pki
    chain = issuing.issue([NAME]).chain_der

    def negative(tbs: bytes) -> bytes:
        at = tbs.index(_V3) + len(_V3)
        assert tbs[at] == 0x02  # the serial INTEGER follows the version
        # its first byte becomes 0x80: negative, and still minimal DER whatever follows (setting the high bit alone
        # made 0xFF of a 0x7F, which with a next byte of 0x80 or more is not DER: 3 serials in 400 failed to parse)
        return tbs[: at + 2] + b"\x80" + tbs[at + 3 :]

    info = analyse((tampered(chain[0], issuing.key, negative), *chain[1:]), trust)
    assert info.trusted, info.trust_error  # OpenSSL-based clients accept it
    assert any("serial number" in d for d in info.profile_deviations)
    assert ids(info) == {"cert-profile-deviation": "low"}


def test_intermediate_with_unknown_key_type_is_untrusted_with_words(pki: tuple[CA, CA, TrustStore]) -> None:
    root, issuing, trust = pki
    chain = issuing.issue([NAME]).chain_der
    odd = tampered(chain[1], root.key, lambda tbs: tbs.replace(_RSA_OID, _UNKNOWN_OID, 1))
    info = analyse((chain[0], odd), trust)
    assert info.subject == f"CN={NAME}" and info.name_match is True and info.key_type == "RSA"
    assert not info.trusted
    assert "key is of a type that cannot be read" in (info.trust_error or "")
    assert no_oid(info.trust_error or "")
    assert ids(info)["cert-untrusted"] == "high"


def test_first_san_not_a_host_name(pki: tuple[CA, CA, TrustStore]) -> None:
    _, issuing, trust = pki
    info = analyse(issuing.issue(["mail_1.corp", NAME]).chain_der, trust)
    assert info.sans == ("mail_1.corp", NAME) and info.name_match is True
    assert info.trusted, info.trust_error
    assert any("mail_1.corp" in d for d in info.profile_deviations)
    only_bad = analyse(issuing.issue(["mail_1.corp"]).chain_der, trust, names=("mail_1.corp",))
    assert only_bad.sans == ("mail_1.corp",)  # judged on what can be read, never dropped


def test_ip_only_san_list(pki: tuple[CA, CA, TrustStore]) -> None:
    _, issuing, trust = pki
    chain = issuing.issue([], ip_addresses=["127.0.0.9"]).chain_der
    info = analyse_chain(chain, names=[], address="127.0.0.9", trust=trust)
    assert info.trusted and info.name_match is True and info.sans == ("127.0.0.9",)
    assert [(c.source, c.result) for c in info.name_checks] == [("address", "match")]
    other = analyse_chain(chain, names=[], address="127.0.0.10", trust=trust)
    assert other.name_match is False  # a certificate for addresses, reached by another one


def test_garbled_extra_certificate_is_said(pki: tuple[CA, CA, TrustStore]) -> None:
    _, issuing, trust = pki
    chain = issuing.issue([NAME]).chain_der
    info = analyse((chain[0], b"\x30\x03\x02\x01\x00", chain[1]), trust)
    assert info.trusted  # the real intermediate is still there
    assert any("certificate 2 of the chain was left out" in u for u in info.unchecked)
    assert ids(info) == {"cert-not-fully-checked": "low"}


def test_name_attribute_longer_than_its_bound_is_read_quietly(pki: tuple[CA, CA, TrustStore]) -> None:
    # RFC 5280 bounds a CN to 64 characters; cryptography reads longer ones with a UserWarning (at the first read
    # of the subject), which must not reach the user's stderr. A hostile server chooses the length.
    key = ec.generate_private_key(ec.SECP256R1())
    long_cn = "mail." + "x" * 80 + ".example.test"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # making it warns too
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, long_cn, _validate=False)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(7).not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    info = analyse((cert.public_bytes(serialization.Encoding.DER),), pki[2])
    assert info.subject == f"CN={long_cn}" and info.self_signed and not info.trusted


async def test_unparsable_leaf_keeps_the_row_and_says_so() -> None:
    endpoint = Endpoint("127.0.0.9", "127.0.0.9", 993, "imap", "implicit")
    handshake = HandshakeInfo(
        version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", chain_der=(b"not a certificate",), server_name=None
    )
    info, findings = await inspect_tls(endpoint, ProbeOptions(legacy_tls=False), handshake, software=None, opener=None)
    assert info.version == "TLSv1.3" and info.certificate is None
    assert [(f.id, f.severity) for f in findings] == [("cert-unreadable", "high")]


def test_org_ca_without_key_identifiers_is_trusted_with_a_low_deviation(tmp_path: Path) -> None:
    root = make_ca("Corp Root without key ids", key_ids=False)
    issuing = make_ca("Corp Issuing without key ids", parent=root, key_ids=False)
    trust = load_trust_store([root.write(tmp_path, "corp")])  # the system and Mozilla stores too, as in a scan
    info = analyse(issuing.issue([NAME], key_ids=False).chain_der, trust)
    assert info.trusted, info.trust_error
    assert info.trust_store == f"ca-file {tmp_path / 'corp.pem'}"  # which store vouched for it
    assert "'mail.example.test' has no Authority Key Identifier (which key signed it)" in info.profile_deviations
    assert all(no_oid(d) for d in info.profile_deviations)
    assert ids(info) == {"cert-profile-deviation": "low"}


def test_chain_openssl_refuses_stays_untrusted(tmp_path: Path) -> None:
    root = make_ca("Corp Root expired", key_ids=False, not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC), days=30)
    issuing = make_ca("Corp Issuing under expired root", parent=root, key_ids=False)
    trust = load_trust_store([root.write(tmp_path, "old")], defaults=False)
    info = analyse(issuing.issue([NAME], key_ids=False).chain_der, trust)
    assert not info.trusted and info.trust_error_kind == "chain certificate outside its validity"
    assert "Corp Root expired" in (info.trust_error or "")
