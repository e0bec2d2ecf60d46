"""Would the clients that matter trust this chain? Path building and validity as OpenSSL, NSS and CryptoAPI do it.

    verdict = judge_trust(certs, trust, now, dns_sans, ip_sans)
    verdict.trusted, verdict.kind, verdict.error        # True/False, a TRUST_* kind, a sentence for an admin
    verdict.anchored_by                                 # ["system (...)", "Mozilla (certifi ...)"]
    verdict.deviations                                  # strict-profile breaches clients tolerate, in plain words

Two verifiers are asked. cryptography's WebPKI verifier applies the strict RFC 5280 / CA/Browser profile; when it
refuses, OpenSSL's own path building (what `openssl s_client -CAfile` and the many OpenSSL-based mail clients do)
decides, because clients tolerate what the strict profile forbids (no Authority or Subject Key Identifier and the
like): such a chain is trusted, and each breach becomes a deviation (a separate low finding), never a trust error.
Rules clients do enforce are checked on top of OpenSSL's answer: a leaf not meant for TLS servers (extended key
usage), SHA-1/MD5 signatures, no subjectAltName.

When no verifier accepts the chain, the presented chain is walked to say why in words: self-signed, an issuer not
sent, an unknown root, dates, weak signatures. The verifiers' own messages are not meant for users and never
carry an OID into a result.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, ExtensionOID, NameOID
from cryptography.x509.verification import DNSName, IPAddress, PolicyBuilder, VerificationError
from OpenSSL import crypto

from scanner.tls.names import normal_dns
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
TRUST_NOT_FOR_SERVERS = "not for TLS servers"
TRUST_UNREADABLE = "unreadable"
TRUST_REJECTED = "rejected"

_MAX_PATH = 10

# Extensions named in the strict verifier's messages, in words (a result never shows an OID).
_EXTENSION_WORDS = {
    "2.5.29.35": "Authority Key Identifier",
    "2.5.29.14": "Subject Key Identifier",
    "2.5.29.15": "Key Usage",
    "2.5.29.19": "Basic Constraints",
    "2.5.29.37": "Extended Key Usage",
    "2.5.29.17": "Subject Alternative Name",
    "2.5.29.30": "Name Constraints",
    "2.5.29.32": "Certificate Policies",
    "2.5.29.31": "CRL Distribution Points",
    "1.3.6.1.5.5.7.1.1": "Authority Information Access",
}
_OID = re.compile(r"\b\d+(?:\.\d+){3,}\b")
_HOST_NAME = re.compile(r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class TrustVerdict:
    trusted: bool
    kind: str | None = None  # a TRUST_* kind when not trusted
    error: str | None = None  # one sentence an admin understands
    anchored_by: tuple[str, ...] = ()  # labels of the stores holding the anchor, when trusted
    deviations: tuple[str, ...] = ()  # tolerated breaches of the strict profile
    unchecked: tuple[str, ...] = ()  # what could not be checked, and why


def judge_trust(
    certs: Sequence[x509.Certificate],
    trust: TrustStore,
    now: dt.datetime,
    dns_sans: Sequence[str],
    ip_sans: Sequence[str],
) -> TrustVerdict:
    """``certs``: the presented chain as parsed, leaf first (unparsable extras already left out)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libraries re-parse odd certificates (negative serials) with a warning
        return _judge(certs, trust, now, dns_sans, ip_sans)


