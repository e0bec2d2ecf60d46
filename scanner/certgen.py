"""Certificates made at run time, for tests and for the bundled demo servers.

Nothing here is meant for production use: keys are cached in memory and reused to keep tests fast.

    ca = make_ca()                                   # root CA
    sub = make_ca("mailprobe intermediate", parent=ca)
    leaf = sub.issue(["mail.example.test"], ip_addresses=["127.0.0.2"])
    cert_path, key_path = leaf.write(tmp_path, "imap")  # cert file holds leaf + intermediates
    ca_path = ca.write(tmp_path, "ca")                  # the anchor alone, for --ca-file
    exch = exchange_default("EX01.corp.example.test")   # like Exchange's own self-signed certificate

Keys: ``key_type`` "rsa" (``key_size`` bits) or "ec" (``key_size`` 256, 384 or 521 picks the curve).
``reuse_key=True`` (the default) takes the key from a module-level cache by (type, size, role): all leaves share
one key, each CA common name has its own, self-signed certificates share another. Pass ``reuse_key=False``
for a fresh key, or ``key=`` for a key of your own.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

KeyType = Literal["rsa", "ec"]
HashName = Literal["sha256", "sha384", "sha512", "sha1"]
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

_CURVES: dict[int, type[ec.EllipticCurve]] = {256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1}
# Hashes cryptography signs certificates with; SHA-1 is signed by hand in _sign.
_HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}
_KEY_CACHE: dict[tuple[str, int, str], PrivateKey] = {}


def new_key(key_type: KeyType = "rsa", key_size: int = 2048) -> PrivateKey:
    """A fresh private key. EC sizes: 256, 384, 521."""
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    if key_type == "ec":
        if key_size not in _CURVES:
            raise ValueError(f"EC key_size must be one of {sorted(_CURVES)}, not {key_size}")
        return ec.generate_private_key(_CURVES[key_size]())
    raise ValueError(f"unknown key_type {key_type!r}")


def cached_key(key_type: KeyType = "rsa", key_size: int = 2048, slot: str = "") -> PrivateKey:
    """A key from the module cache, made on first use. ``slot`` names distinct keys of the same kind."""
    cache_key = (key_type, key_size, slot)
    if cache_key not in _KEY_CACHE:
        _KEY_CACHE[cache_key] = new_key(key_type, key_size)
    return _KEY_CACHE[cache_key]


@dataclass(frozen=True)
class Issued:
    """A certificate with its key. ``chain_pem`` is the leaf followed by the intermediates (never the root)."""

    cert_pem: bytes
    key_pem: bytes
    chain_pem: bytes

    @property
    def cert(self) -> x509.Certificate:
        return x509.load_pem_x509_certificate(self.cert_pem)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        """The chain as a server presents it: leaf first, as DER."""
        return tuple(
            c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(self.chain_pem)
        )

    def write(self, directory: str | os.PathLike[str], stem: str) -> tuple[Path, Path]:
        """Write ``<stem>.crt`` (the chain) and ``<stem>.key`` (mode 0600); return their paths."""
        base = Path(directory)
        base.mkdir(parents=True, exist_ok=True)
        cert_path, key_path = base / f"{stem}.crt", base / f"{stem}.key"
        cert_path.write_bytes(self.chain_pem)
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(self.key_pem)
        os.chmod(key_path, 0o600)  # also when the file existed with wider rights
        return cert_path, key_path


@dataclass(frozen=True)
class CA:
    """A root or intermediate CA. ``intermediates`` is this CA's path below the root, nearest first."""

    cert: x509.Certificate
    key: PrivateKey
    intermediates: tuple[x509.Certificate, ...] = field(default=())

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def cert_der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)

    def write(self, directory: str | os.PathLike[str], stem: str = "ca") -> Path:
        """Write this CA's certificate alone as ``<stem>.pem`` (a trust anchor file for --ca-file)."""
        path = Path(directory) / f"{stem}.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.cert_pem)
        return path

    def issue(
        self,
        dns_names: Sequence[str],
        *,
        ip_addresses: Iterable[str] = (),
        common_name: str | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        days: int = 90,
        key_type: KeyType = "rsa",
        key_size: int = 2048,
        hash_name: HashName = "sha256",
        key: PrivateKey | None = None,
        reuse_key: bool = True,
        include_intermediates: bool = True,
        key_ids: bool = True,
    ) -> Issued:
        """A server (leaf) certificate for ``dns_names``/``ip_addresses``.

        CN defaults to the first DNS name (or address). Validity: ``not_before`` (default: one hour ago) to
        ``not_after`` (default: not_before + ``days``). ``include_intermediates=False`` leaves the intermediates
        out of ``chain_pem`` (a server that forgets to send them). ``key_ids=False`` leaves out the Subject and
        Authority Key Identifiers, as many internal CAs do (clients accept it; the CA/Browser profile does not).
        """
        leaf_key = key or (cached_key(key_type, key_size, slot="leaf") if reuse_key else new_key(key_type, key_size))
        ips = [ipaddress.ip_address(a) for a in ip_addresses]
        cn = common_name or (dns_names[0] if dns_names else (str(ips[0]) if ips else "mailprobe test server"))
        start, end = _validity(not_before, not_after, days)
        builder = (
            _base(_name(cn), self.cert.subject, leaf_key, start, end, key_ids=key_ids)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_leaf_usage(leaf_key), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        if key_ids:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key())
            builder = builder.add_extension(aki, critical=False)
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        sans += [x509.IPAddress(a) for a in ips]
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = _sign(builder, self.key, hash_name)
        chain = [cert, *(self.intermediates if include_intermediates else ())]
        return _issued(cert, leaf_key, chain)


