"""Judge the chain a server presented: trust, names, self-signed and Exchange defaults, dates, key, signature.

    info = analyse_chain(handshake.chain_der, names=[NameCandidate("target", "mail.example.com")], address=None,
                         trust=load_trust_store())

Trust is decided in scanner.tls.verify (as OpenSSL, NSS and CryptoAPI clients decide it), names in scanner.tls.names.

A server chooses every byte of its certificate, so nothing here may raise on what it sends: a leaf whose version
field is out of range is read as version 3 (and said to be unacceptable to clients), a negative serial, an odd
name in the subjectAltName, an intermediate with a key type nobody knows are judged on what can be read, and
``unchecked`` says what could not be checked and why. Only a leaf that cannot be parsed at all raises ValueError.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Callable, Sequence
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from scanner.model import CertificateInfo, UtcTime
from scanner.tls.names import NameCandidate, judge_names, matches_name
from scanner.tls.trust import TrustStore
from scanner.tls.verify import (
    TRUST_CHAIN_DATES,
    TRUST_EXPIRED,
    TRUST_INCOMPLETE,
    TRUST_NO_SAN,
    TRUST_NOT_YET_VALID,
    TRUST_REJECTED,
    TRUST_SELF_SIGNED,
    TRUST_UNKNOWN_ISSUER,
    TRUST_UNKNOWN_ROOT,
    TRUST_UNREADABLE,
    TRUST_WEAK_SIGNATURE,
    TrustVerdict,
    is_self_signed,
    is_weak_signature,
    judge_trust,
    key_description,
    signature_name,
    signed_by,
)

__all__ = [
    "TRUST_CHAIN_DATES",
    "TRUST_EXPIRED",
    "TRUST_INCOMPLETE",
    "TRUST_NOT_YET_VALID",
    "TRUST_NO_SAN",
    "TRUST_REJECTED",
    "TRUST_SELF_SIGNED",
    "TRUST_UNKNOWN_ISSUER",
    "TRUST_UNKNOWN_ROOT",
    "TRUST_UNREADABLE",
    "TRUST_WEAK_SIGNATURE",
    "NameCandidate",
    "analyse_chain",
    "is_exchange_self_signed",
    "is_self_signed",
    "is_weak_signature",
    "load_leniently",
    "matches_name",
    "signature_name",
    "signed_by",
]

# Subjects of the self-signed certificates Exchange makes for itself (besides CN=<server short name>).
EXCHANGE_SELF_SIGNED_PREFIXES = ("microsoft exchange server auth certificate", "wmsvc-", "microsoft exchange")

_T = TypeVar("_T")


def analyse_chain(
    chain_der: Sequence[bytes],
    *,
    names: Sequence[NameCandidate | str],
    address: str | None,
    trust: TrustStore,
    now: dt.datetime | None = None,
) -> CertificateInfo:
    """The leaf certificate judged in the context of the presented chain.

    ``names``: the names a client may use, with where each came from (a plain str counts as the name scanned).
    ``address``: pass the IP only when the user targeted an address, so that IP SANs count.
    Raises ValueError when the chain is empty or the leaf cannot be parsed at all.
    """
    if not chain_der:
        raise ValueError("no certificate presented")
    now = now or dt.datetime.now(dt.UTC)
    unchecked: list[str] = []
    leaf, leaf_notes = load_leniently(chain_der[0])
    if leaf is None:
        raise ValueError(leaf_notes[0] if leaf_notes else "the certificate cannot be parsed")
    certs = [leaf, *_parse_rest(chain_der[1:], unchecked)]
    dns_sans, ip_sans = _sans(leaf, unchecked)
    self_signed = _guarded(lambda: is_self_signed(leaf), False, "whether it is self-signed", unchecked)
    candidates = [n if isinstance(n, NameCandidate) else NameCandidate("target", n) for n in names]
    if address:
        candidates.append(NameCandidate("address", address))
    name_match, name_checks = judge_names(candidates, dns_sans, ip_sans)
    verdict = _guarded(
        lambda: judge_trust(certs, trust, now, dns_sans, ip_sans),
        TrustVerdict(False, TRUST_UNREADABLE, "the chain could not be checked"),
        "the chain of trust",
        unchecked,
    )
    if leaf_notes:  # a version field out of range: clients refuse the certificate whatever the chain
        verdict = TrustVerdict(False, TRUST_REJECTED, leaf_notes[0], deviations=verdict.deviations)
    unknown_key: tuple[str, int | None, str] = ("unknown", None, "unknown key type")
    key_type, key_bits, key_words = _guarded(lambda: key_description(leaf), unknown_key, "the key", unchecked)
    not_before, not_after = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    return CertificateInfo(
        subject=_name_text(leaf.subject),
        issuer=_name_text(leaf.issuer),
        sans=tuple(dns_sans) + tuple(ip_sans),
        not_before=UtcTime.of(not_before),
        not_after=UtcTime.of(not_after),
        days_left=int((not_after - now).total_seconds() // 86400),
        sha256=_sha256(chain_der[0]),
        key=key_words,
        key_type=key_type,
        key_bits=key_bits,
        signature_algorithm=signature_name(leaf),
        chain_length=len(chain_der),
        trusted=verdict.trusted,
        trust_store=" and ".join(verdict.anchored_by) if verdict.trusted else trust.name,
        trust_error=verdict.error,
        trust_error_kind=verdict.kind,
        profile_deviations=verdict.deviations,
        unchecked=(*leaf_notes[1:], *unchecked, *verdict.unchecked),
        self_signed=self_signed,
        exchange_default=self_signed and _guarded(lambda: is_exchange_self_signed(leaf, dns_sans), False, "", []),
        name_match=name_match,
        names_checked=tuple(c.name for c in name_checks if c.result != "not checked"),
        name_checks=name_checks,
        chain=tuple(f"{_name_text(c.subject)} <- {_name_text(c.issuer)}" for c in certs),
    )


# --- reading what a server sends -----------------------------------------------------------------------------


def load_leniently(der: bytes) -> tuple[x509.Certificate | None, list[str]]:
    """Parse a certificate, tolerating what can be read past: (certificate or None, notes).

    A version field out of range (only 1 to 3 exist) is read as version 3; the first note then says clients refuse
    the certificate. A negative or zero serial is read (cryptography deprecates it; the warning is kept off
    stderr). Anything else unparsable gives (None, [why]).
    """
    try:
        return _load(der), []
    except x509.InvalidVersion as exc:
        patched = _as_version_3(der)
        if patched is not None:
            try:
                return _load(patched), [
                    f"the certificate's version field says {exc.parsed_version + 1} (only 1 to 3 exist): clients "
                    "refuse it; the rest of it was read as a version 3 certificate"
                ]
            except ValueError:
                pass
        return None, [f"the certificate's version field is out of range ({exc.parsed_version + 1})"]
    except ValueError as exc:
        return None, [f"the certificate cannot be parsed ({exc})"]


def _load(der: bytes) -> x509.Certificate:
    with warnings.catch_warnings():
        # Non-positive serials (a deprecation notice) and name attributes past their RFC 5280 length (a
        # UserWarning) are not our user's concern: read them now, under the filter; later reads use the cache.
        warnings.simplefilter("ignore")
        cert = x509.load_der_x509_certificate(der)
        cert.serial_number, cert.subject, cert.issuer  # noqa: B018
    return cert


def _as_version_3(der: bytes) -> bytes | None:
    """The same DER with the TBS version INTEGER set to 2 (v3), when it is the usual one-byte [0] EXPLICIT."""
    tbs = _content_start(der, 0)
    version_at = _content_start(der, tbs)
    if der[version_at : version_at + 4] != b"\xa0\x03\x02\x01":
        return None
    return der[: version_at + 4] + b"\x02" + der[version_at + 5 :]


def _content_start(der: bytes, at: int) -> int:
    first = der[at + 1]
    return at + 2 + (first & 0x7F if first & 0x80 else 0)


def _parse_rest(ders: Sequence[bytes], unchecked: list[str]) -> list[x509.Certificate]:
    parsed: list[x509.Certificate] = []
    for position, der in enumerate(ders, start=2):
        cert, notes = load_leniently(der)
        if cert is None or notes:
            unchecked.append(f"certificate {position} of the chain was left out: {notes[0] if notes else ''}")
            continue
        parsed.append(cert)
    return parsed


def _sans(cert: x509.Certificate, unchecked: list[str]) -> tuple[list[str], list[str]]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    except ValueError as exc:
        unchecked.append(f"the subjectAltName cannot be read ({exc}), so no name could be checked")
        return [], []
    return list(ext.get_values_for_type(x509.DNSName)), [str(a) for a in ext.get_values_for_type(x509.IPAddress)]


def _guarded(work: Callable[[], _T], fallback: _T, what: str, unchecked: list[str]) -> _T:
    """Run one analysis step; a failure on hostile input costs that step only, and is said."""
    try:
        return work()
    except Exception as exc:  # a server's bytes must not erase the other findings
        if what:
            unchecked.append(f"{what} could not be checked ({type(exc).__name__}: {exc})")
        return fallback


def _name_text(name: x509.Name) -> str:
    try:
        return name.rfc4514_string()
    except ValueError:
        return "(an unreadable name)"


def _sha256(der: bytes) -> str:
    digest = hashes.Hash(hashes.SHA256())
    digest.update(der)
    return digest.finalize().hex()


# --- self-signed and Exchange --------------------------------------------------------------------------------


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