def _judge(
    certs: Sequence[x509.Certificate],
    trust: TrustStore,
    now: dt.datetime,
    dns_sans: Sequence[str],
    ip_sans: Sequence[str],
) -> TrustVerdict:
    leaf = certs[0]
    if trust.contains(leaf):  # pinned with --ca-file (e.g. an Exchange self-signed certificate)
        dates = _leaf_dates(leaf, now)
        if dates:
            return TrustVerdict(False, dates[0], dates[1])
        return TrustVerdict(True, anchored_by=tuple(trust.sources_of(leaf)))
    strict_message, anchor = _strict(certs, trust, now, dns_sans, ip_sans)
    if anchor is not None:
        return TrustVerdict(True, anchored_by=tuple(trust.sources_of(anchor)))
    unchecked: list[str] = []
    path = _openssl_path(certs, trust, now, unchecked)
    if path is not None:
        refusal = _client_rules(path, dns_sans, ip_sans)
        if refusal:
            return TrustVerdict(False, refusal[0], refusal[1], unchecked=tuple(unchecked))
        deviations = profile_deviations(path, strict_message, dns_sans)
        return TrustVerdict(
            True, anchored_by=tuple(trust.sources_of(path[-1])), deviations=deviations, unchecked=tuple(unchecked)
        )
    kind, sentence = _explain(list(certs), trust, now, dns_sans, ip_sans, strict_message)
    return TrustVerdict(False, kind, sentence, unchecked=tuple(unchecked))


# --- the two verifiers ---------------------------------------------------------------------------------------


def _strict(
    certs: Sequence[x509.Certificate],
    trust: TrustStore,
    now: dt.datetime,
    dns_sans: Sequence[str],
    ip_sans: Sequence[str],
) -> tuple[str | None, x509.Certificate | None]:
    """cryptography's WebPKI verifier against the certificate's own first usable name: (its message, the anchor)."""
    subject = _verifier_subject(dns_sans, ip_sans)
    if subject is None:
        return "no subjectAltName to verify against", None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            verifier = PolicyBuilder().store(trust.store).time(now).build_server_verifier(subject)
            chain = verifier.verify(certs[0], list(certs[1:]))
    except VerificationError as exc:
        return _clean(str(exc)), None
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:  # a field the verifier cannot even read
        return _clean(str(exc)), None
    return None, chain[-1]


def _openssl_path(
    certs: Sequence[x509.Certificate], trust: TrustStore, now: dt.datetime, unchecked: list[str]
) -> list[x509.Certificate] | None:
    """The path OpenSSL builds from the leaf to an anchor (default flags: no strict profile), or None."""
    try:
        leaf = crypto.X509.from_cryptography(certs[0])
        rest = [crypto.X509.from_cryptography(c) for c in certs[1:]]
        context = crypto.X509StoreContext(trust.openssl_store(now), leaf, chain=rest)
        return [c.to_cryptography() for c in context.get_verified_chain()]
    except crypto.X509StoreContextError:
        return None
    except (crypto.Error, ValueError, TypeError) as exc:
        unchecked.append(f"OpenSSL could not check the chain ({_clean(str(exc)) or type(exc).__name__})")
        return None