def make_ca(
    common_name: str = "mailprobe test CA",
    *,
    parent: CA | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 3650,
    key_type: KeyType = "rsa",
    key_size: int = 2048,
    hash_name: HashName = "sha256",
    key: PrivateKey | None = None,
    reuse_key: bool = True,
    path_length: int | None = None,
    key_ids: bool = True,
) -> CA:
    """A root CA (``parent=None``) or an intermediate signed by ``parent``. ``key_ids=False``: no Subject and
    Authority Key Identifiers (see ``CA.issue``).

    Cached keys are per common name: CAs with different names have different keys (so an "unknown" CA made
    with another name really is unknown), and the same name gives the same key.
    """
    slot = f"ca:{common_name}"
    ca_key = key or (cached_key(key_type, key_size, slot=slot) if reuse_key else new_key(key_type, key_size))
    subject = _name(common_name, organization="mailprobe tests")
    start, end = _validity(not_before, not_after, days)
    issuer_name = subject if parent is None else parent.cert.subject
    signer = ca_key if parent is None else parent.key
    builder = (
        _base(subject, issuer_name, ca_key, start, end, key_ids=key_ids)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if key_ids:
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key())
        builder = builder.add_extension(aki, critical=False)
    cert = _sign(builder, signer, hash_name)
    intermediates = () if parent is None else (cert, *parent.intermediates)
    return CA(cert=cert, key=ca_key, intermediates=intermediates)


