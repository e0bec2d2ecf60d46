"""Judge the chain a server presented: trust, names, self-signed and Exchange defaults, dates, key, signature.

    info = analyse_chain(handshake.chain_der, names=["mail.example.com"], address=None, trust=load_trust_store())

Trust is checked with cryptography's verifier (the WebPKI rules browsers and modern mail clients apply) against the
certificate's own first subjectAltName, so that trust and name matching are judged separately. When verification
fails, ``trust_error`` is "<kind>: <detail>", kind one of the ``TRUST_*`` constants, found by walking the presented
chain ourselves: the verifier's own messages are not meant for users.

Name rules for mail (RFC 6125, RFC 7817): only subjectAltName entries count (no CN fallback); a wildcard only as
the whole left-most label and matching exactly one label; IP address targets match IP address SANs.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID
from cryptography.x509.verification import DNSName, IPAddress, PolicyBuilder, VerificationError

from scanner.model import CertificateInfo
from scanner.tls.trust import TrustStore

TRUST_SELF_SIGNED = "self-signed"
TRUST_UNKNOWN_ROOT = "unknown root"
TRUST_INCOMPLETE = "incomplete chain or unknown issuer"
TRUST_UNKNOWN_ISSUER = "unknown issuer"
TRUST_EXPIRED = "expired"
TRUST_NOT_YET_VALID = "not yet valid"
TRUST_CHAIN_DATES = "chain certificate outside its validity"
TRUST_WEAK_SIGNATURE = "weak signature"
TRUST_NO_SAN = "no subjectAltName"
TRUST_REJECTED = "rejected"

# Subjects of the self-signed certificates Exchange makes for itself (besides CN=<server short name>).
EXCHANGE_SELF_SIGNED_PREFIXES = ("microsoft exchange server auth certificate", "wmsvc-", "microsoft exchange")

_MAX_PATH = 10


def analyse_chain(
    chain_der: Sequence[bytes],
    *,
    names: Sequence[str],
    address: str | None,
    trust: TrustStore,
    now: dt.datetime | None = None,
) -> CertificateInfo:
    """The leaf certificate judged in the context of the presented chain.

    ``names``: host names a client may use, in priority order (user's name or --expect-name, the name the target
    resolved from, PTR). ``address``: pass the IP only when the user targeted an address, so that IP SANs count.
    ``name_match`` is True when any of them matches, None when there is nothing to check.
    Raises ValueError when the chain is empty or the leaf cannot be parsed.
    """
    if not chain_der:
        raise ValueError("no certificate presented")
    now = now or dt.datetime.now(dt.UTC)
    leaf = x509.load_der_x509_certificate(chain_der[0])
    certs = [leaf, *_parse_rest(chain_der[1:])]
    dns_sans, ip_sans = _sans(leaf)
    self_signed = is_self_signed(leaf)
    checked = _names_to_check(names, address)
    trusted, trust_error = _judge_trust(certs, trust, now, dns_sans, ip_sans)
    return CertificateInfo(
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        sans=tuple(dns_sans) + tuple(ip_sans),
        not_before=_iso(leaf.not_valid_before_utc),
        not_after=_iso(leaf.not_valid_after_utc),
        days_left=int((leaf.not_valid_after_utc - now).total_seconds() // 86400),
        sha256=leaf.fingerprint(hashes.SHA256()).hex(),
        key=describe_key(leaf),
        signature_algorithm=signature_name(leaf),
        chain_length=len(chain_der),
        trusted=trusted,
        trust_store=trust.name,
        trust_error=trust_error,
        self_signed=self_signed,
        exchange_default=self_signed and is_exchange_self_signed(leaf, dns_sans),
        name_match=any(matches_name(n, dns_sans, ip_sans) for n in checked) if checked else None,
        names_checked=tuple(checked),
        chain=tuple(f"{c.subject.rfc4514_string()} <- {c.issuer.rfc4514_string()}" for c in certs),
    )


def trust_error_kind(trust_error: str | None) -> str | None:
    """The ``TRUST_*`` kind of a ``trust_error`` text."""
    return trust_error.split(":", 1)[0] if trust_error else None


# --- names ---------------------------------------------------------------------------------------------------


def matches_name(name: str, dns_sans: Sequence[str], ip_sans: Sequence[str]) -> bool:
    """RFC 6125 matching of one reference name (host name or IP literal) against the SANs."""
    ip = _as_ip(name)
    if ip is not None:
        return any(_as_ip(s) == ip for s in ip_sans)
    wanted = _normal_dns(name)
    return bool(wanted) and any(_dns_match(wanted, _normal_dns(pattern)) for pattern in dns_sans)


def _dns_match(name: str, pattern: str) -> bool:
    if not pattern.startswith("*."):
        return "*" not in pattern and name == pattern
    suffix = pattern[2:]
    if "*" in suffix or "." not in suffix:  # "*.com" and nested wildcards never match
        return False
    head, dot, rest = name.partition(".")
    return bool(head and dot) and rest == suffix


def _normal_dns(name: str) -> str:
    name = name.strip().rstrip(".").lower()
    try:
        return name.encode("idna").decode("ascii")
    except UnicodeError:
        return name


def _as_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


def _names_to_check(names: Sequence[str], address: str | None) -> list[str]:
    checked: list[str] = []
    for raw in [*names, *([address] if address else [])]:
        name = raw.strip().rstrip(".").lower() if raw else ""
        if name and name not in checked:
            checked.append(name)
    return checked


def _sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (x509.ExtensionNotFound, ValueError):
        return [], []
    return list(ext.get_values_for_type(x509.DNSName)), [str(a) for a in ext.get_values_for_type(x509.IPAddress)]


# --- self-signed and Exchange --------------------------------------------------------------------------------


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s name is ``cert``'s issuer and its key verifies ``cert``'s signature (SHA-1 too)."""
    if cert.issuer != issuer.subject:
        return False
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            padding = cert.signature_algorithm_parameters
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding, cert.signature_hash_algorithm)  # type: ignore[arg-type]
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))  # type: ignore[arg-type]
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        elif isinstance(key, dsa.DSAPublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, cert.signature_hash_algorithm)  # type: ignore[arg-type]
        else:
            return False
    except (InvalidSignature, UnsupportedAlgorithm, ValueError, TypeError):
        return False
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer and signed_by(cert, cert)