def _client_rules(
    path: Sequence[x509.Certificate], dns_sans: Sequence[str], ip_sans: Sequence[str]
) -> tuple[str, str] | None:
    """What clients refuse although OpenSSL's default path check lets it through."""
    leaf = path[0]
    usages = _extended_key_usages(leaf)
    server_usages = {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if usages is not None and not usages & server_usages:
        return TRUST_NOT_FOR_SERVERS, (
            f"'{_label(leaf)}' is not issued for TLS servers (its extended key usage does not include server "
            "authentication), so clients refuse it"
        )
    weak = _weak_signatures(path)
    if weak:
        return weak
    if not dns_sans and not ip_sans:
        return TRUST_NO_SAN, "the certificate has no subjectAltName; clients ignore the CN and refuse it"
    return None


# --- deviations from the strict profile ----------------------------------------------------------------------


def profile_deviations(
    path: Sequence[x509.Certificate], strict_message: str | None, dns_sans: Sequence[str] = ()
) -> tuple[str, ...]:
    """Breaches of RFC 5280 / the CA/Browser profile that clients tolerate, one sentence each."""
    found: list[str] = [
        f"the subjectAltName lists '{san}', which is not a valid host name (strict clients never match it)"
        for san in dns_sans
        if not _HOST_NAME.fullmatch(normal_dns(san))
    ]
    for cert in path:
        extensions = _extension_oids(cert)
        root = cert is path[-1] and _name_is_issuer(cert)
        is_ca = _is_ca(cert)
        if extensions is None:
            found.append(f"'{_label(cert)}' has extensions that cannot be read")
            continue
        if not root and ExtensionOID.AUTHORITY_KEY_IDENTIFIER not in extensions:
            found.append(f"'{_label(cert)}' has no Authority Key Identifier (which key signed it)")
        if is_ca and ExtensionOID.SUBJECT_KEY_IDENTIFIER not in extensions:
            found.append(f"the CA certificate '{_label(cert)}' has no Subject Key Identifier")
        if is_ca and ExtensionOID.KEY_USAGE not in extensions:
            found.append(f"the CA certificate '{_label(cert)}' has no Key Usage extension")
        if cert.version != x509.Version.v3:
            found.append(f"'{_label(cert)}' is a version 1 certificate (version 3 is expected)")
        if _serial_not_positive(cert):
            found.append(f"'{_label(cert)}' has a serial number that is zero or negative")
    if not found and strict_message:
        found.append(f"the strict certificate profile refuses the chain: {plain_words(strict_message)}")
    return tuple(dict.fromkeys(found))


def plain_words(message: str) -> str:
    """A verifier message with extension OIDs replaced by their names."""
    return _OID.sub(lambda m: _EXTENSION_WORDS.get(m.group(), "an extension"), message).replace("an extension: ", "")


# --- explaining a refusal ------------------------------------------------------------------------------------


def _explain(
    certs: list[x509.Certificate],
    trust: TrustStore,
    now: dt.datetime,
    dns_sans: Sequence[str],
    ip_sans: Sequence[str],
    strict_message: str | None,
) -> tuple[str, str]:
    leaf = certs[0]
    checks: list[Callable[[], tuple[str, str] | None]] = [
        lambda: _walk_chain(certs, trust),
        lambda: _leaf_dates(leaf, now),
        lambda: _chain_dates(certs, trust, now),
        lambda: _weak_signatures(certs),
        lambda: _client_rules(certs, dns_sans, ip_sans),
    ]
    for check in checks:
        found = check()
        if found:
            return found
    reason = plain_words(strict_message) if strict_message else "no reason given"
    return TRUST_REJECTED, f"the chain reaches a trusted root but clients refuse it: {reason}"


def _walk_chain(certs: list[x509.Certificate], trust: TrustStore) -> tuple[str, str] | None:
    """Follow issuers through the presented certificates; say why no anchor is reached, or None when one is."""
    leaf, path = certs[0], [certs[0]]
    current = leaf
    while len(path) <= _MAX_PATH:
        if is_self_signed(current):
            if trust.contains(current):
                return None
            if current is leaf:
                return TRUST_SELF_SIGNED, f"'{_label(leaf)}' is signed by itself and is not in the trust store"
            return TRUST_UNKNOWN_ROOT, (
                f"the server sent the chain up to the root '{_label(current)}', which is not in the trust store"
            )
        if any(signed_by(current, anchor) for anchor in trust.issuers_of(current)):
            return None
        issuer = next((c for c in certs[1:] if all(c is not p for p in path) and signed_by(current, c)), None)
        if issuer is None:
            return _missing_issuer(current, leaf, certs, path)
        path.append(issuer)
        current = issuer
    return TRUST_REJECTED, f"the chain is longer than {_MAX_PATH} certificates"


def _missing_issuer(
    current: x509.Certificate, leaf: x509.Certificate, certs: list[x509.Certificate], path: list[x509.Certificate]
) -> tuple[str, str]:
    issuer_name = _name_label(current.issuer)
    named = [c for c in certs[1:] if c.subject == current.issuer and all(c is not p for p in path)]
    if named:
        unreadable = next((c for c in named if key_description(c)[0] == "unknown"), None)
        why = "its key is of a type that cannot be read" if unreadable else "its key does not verify the signature"
        return TRUST_REJECTED, (
            f"the server sent '{issuer_name}' as the issuer of '{_label(current)}', but {why}: clients cannot "
            "build a trusted chain"
        )
    if current is leaf:
        return TRUST_INCOMPLETE, (
            f"the issuer '{issuer_name}' was not sent by the server and is not in the trust store{_aia_hint(leaf)}"
        )
    return TRUST_UNKNOWN_ISSUER, (
        f"'{issuer_name}' (issuer of '{_label(current)}') was not sent and is not in the trust store: an untrusted "
        "root, or a further intermediate missing"
    )


def _leaf_dates(leaf: x509.Certificate, now: dt.datetime) -> tuple[str, str] | None:
    if now > leaf.not_valid_after_utc:
        return TRUST_EXPIRED, f"the certificate expired on {_iso(leaf.not_valid_after_utc)}"
    if now < leaf.not_valid_before_utc:
        return TRUST_NOT_YET_VALID, f"the certificate is valid only from {_iso(leaf.not_valid_before_utc)}"
    return None


def _chain_dates(certs: list[x509.Certificate], trust: TrustStore, now: dt.datetime) -> tuple[str, str] | None:
    for cert in [*certs[1:], *(a for c in certs for a in trust.issuers_of(c))]:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return TRUST_CHAIN_DATES, (
                f"'{_label(cert)}' in the chain is valid only from {_iso(cert.not_valid_before_utc)} to "
                f"{_iso(cert.not_valid_after_utc)}"
            )
    return None


def _weak_signatures(certs: Sequence[x509.Certificate]) -> tuple[str, str] | None:
    for cert in certs:
        if not is_self_signed(cert) and is_weak_signature(signature_name(cert)):
            return TRUST_WEAK_SIGNATURE, (
                f"'{_label(cert)}' is signed with {signature_name(cert)}, which clients no longer accept"
            )
    return None


# --- certificate facts used here and by scanner.tls.certificate ----------------------------------------------


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s name is ``cert``'s issuer and its key verifies ``cert``'s signature (SHA-1 too)."""
    if cert.issuer != issuer.subject:
        return False
    try:
        key = issuer.public_key()
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


def key_description(cert: x509.Certificate) -> tuple[str, int | None, str]:
    """(type, bits, words): ("RSA", 2048, "RSA 2048"), ("EC", 256, "EC secp256r1"), ("unknown", None, ...)."""
    try:
        key = cert.public_key()
    except (UnsupportedAlgorithm, ValueError) as exc:
        return "unknown", None, f"unknown key type ({_clean(str(exc)) or 'not readable'})"
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size, f"RSA {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC", key.curve.key_size, f"EC {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256, "Ed25519"
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456, "Ed448"
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size, f"DSA {key.key_size}"
    return "unknown", None, type(key).__name__


def signature_name(cert: x509.Certificate) -> str:
    oid = cert.signature_algorithm_oid
    return getattr(oid, "_name", None) or "an unrecognised signature algorithm"


def is_weak_signature(signature_algorithm: str) -> bool:
    lowered = signature_algorithm.lower()
    return any(h in lowered for h in ("md2", "md5", "sha1"))


def _extension_oids(cert: x509.Certificate) -> set[x509.ObjectIdentifier] | None:
    try:
        return {ext.oid for ext in cert.extensions}
    except ValueError:
        return None


def _extended_key_usages(cert: x509.Certificate) -> set[x509.ObjectIdentifier] | None:
    try:
        return set(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except (x509.ExtensionNotFound, ValueError):
        return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except (x509.ExtensionNotFound, ValueError):
        return cert.version == x509.Version.v1 and _name_is_issuer(cert)


def _name_is_issuer(cert: x509.Certificate) -> bool:
    return cert.subject == cert.issuer


def _serial_not_positive(cert: x509.Certificate) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return cert.serial_number <= 0
    except ValueError:
        return True


def _verifier_subject(dns_sans: Sequence[str], ip_sans: Sequence[str]) -> DNSName | IPAddress | None:
    for san in dns_sans:
        concrete = "x" + san[1:] if san.startswith("*.") else san
        try:
            return DNSName(normal_dns(concrete))
        except ValueError:
            continue
    for san in ip_sans:
        try:
            return IPAddress(ipaddress.ip_address(san))
        except ValueError:
            continue
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
    try:
        attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
        return str(attrs[0].value) if attrs else name.rfc4514_string()
    except ValueError:
        return "(an unreadable name)"


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