def self_signed(
    common_name: str,
    dns_names: Sequence[str],
    *,
    ip_addresses: Iterable[str] = (),
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    days: int = 365 * 5,
    key_type: KeyType = "rsa",
    key_size: int = 2048,
    hash_name: HashName = "sha256",
    key: PrivateKey | None = None,
    reuse_key: bool = True,
) -> Issued:
    """A self-signed server certificate: subject = issuer = CN=``common_name``."""
    own_key = key or (cached_key(key_type, key_size, slot="self-signed") if reuse_key else new_key(key_type, key_size))
    subject = _name(common_name)
    start, end = _validity(not_before, not_after, days)
    builder = (
        _base(subject, subject, own_key, start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(own_key), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    )
    sans: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
    sans += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = _sign(builder, own_key, hash_name)
    return _issued(cert, own_key, [cert])


def exchange_default(server_fqdn: str, **kwargs: object) -> Issued:
    """Like the certificate Exchange makes at setup: CN=<short name>, SANs short name + FQDN, RSA 2048, 5 years."""
    short = server_fqdn.split(".", 1)[0]
    return self_signed(short, [short, server_fqdn], **kwargs)  # type: ignore[arg-type]


# --- helpers -------------------------------------------------------------------------------------------------


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _hash(name: str) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512:
    try:
        return _HASHES[name]()
    except KeyError:
        raise ValueError(f"unknown hash_name {name!r}") from None


# DER AlgorithmIdentifiers (OID + NULL parameters): same length, so one can replace the other in place.
_RSA_SHA256_ALG = bytes.fromhex("300d06092a864886f70d01010b0500")
_RSA_SHA1_ALG = bytes.fromhex("300d06092a864886f70d0101050500")


def _sign(builder: x509.CertificateBuilder, signer: PrivateKey, hash_name: str) -> x509.Certificate:
    """Sign; SHA-1 by hand because cryptography refuses to make SHA-1 certificates (it still verifies them).

    The certificate is signed with SHA-256, then its two AlgorithmIdentifiers are swapped for sha1WithRSAEncryption
    (same DER length) and the TBS part is signed again with SHA-1. RSA signers only.
    """
    if hash_name != "sha1":
        return builder.sign(signer, _hash(hash_name))
    if not isinstance(signer, rsa.RSAPrivateKey):
        raise ValueError("SHA-1 certificates: RSA signers only")
    draft = builder.sign(signer, hashes.SHA256())
    der = draft.public_bytes(serialization.Encoding.DER)
    tbs = draft.tbs_certificate_bytes
    if tbs.count(_RSA_SHA256_ALG) != 1:
        raise ValueError("unexpected TBS layout")
    new_tbs = tbs.replace(_RSA_SHA256_ALG, _RSA_SHA1_ALG)
    signature = signer.sign(new_tbs, padding.PKCS1v15(), hashes.SHA1())
    der = der.replace(tbs, new_tbs).replace(_RSA_SHA256_ALG, _RSA_SHA1_ALG).replace(draft.signature, signature)
    return x509.load_der_x509_certificate(der)


def tampered(der: bytes, signer: PrivateKey, edit: Callable[[bytes], bytes]) -> bytes:
    """A certificate (DER) whose TBS part went through ``edit`` and was signed again by ``signer`` (RSA, SHA-256):
    what a hostile or broken server could send that no certificate builder would make (an out-of-range version, a
    negative serial, an unknown key algorithm). ``edit`` must keep the TBS length."""
    if not isinstance(signer, rsa.RSAPrivateKey):
        raise ValueError("tampered certificates: RSA signers only")
    tbs = _tbs_of(der)
    new_tbs = edit(tbs)
    if len(new_tbs) != len(tbs):
        raise ValueError("the edit must keep the TBS length")
    old_signature = der[-256:]  # RSA 2048: the BIT STRING ends the certificate
    signature = signer.sign(new_tbs, padding.PKCS1v15(), hashes.SHA256())
    return der.replace(tbs, new_tbs).replace(old_signature, signature)


def _tbs_of(der: bytes) -> bytes:
    """The TBSCertificate element (header included) of a DER certificate."""
    body = _der_body_start(der, 0)
    start = body
    end = _der_body_start(der, start) + _der_length(der, start)
    return der[start:end]


def _der_body_start(der: bytes, at: int) -> int:
    first = der[at + 1]
    return at + 2 + (first & 0x7F if first & 0x80 else 0)


def _der_length(der: bytes, at: int) -> int:
    first = der[at + 1]
    if not first & 0x80:
        return first
    return int.from_bytes(der[at + 2 : at + 2 + (first & 0x7F)], "big")


def _validity(
    not_before: dt.datetime | None, not_after: dt.datetime | None, days: int
) -> tuple[dt.datetime, dt.datetime]:
    start = not_before or (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    end = not_after or (start + dt.timedelta(days=days))
    return start, end


def _base(
    subject: x509.Name,
    issuer: x509.Name,
    key: PrivateKey,
    start: dt.datetime,
    end: dt.datetime,
    *,
    key_ids: bool = True,
) -> x509.CertificateBuilder:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if key_ids:
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    return builder


def _leaf_usage(key: PrivateKey) -> x509.KeyUsage:
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=is_rsa,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _issued(cert: x509.Certificate, key: PrivateKey, chain: Sequence[x509.Certificate]) -> Issued:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    return Issued(cert_pem=cert.public_bytes(serialization.Encoding.PEM), key_pem=key_pem, chain_pem=chain_pem)
