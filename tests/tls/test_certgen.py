"""scanner.certgen makes what it promises: names, chains, validity, key kinds, file modes."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from scanner.certgen import exchange_default, make_ca, self_signed


def _sans(cert: x509.Certificate) -> list[str]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(v) for v in ext.get_values_for_type(x509.DNSName)] + [
        str(v) for v in ext.get_values_for_type(x509.IPAddress)
    ]


def test_chain_with_intermediate_and_files(tmp_path: Path) -> None:
    root = make_ca("certgen root")
    sub = make_ca("certgen intermediate", parent=root)
    leaf = sub.issue(["mail.example.test"], ip_addresses=["127.0.0.2"])
    assert _sans(leaf.cert) == ["mail.example.test", "127.0.0.2"]
    chain = [x509.load_der_x509_certificate(d) for d in leaf.chain_der]
    assert [c.subject for c in chain] == [leaf.cert.subject, sub.cert.subject]
    chain[0].verify_directly_issued_by(sub.cert)
    chain[1].verify_directly_issued_by(root.cert)
    assert root.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert_path, key_path = leaf.write(tmp_path / "out", "imap")
    assert cert_path.read_bytes() == leaf.chain_pem
    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in key_path.read_bytes()
    assert root.write(tmp_path, "anchor").read_bytes() == root.cert_pem
    bare = sub.issue(["mail.example.test"], include_intermediates=False)
    assert len(bare.chain_der) == 1


def test_distinct_ca_names_have_distinct_keys() -> None:
    a, b = make_ca("certgen CA one"), make_ca("certgen CA two")
    assert a.cert.public_key().public_numbers() != b.cert.public_key().public_numbers()


def test_validity_key_kinds_and_sha1() -> None:
    ca = make_ca("certgen root")
    start = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    old = ca.issue(["a.example.test"], not_before=start, days=10)
    assert old.cert.not_valid_before_utc == start
    assert old.cert.not_valid_after_utc == start + dt.timedelta(days=10)
    ec_leaf = ca.issue(["a.example.test"], key_type="ec", key_size=384)
    assert isinstance(ec_leaf.cert.public_key(), ec.EllipticCurvePublicKey)
    assert ec_leaf.cert.public_key().curve.name == "secp384r1"
    sha1 = ca.issue(["a.example.test"], hash_name="sha1")
    assert sha1.cert.signature_algorithm_oid.dotted_string == "1.2.840.113549.1.1.5"
    pub = ca.cert.public_key()
    assert isinstance(pub, rsa.RSAPublicKey)

    pub.verify(
        sha1.cert.signature, sha1.cert.tbs_certificate_bytes, padding.PKCS1v15(), sha1.cert.signature_hash_algorithm
    )


def test_exchange_default_shape() -> None:
    issued = exchange_default("EX01.corp.example.test")
    cert = issued.cert
    assert cert.subject == cert.issuer
    assert cert.subject.rfc4514_string() == "CN=EX01"
    assert _sans(cert) == ["EX01", "EX01.corp.example.test"]
    assert (cert.not_valid_after_utc - cert.not_valid_before_utc).days == 365 * 5
    assert cert.public_key().key_size == 2048
    assert self_signed("x", ["x.example.test"]).cert.issuer.rfc4514_string() == "CN=x"