def is_exchange_self_signed(cert: x509.Certificate, dns_sans: Sequence[str]) -> bool:
    """Exchange's default (CN=<short name>, SANs short name + FQDN) or its other self-signed certificates."""
    cn = _common_name(cert)
    if not cn:
        return False
    lowered = cn.lower()
    if any(lowered.startswith(prefix) for prefix in EXCHANGE_SELF_SIGNED_PREFIXES):
        return True
    sans = [s.lower().rstrip(".") for s in dns_sans]
    return "." not in lowered and lowered in sans and any(s.startswith(lowered + ".") for s in sans)


def _common_name(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


# --- key and signature ---------------------------------------------------------------------------------------


def describe_key(cert: x509.Certificate) -> str:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return f"DSA {key.key_size}"
    return type(key).__name__


def signature_name(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    return getattr(oid, "_name", None) or oid.dotted_string


def is_weak_signature(signature_algorithm: str) -> bool:
    lowered = signature_algorithm.lower()
    return any(h in lowered for h in ("md2", "md5", "sha1"))


# --- trust ---------------------------------------------------------------------------------------------------


def _judge_trust(
    certs: list[x509.Certificate], trust: TrustStore, now: dt.datetime, dns_sans: list[str], ip_sans: list[str]
) -> tuple[bool, str | None]:
    leaf = certs[0]
    if trust.contains(leaf):  # pinned with --ca-file (e.g. an Exchange self-signed certificate)
        dates = _leaf_dates(leaf, now)
        return (dates is None, dates)
    subject = _verifier_subject(dns_sans, ip_sans)
    verifier_message = "no subjectAltName to verify against"
    if subject is not None:
        try:
            verifier = PolicyBuilder().store(trust.store).time(now).build_server_verifier(subject)
            verifier.verify(leaf, certs[1:])
            return True, None
        except VerificationError as exc:
            verifier_message = _clean(str(exc))
    structural = _walk_chain(certs, trust)
    if structural:
        return False, structural
    for check in (_leaf_dates(leaf, now), _chain_dates(certs, trust, now), _weak_signatures(certs)):
        if check:
            return False, check
    if subject is None:
        return False, f"{TRUST_NO_SAN}: the certificate has no subjectAltName; clients ignore the CN"
    return False, f"{TRUST_REJECTED}: {verifier_message}"


def _walk_chain(certs: list[x509.Certificate], trust: TrustStore) -> str | None:
    """Follow issuers through the presented certificates; say why no anchor is reached, or None when one is."""
    leaf, path = certs[0], [certs[0]]
    current = leaf
    while len(path) <= _MAX_PATH:
        if is_self_signed(current):
            if trust.contains(current):
                return None
            if current is leaf:
                return f"{TRUST_SELF_SIGNED}: '{_label(leaf)}' is signed by itself and is not in the trust store"
            return (
                f"{TRUST_UNKNOWN_ROOT}: the server sent the chain up to the root '{_label(current)}', "
                "which is not in the trust store"
            )
        if any(signed_by(current, anchor) for anchor in trust.issuers_of(current)):
            return None
        issuer = next((c for c in certs[1:] if all(c is not p for p in path) and signed_by(current, c)), None)
        if issuer is None:
            issuer_name = _name_label(current.issuer)
            if current is leaf:
                return (
                    f"{TRUST_INCOMPLETE}: the issuer '{issuer_name}' was not sent by the server and is not in the "
                    f"trust store{_aia_hint(leaf)}"
                )
            return (
                f"{TRUST_UNKNOWN_ISSUER}: '{issuer_name}' (issuer of '{_label(current)}') was not sent and is not in "
                "the trust store: an untrusted root, or a further intermediate missing"
            )
        path.append(issuer)
        current = issuer
    return f"{TRUST_REJECTED}: chain longer than {_MAX_PATH} certificates"


def _leaf_dates(leaf: x509.Certificate, now: dt.datetime) -> str | None:
    if now > leaf.not_valid_after_utc:
        return f"{TRUST_EXPIRED}: expired on {_iso(leaf.not_valid_after_utc)}"
    if now < leaf.not_valid_before_utc:
        return f"{TRUST_NOT_YET_VALID}: valid from {_iso(leaf.not_valid_before_utc)}"
    return None


def _chain_dates(certs: list[x509.Certificate], trust: TrustStore, now: dt.datetime) -> str | None:
    for cert in [*certs[1:], *(a for c in certs for a in trust.issuers_of(c))]:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return (
                f"{TRUST_CHAIN_DATES}: '{_label(cert)}' is valid {_iso(cert.not_valid_before_utc)} to "
                f"{_iso(cert.not_valid_after_utc)}"
            )
    return None


def _weak_signatures(certs: list[x509.Certificate]) -> str | None:
    for cert in certs:
        if not is_self_signed(cert) and is_weak_signature(signature_name(cert)):
            return f"{TRUST_WEAK_SIGNATURE}: '{_label(cert)}' is signed with {signature_name(cert)}"
    return None


def _verifier_subject(dns_sans: list[str], ip_sans: list[str]) -> DNSName | IPAddress | None:
    for san in dns_sans:
        concrete = "x" + san[1:] if san.startswith("*.") else san
        try:
            return DNSName(_normal_dns(concrete))
        except ValueError:
            continue
    for san in ip_sans:
        return IPAddress(ipaddress.ip_address(san))
    return None


def _aia_hint(cert: x509.Certificate) -> str:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return ""
    urls = [
        d.access_location.value
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    ]
    return f" (the certificate points to its issuer at {urls[0]}; the server should send it)" if urls else ""


def _clean(message: str) -> str:
    """Drop the verifier's internal detail ("(encountered processing <Certificate ...>)")."""
    message = message.split(" (encountered processing", 1)[0]
    return message.removeprefix("validation failed: ")


def _label(cert: x509.Certificate) -> str:
    return _name_label(cert.subject)


def _name_label(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_rest(ders: Sequence[bytes]) -> list[x509.Certificate]:
    parsed: list[x509.Certificate] = []
    for der in ders:
        try:
            parsed.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue  # a garbled extra certificate does not stop the analysis of the leaf
    return parsed
