"""After a handshake: judge the presented chain and the TLS parameters (scanner.tls does the analysis)."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import time
from collections.abc import Awaitable

from scanner.model import CertificateInfo, Endpoint, Finding, TlsConfiguration, TlsInfo
from scanner.probe.context import LegacyProbes, TlsEnumerations
from scanner.probe.options import ProbeOptions
from scanner.tls.certificate import analyse_chain
from scanner.tls.channel import HandshakeInfo
from scanner.tls.legacy import LEGACY_VERSIONS, LegacyResult, Opener, probe_legacy_versions
from scanner.tls.names import NameCandidate, judge_names, split_sans
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
    legacy: LegacyProbes | None = None,
    tls: TlsEnumerations | None = None,
) -> tuple[TlsInfo, list[Finding]]:
    """The TLS facts and certificate findings of one handshake. The names judged are ``endpoint``'s (its PTR name
    included: the probe looks it up before it comes here); ``legacy`` shares legacy-version probes between the
    ports of one server within a scan, ``tls`` the TLS enumerations (which replace the legacy probe when
    ``options.tls_enumeration``)."""
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
    configuration: TlsConfiguration | None = None
    if options.tls_enumeration and opener is not None:
        # the enumeration asks every version, the legacy ones included: no separate legacy probe
        configuration = await _enumerated(endpoint, handshake, opener, options, tls)
        accepted = tuple(v for v in LEGACY_VERSIONS if v in configuration.versions)
        untested = tuple(u for u in configuration.untested if u.startswith("enumeration incomplete"))
        probed_on = configuration.enumerated_on
    elif options.legacy_tls and opener is not None:
        versions, probed_on = await _legacy_versions(endpoint, handshake, opener, min(options.tls_timeout, 5.0), legacy)
        accepted, untested = versions.accepted, versions.untested
    if handshake.version in LEGACY_VERSIONS and handshake.version not in accepted:
        # the session itself is legacy (a server that speaks nothing newer): accepted whatever the extra tries said
        accepted = tuple(v for v in LEGACY_VERSIONS if v in accepted or v == handshake.version)
    mozilla = None
    if configuration is not None:
        from scanner.verdicts.tls_profile import judge as judge_profiles  # loaded with the first enumeration

        mozilla = judge_profiles(configuration, certificate)
    info = TlsInfo(
        handshake.version, handshake.cipher, certificate, accepted, untested, probed_on, configuration, mozilla
    )
    findings = certificate_findings(info, expiry_warn_days=options.expiry_warn_days, software=software)
    if unreadable:
        findings.append(unreadable_certificate_finding(unreadable, software))
    if mozilla is not None:
        from scanner.verdicts.robot import robot_finding
        from scanner.verdicts.tls_profile import attack_suites_finding, profile_findings, shared_prime_finding

        findings.extend(profile_findings(mozilla, options.tls_profile, software))
        if configuration is not None:
            for extra in (
                shared_prime_finding(configuration, software),
                attack_suites_finding(configuration, options.tls_profile, software),
                robot_finding(configuration, software),
            ):
                if extra is not None:
                    findings.append(extra)
    if configuration is not None:
        from scanner.verdicts.tls_vulns import vulnerability_findings

        findings.extend(vulnerability_findings(configuration, software))
    return info, findings


async def _enumerated(
    endpoint: Endpoint,
    handshake: HandshakeInfo,
    opener: Opener,
    options: ProbeOptions,
    share: TlsEnumerations | None,
) -> TlsConfiguration:
    """The server's TLS configuration, enumerated here or shared by another port of the same server (see
    scanner.scan.tls_share for when ports share)."""
    from scanner.tls.enumerate import EnumerationLimits, enumerate_tls  # loaded only when enumerating

    limits = EnumerationLimits(hello_timeout=min(options.tls_timeout, 5.0))

    def run() -> Awaitable[TlsConfiguration]:
        return enumerate_tls(opener, server_name=handshake.server_name, limits=limits)

    def confirm(known: TlsConfiguration) -> Awaitable[TlsConfiguration | None]:
        from scanner.tls.confirm import confirm_configuration
        from scanner.verdicts.tls_profile import deviating_offers

        must = deviating_offers(known)  # so that a server without what made the known one fail is not judged as it
        return confirm_configuration(opener, known, server_name=handshake.server_name, must_accept=must, limits=limits)

    from scanner.tls.robot_probe import robot_checked  # ROBOT: every server its own check, confirmed ones too

    checked_run, checked_confirm = robot_checked(run, confirm, opener, handshake.server_name, limits)
    if share is None or not handshake.chain_der:
        return await checked_run()
    chain = hashlib.sha256(b"".join(handshake.chain_der)).digest()
    key = (endpoint.address, endpoint.protocol, chain, handshake.version, handshake.cipher)
    return await share.enumerate(key, endpoint.port, checked_run, checked_confirm if options.tls_confirm else None)


async def _legacy_versions(
    endpoint: Endpoint, handshake: HandshakeInfo, opener: Opener, timeout: float, share: LegacyProbes | None
) -> tuple[LegacyResult, int | None]:
    """The legacy versions the server accepts, and the port they were probed on when another port of the same
    server was (None: probed here). See scanner.scan.legacy_share for when ports share."""

    def probe() -> Awaitable[LegacyResult]:
        return probe_legacy_versions(opener, server_name=handshake.server_name, timeout=timeout)

    if share is None or not handshake.chain_der:
        return await probe(), None
    chain = hashlib.sha256(b"".join(handshake.chain_der)).digest()  # the chain itself need not stay in memory
    key = (endpoint.address, endpoint.protocol, chain, handshake.version, handshake.cipher)
    return await share.probe(key, endpoint.port, probe)
