"""After a handshake: judge the presented chain and the TLS parameters (scanner.tls does the analysis)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from collections.abc import Awaitable

from scanner.model import CertificateInfo, Endpoint, EndpointResult, Finding, TlsInfo
from scanner.probe.options import ProbeOptions
from scanner.scan import legacy_share
from scanner.tls.certificate import analyse_chain
from scanner.tls.channel import HandshakeInfo
from scanner.tls.legacy import LEGACY_VERSIONS, LegacyResult, Opener, probe_legacy_versions
from scanner.tls.names import NameCandidate, candidates_from, judge_names, split_sans
from scanner.tls.trust import TrustStore, load_trust_store
from scanner.verdicts.certificates import certificate_findings, unreadable_certificate_finding


@functools.cache
def trust_store(ca_file: str | None) -> TrustStore:
    """Loaded once per process and CA file: parsing a system bundle costs more than a handshake."""
    return load_trust_store([ca_file] if ca_file else [])


@functools.lru_cache(maxsize=256)
def _chain_facts(chain_der: tuple[bytes, ...], ca_file: str | None, hour: int) -> CertificateInfo:
    """Everything about a chain that does not depend on the name a client uses, once per distinct chain: a
    range behind one load balancer, or a host's four ports, present the same chain again and again. ``hour``
    keeps expiry figures fresh in a long TUI session."""
    return analyse_chain(list(chain_der), names=[], address=None, trust=trust_store(ca_file))


def _analysed(
    chain_der: tuple[bytes, ...], names: tuple[NameCandidate, ...], address: str | None, ca_file: str | None, hour: int
) -> CertificateInfo:
    """The chain's facts (cached) with this endpoint's names judged against its SANs."""
    facts = _chain_facts(chain_der, ca_file, hour)
    candidates = [*names, *([NameCandidate("address", address)] if address else [])]
    match, checks = judge_names(candidates, *split_sans(facts.sans))
    return dataclasses.replace(
        facts,
        name_match=match,
        name_checks=checks,
        names_checked=tuple(c.name for c in checks if c.result != "not checked"),
    )


def _hour() -> int:
    return int(time.time() // 3600)


def names_to_check(endpoint: Endpoint, options: ProbeOptions) -> list[NameCandidate]:
    """In order: the name scanned (an SRV target and its mail domain when SRV named it), --expect-name, then the PTR
    name (a guess, see scanner.tls.names)."""
    found: list[NameCandidate] = []
    if endpoint.name and endpoint.name != endpoint.address:
        found.append(NameCandidate("srv" if endpoint.srv_domain else "target", endpoint.name))
    if endpoint.srv_domain:  # RFC 6186/7817: the SRV target and the mail domain both identify the service
        found.append(NameCandidate("srv", endpoint.srv_domain))
    if options.expect_name:
        found.append(NameCandidate("expect-name", options.expect_name))
    if endpoint.ptr:
        found.append(NameCandidate("ptr", endpoint.ptr))
    return found


def targeted_by_address(endpoint: Endpoint) -> bool:
    return endpoint.host == endpoint.address


async def inspect_tls(
    endpoint: Endpoint,
    options: ProbeOptions,
    handshake: HandshakeInfo,
    *,
    software: str | None,
    opener: Opener | None,
) -> tuple[TlsInfo, list[Finding]]:
    certificate = None
    unreadable: str | None = None
    if handshake.chain_der:
        try:
            certificate = _analysed(
                tuple(handshake.chain_der),
                tuple(names_to_check(endpoint, options)),
                endpoint.address if targeted_by_address(endpoint) else None,
                options.ca_file,
                _hour(),
            )
        except ValueError as exc:
            unreadable = str(exc)  # an unparsable leaf: the TLS facts still stand, and a finding says so
    accepted: tuple[str, ...] = ()
    untested: tuple[str, ...] = ()
    probed_on: int | None = None
    if options.legacy_tls and opener is not None:
        legacy, probed_on = await _legacy_versions(endpoint, handshake, opener, min(options.tls_timeout, 5.0))
        accepted, untested = legacy.accepted, legacy.untested
    if handshake.version in LEGACY_VERSIONS and handshake.version not in accepted:
        # the session itself is legacy (a server that speaks nothing newer): accepted whatever the extra tries said
        accepted = tuple(v for v in LEGACY_VERSIONS if v in accepted or v == handshake.version)
    info = TlsInfo(handshake.version, handshake.cipher, certificate, accepted, untested, probed_on)
    findings = certificate_findings(info, expiry_warn_days=options.expiry_warn_days, software=software)
    if unreadable:
        findings.append(unreadable_certificate_finding(unreadable, software))
    return info, findings


async def _legacy_versions(
    endpoint: Endpoint, handshake: HandshakeInfo, opener: Opener, timeout: float
) -> tuple[LegacyResult, int | None]:
    """The legacy versions the server accepts, and the port they were probed on when another port of the same
    server was (None: probed here). See scanner.scan.legacy_share for when ports share."""

    def probe() -> Awaitable[LegacyResult]:
        return probe_legacy_versions(opener, server_name=handshake.server_name, timeout=timeout)

    share = legacy_share.current()
    if share is None or endpoint.protocol not in legacy_share.SHARED_PROTOCOLS or not handshake.chain_der:
        return await probe(), None
    chain = hashlib.sha256(b"".join(handshake.chain_der)).digest()  # the chain itself need not stay in memory
    key = (endpoint.address, endpoint.protocol, chain, handshake.version, handshake.cipher)
    return await share.probe(key, endpoint.port, probe)


def with_ptr_name(result: EndpointResult, ptr: str, options: ProbeOptions) -> EndpointResult:
    """Add the PTR name, found after the probe, to the certificate's name check (issue: names come from the user's
    name, the resolved name, then PTR). The name verdict and its finding are recomputed; nothing else changes."""
    result = dataclasses.replace(result, ptr=ptr)
    tls = result.tls
    cert = tls.certificate if tls else None
    name = ptr.lower().rstrip(".")
    if tls is None or cert is None or any(c.name == name for c in cert.name_checks):
        return result
    dns_sans, ip_sans = split_sans(cert.sans)
    match, checks = judge_names([*candidates_from(cert.name_checks), NameCandidate("ptr", name)], dns_sans, ip_sans)
    checked = dataclasses.replace(
        cert,
        name_match=match,
        name_checks=checks,
        names_checked=tuple(c.name for c in checks if c.result != "not checked"),
    )
    tls = dataclasses.replace(tls, certificate=checked)
    fresh = [
        f
        for f in certificate_findings(tls, expiry_warn_days=options.expiry_warn_days, software=result.software)
        if f.id in NAME_FINDINGS
    ]
    kept = [f for f in result.findings if f.id not in NAME_FINDINGS]
    return dataclasses.replace(result, tls=tls, findings=(*kept, *fresh))


NAME_FINDINGS = ("cert-name-mismatch", "cert-name-not-checked")
