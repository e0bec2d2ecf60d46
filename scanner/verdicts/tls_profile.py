"""A server's enumerated TLS configuration judged against Mozilla's server-side TLS guidelines (5.7).

Pure rules: ``judge(configuration, certificate)`` gives, for each profile, compliant or not and every deviation;
``profile_findings`` turns the deviations from the chosen profile (``--tls-profile``, intermediate by default) into
findings whose fix names the exact settings for Exchange (SCHANNEL), Dovecot and Postfix.

What is judged, and how it lines up with sslyze's ``--mozilla_config`` checker (the oracle the tests compare with):
versions, TLS 1.3 suites, older suites (IANA names), elliptic-curve groups, the smallest ECDH and DH sizes, the
certificate (type, curve, RSA size, signature, lifespan, trust), TLS compression, RFC 5746 secure renegotiation,
RFC 7627 extended master secret and RFC 7507 TLS_FALLBACK_SCSV. Two rules go beyond sslyze, both from the
guidelines: the old profile asks the server to impose its cipher order (``server_preferred_order``; only held
against a server that accepts suites outside intermediate's, where the order decides what a client gets), and
finite-field groups in TLS 1.3 (ffdhe2048, ...) count as DH, judged by ``dh_param_size`` (the modern profile has
no DH at all). Post-quantum hybrid groups (X25519MLKEM768, ...) postdate 5.7 and are not held against a server.
Not judged here: Heartbleed and CCS injection (scanner.verdicts.tls_vulns), ROBOT (scanner.verdicts.robot), HSTS.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from scanner.model import (
    CertificateInfo,
    Deviation,
    Finding,
    MozillaCompliance,
    ProfileCompliance,
    Severity,
    TlsConfiguration,
)
from scanner.tls.dh_groups import shared_and_weak
from scanner.tls.suites import GROUP_BY_NAME
from scanner.verdicts.mozilla_profiles import GUIDELINES_VERSION, PROFILE_NAMES, PROFILES, Profile
from scanner.verdicts.robot import robot_line
from scanner.verdicts.software import DOVECOT, EXCHANGE, POSTFIX

DEFAULT_PROFILE = "intermediate"


def judge(configuration: TlsConfiguration, certificate: CertificateInfo | None) -> MozillaCompliance:
    profiles = {name: _judge_profile(PROFILES[name], configuration, certificate) for name in PROFILE_NAMES}
    return MozillaCompliance(GUIDELINES_VERSION, profiles["modern"], profiles["intermediate"], profiles["old"])


def deviating_offers(configuration: TlsConfiguration) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """What makes ``configuration`` miss a profile, as offers another server must accept to be judged the same
    (scanner.tls.confirm): ``(version, suites)`` for the suites outside a profile (the newest version holding
    some), ``("groups", groups)`` for the groups outside it. A server that takes one of these misses that profile
    too; an offer that holds another one whole is dropped, since accepting the smaller proves the larger."""
    offers: set[tuple[str, frozenset[str]]] = set()
    groups = [GROUP_BY_NAME[g] for g in configuration.groups if g in GROUP_BY_NAME]
    for name in PROFILE_NAMES:
        p = PROFILES[name]
        for vs in configuration.suites:
            allowed = p.ciphersuites if vs.version == "TLSv1.3" else p.ciphers
            if outside := frozenset(s for s in vs.suites if s not in allowed):
                offers.add((vs.version, outside))
                if vs.version != "TLSv1.3":
                    break  # the older versions' suites are judged together: the newest that misses is enough
        bad = [
            g
            for g in groups
            if (g.kind == "ec" and g.name not in p.tls_curves) or (g.kind == "ff" and not p.dh_param_size)
        ]
        if bad:
            offers.add(("groups", frozenset(g.name for g in bad)))
    kept = [o for o in offers if not any(k == o[0] and other < o[1] for k, other in offers)]
    return tuple(sorted((kind, tuple(sorted(names))) for kind, names in kept))


def _judge_profile(profile: Profile, config: TlsConfiguration, cert: CertificateInfo | None) -> ProfileCompliance:
    found: list[Deviation] = []
    found.extend(_protocol_deviations(profile, config))
    if cert is not None:
        found.extend(_certificate_deviations(profile, cert))
    incomplete = any(u.startswith("enumeration incomplete") for u in config.untested) or cert is None
    if found:
        return ProfileCompliance(False, tuple(found))
    return ProfileCompliance(None if incomplete else True)


def _names(items: Iterable[str]) -> str:
    return ", ".join(sorted(items))


def _protocol_deviations(p: Profile, c: TlsConfiguration) -> list[Deviation]:
    out: list[Deviation] = []
    extra = [v for v in c.versions if v not in p.tls_versions]
    if extra:
        out.append(Deviation("tls_versions", f"accepts {_names(extra)}; the profile allows {_names(p.tls_versions)}"))
    tls13 = {s for vs in c.suites if vs.version == "TLSv1.3" for s in vs.suites}
    if extra13 := tls13 - set(p.ciphersuites):
        out.append(Deviation("ciphersuites", f"TLS 1.3 suites outside the profile: {_names(extra13)}"))
    older = {s for vs in c.suites if vs.version != "TLSv1.3" for s in vs.suites}
    if extra12 := older - set(p.ciphers):
        out.append(Deviation("ciphers", f"suites outside the profile: {_names(extra12)}"))
    groups = [GROUP_BY_NAME[g] for g in c.groups if g in GROUP_BY_NAME]
    curves = [g for g in groups if g.kind == "ec"]
    if extra_curves := [g.name for g in curves if g.name not in p.tls_curves]:
        out.append(
            Deviation(
                "tls_curves", f"groups outside the profile: {_names(extra_curves)}; it lists {', '.join(p.tls_curves)}"
            )
        )
    if curves and (smallest := min(g.bits for g in curves)) < p.ecdh_param_size:
        out.append(Deviation("ecdh_param_size", f"smallest ECDH group {smallest} bits, under {p.ecdh_param_size}"))
    finite = [g for g in groups if g.kind == "ff"]
    if finite and p.dh_param_size is None:
        out.append(
            Deviation(
                "tls_curves",
                f"finite-field DH groups accepted ({_names(g.name for g in finite)}); the profile has no DH",
            )
        )
    sizes = [g.bits for g in finite] + ([c.dh_bits] if c.dh_bits else [])
    if sizes and p.dh_param_size is not None and min(sizes) < p.dh_param_size:
        group = f" ({c.dh_group})" if c.dh_bits == min(sizes) and c.dh_group else ""
        out.append(Deviation("dh_param_size", f"DH parameters of {min(sizes)} bits{group}, under {p.dh_param_size}"))
    if c.compression:
        out.append(Deviation("compression", "TLS compression accepted (CRIME)"))
    if c.secure_renegotiation is False:
        out.append(Deviation("secure_renegotiation", "no RFC 5746 secure renegotiation (renegotiation_info)"))
    if c.extended_master_secret is False:
        out.append(Deviation("extended_master_secret", "no RFC 7627 extended master secret"))
    if c.fallback_scsv is False:
        out.append(
            Deviation("fallback_scsv", "TLS_FALLBACK_SCSV ignored: a downgraded handshake is accepted (RFC 7507)")
        )
    if p.server_preferred_order:
        # The old profile wants the server's order so that a modern client never ends up on one of the weak suites
        # kept for old clients; among intermediate's suites alone the client's choice is harmless (and sslyze does
        # not judge the order at all).
        strong = set(PROFILES["intermediate"].ciphers)
        follows = [
            vs.version
            for vs in c.suites
            if vs.version != "TLSv1.3" and vs.server_order is False and not set(vs.suites) <= strong
        ]
        if follows:
            out.append(
                Deviation(
                    "server_preferred_order",
                    f"follows the client's order among weaker suites in {_names(follows)}",
                )
            )
    return out


def _certificate_deviations(p: Profile, cert: CertificateInfo) -> list[Deviation]:
    out: list[Deviation] = []
    kind = {"RSA": "rsa", "EC": "ecdsa"}.get(cert.key_type, cert.key_type.lower() or "unknown")
    if kind not in p.certificate_types:
        out.append(
            Deviation(
                "certificate_types", f"{cert.key or kind} certificate; the profile wants {_names(p.certificate_types)}"
            )
        )
    if kind == "ecdsa":
        curve = cert.key.partition(" ")[2]
        if curve and curve not in p.certificate_curves:
            out.append(
                Deviation("certificate_curves", f"key on {curve}; the profile wants {_names(p.certificate_curves)}")
            )
    if kind == "rsa" and p.rsa_key_size and cert.key_bits is not None and cert.key_bits < p.rsa_key_size:
        out.append(Deviation("rsa_key_size", f"RSA {cert.key_bits} bits, under {p.rsa_key_size}"))
    if cert.signature_algorithm not in p.certificate_signatures:
        out.append(
            Deviation(
                "certificate_signatures",
                f"signed with {cert.signature_algorithm}; the profile wants {_names(p.certificate_signatures)}",
            )
        )
    lifespan = (cert.not_after - cert.not_before).days
    if lifespan > p.maximum_certificate_lifespan:
        out.append(
            Deviation(
                "maximum_certificate_lifespan",
                f"valid for {lifespan} days, over the profile's {p.maximum_certificate_lifespan}",
            )
        )
    if not cert.trusted:
        out.append(Deviation("certificate_path_validation", f"does not verify ({cert.trust_error or 'untrusted'})"))
    return out


def describe(configuration: TlsConfiguration | None, mozilla: MozillaCompliance | None) -> list[str]:
    """The enumeration and its judgement in plain lines, for the TUI's detail view and the reports."""
    lines: list[str] = []
    if configuration is not None:
        c = configuration
        where = f" (enumerated on port {c.enumerated_on})" if c.enumerated_on is not None else ""
        if c.confirmed_from is not None:
            where += f" (as enumerated on {c.confirmed_from}, confirmed here)"
        lines.append(f"versions: {', '.join(c.versions) or 'none'}{where}")
        for vs in c.suites:
            order = {True: "server's order", False: "follows the client's order", None: ""}[vs.server_order]
            lines.append(f"{vs.version} suites{f' ({order})' if order else ''}: {', '.join(vs.suites)}")
        dh = f"{c.dh_bits} bits{f' ({c.dh_group})' if c.dh_group else ''}" if c.dh_bits else "-"
        lines.append(f"groups: {', '.join(c.groups) or '-'}; DH: {dh}")
        flags = {
            "forward secrecy": c.forward_secrecy,
            "AEAD": c.aead,
            "compression": c.compression,
            "secure renegotiation": c.secure_renegotiation,
            "extended master secret": c.extended_master_secret,
            "TLS_FALLBACK_SCSV": c.fallback_scsv,
        }
        lines.append("; ".join(f"{k}: {_word(v)}" for k, v in flags.items()))
        for label, check in (("Heartbleed", c.heartbleed), ("CCS injection", c.ccs_injection)):
            word = check.verdict.replace("_", " ")
            lines.append(f"{label}: {word} ({check.evidence})" if check.evidence else f"{label}: {word}")
        lines.append(f"cost: {c.handshakes} handshakes, {c.duration_ms} ms")
        if c.robot is not None:
            lines.append(robot_line(c.robot))
        lines.extend(f"not tested: {u}" for u in c.untested)
    if mozilla is not None:
        lines.append(f"Mozilla guidelines {mozilla.guidelines}: {mozilla.summary}")
        for name in PROFILE_NAMES:
            verdict = mozilla.profile(name)
            said = {True: "compliant", False: "not compliant", None: "unknown (enumeration incomplete)"}
            lines.append(f"  {name}: {said[verdict.compliant]}")
            lines.extend(f"    {d.check}: {d.detail}" for d in verdict.deviations)
    return lines


def _word(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


# -- findings ---------------------------------------------------------------------------------------------------

_Fix = Callable[[Profile], tuple[str, str, str]]  # (Exchange, Dovecot, Postfix)
_RESTART = "reboot (SCHANNEL reads these at start)"
_SCHANNEL_NAMES = {"SSLv3": "SSL 3.0", "TLSv1": "TLS 1.0", "TLSv1.1": "TLS 1.1", "TLSv1.2": "TLS 1.2"}


def _fix_versions(p: Profile) -> tuple[str, str, str]:
    off = [label for version, label in _SCHANNEL_NAMES.items() if version not in p.tls_versions]
    exchange = (
        "In HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\<version>\\Server set "
        f"Enabled=0 and DisabledByDefault=1 for {', '.join(off)}; {_RESTART}. TLS 1.3 needs Windows Server 2022 or "
        "later and Exchange Server 2019 CU15 or Exchange SE; "
        + (
            "the modern profile (TLS 1.3 only) is out of Exchange's reach: it needs TLS 1.2 (and Windows Server 2019 "
            "and older have no TLS 1.3), so choose --tls-profile intermediate for Exchange."
            if p.name == "modern"
            else "Windows Server 2019 and older stay on TLS 1.2."
        )
    )
    dovecot = f"ssl_min_protocol = {p.min_version} (Dovecot 2.3 and 2.4), then doveadm reload."
    postfix = (
        f"smtpd_tls_protocols = >={p.min_version} and smtpd_tls_mandatory_protocols = >={p.min_version} (Postfix "
        "3.6 and later; before: list the versions to exclude, e.g. !SSLv2, !SSLv3, !TLSv1, !TLSv1.1), postfix reload."
    )
    return exchange, dovecot, postfix


def _fix_ciphers(p: Profile) -> tuple[str, str, str]:
    if not p.ciphers:
        return (
            "With TLS 1.2 disabled no TLS 1.2 suite is offered (see the protocol versions).",
            f"ssl_min_protocol = {p.min_version} leaves no TLS 1.2 suite; doveadm reload.",
            f"smtpd_tls_protocols = >={p.min_version} and smtpd_tls_mandatory_protocols = >={p.min_version}; "
            "postfix reload.",
        )
    order = "server" if p.server_preferred_order else "client"
    exchange = (
        "Group Policy: Computer Configuration > Administrative Templates > Network > SSL Configuration Settings > "
        f"SSL Cipher Suite Order, listing only {','.join(p.ciphers)} (suites this Windows version lacks are "
        "skipped), or Disable-TlsCipherSuite -Name <suite> for each one outside the list; " + _RESTART + "."
    )
    dovecot = (
        f"ssl_cipher_list = {':'.join(p.openssl_ciphers)} and ssl_prefer_server_ciphers = "
        f"{'yes' if order == 'server' else 'no'} (Dovecot 2.4: ssl_server_prefer_ciphers = {order}); doveadm reload."
    )
    postfix = (
        f"tls_medium_cipherlist = {':'.join(p.openssl_ciphers)}, smtpd_tls_ciphers = medium, "
        f"smtpd_tls_mandatory_ciphers = medium, tls_preempt_cipherlist = {'yes' if order == 'server' else 'no'}; "
        "postfix reload."
    )
    return exchange, dovecot, postfix


def _fix_tls13(p: Profile) -> tuple[str, str, str]:
    suites = ":".join(p.ciphersuites)
    return (
        "Disable-TlsCipherSuite -Name <suite> for each TLS 1.3 suite outside "
        f"{', '.join(p.ciphersuites)} (Windows Server 2022 and later); {_RESTART}.",
        f"ssl_cipher_suites = {suites} (Dovecot 2.3.15 and later, 2.4); doveadm reload.",
        "Postfix has no parameter of its own for TLS 1.3 suites: set Ciphersuites = "
        f"{suites} in the OpenSSL configuration it loads (tls_config_file/tls_config_name in Postfix 3.9 and "
        "later; the system openssl.cnf before); postfix reload.",
    )


def _fix_groups(p: Profile) -> tuple[str, str, str]:
    openssl = ["X25519" if g == "x25519" else "prime256v1" if g == "secp256r1" else g for g in p.tls_curves]
    return (
        "Disable-TlsEccCurve -Name <curve> for each curve outside curve25519, NistP256, NistP384 (or the Group "
        "Policy 'ECC Curve Order' with only those); " + _RESTART + ".",
        f"ssl_curve_list = {':'.join(openssl)}; doveadm reload.",
        f"tls_eecdh_auto_curves = {' '.join(openssl)} and, for the finite-field groups of TLS 1.3, "
        "tls_ffdhe_auto_groups = (empty; Postfix 3.8 and later); postfix reload.",
    )


def _fix_dh(p: Profile) -> tuple[str, str, str]:
    size = p.dh_param_size or 2048
    return (
        "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\KeyExchangeAlgorithms\\"
        f"Diffie-Hellman: ServerMinKeyBitLength = {max(size, 2048)} (DWORD); {_RESTART}. "
        + ("Or disable the DHE suites (the modern profile has none)." if p.dh_param_size is None else ""),
        "ssl_dh = </etc/dovecot/dh.pem holding the RFC 7919 ffdhe2048 group (or openssl dhparam 2048 output); "
        + (
            "for the modern profile drop the DHE suites and groups (ssl_cipher_list, ssl_curve_list). "
            if p.dh_param_size is None
            else ""
        )
        + "doveadm reload.",
        "smtpd_tls_dh1024_param_file = /etc/postfix/ffdhe2048.pem (the name says 1024, any size is read); "
        "postfix reload.",
    )


def _fix_certificate(p: Profile) -> tuple[str, str, str]:
    want = (
        "an ECDSA P-256 or P-384 certificate"
        if p.certificate_types == {"ecdsa"}
        else (
            "an RSA certificate of at least 2048 bits signed with sha256WithRSAEncryption"
            if p.certificate_types == {"rsa"}
            else "an ECDSA P-256/P-384 or RSA 2048-bit (sha256WithRSAEncryption) certificate"
        )
    )
    life = f"valid for at most {p.maximum_certificate_lifespan} days"
    return (
        f"Issue {want}, {life}: New-ExchangeCertificate -GenerateRequest (ECC keys need Exchange 2016 CU23 / "
        "2019 CU12 or later), Import-ExchangeCertificate, Enable-ExchangeCertificate -Services IMAP,POP,SMTP.",
        f"Serve {want}, {life}: ssl_cert/ssl_key (ssl_alt_cert/ssl_alt_key for a second key type); doveadm reload.",
        f"Serve {want}, {life}: smtpd_tls_chain_files = /etc/postfix/key-and-chain.pem (Postfix 3.4 and later); "
        "postfix reload.",
    )


def _fix_stack(_: Profile) -> tuple[str, str, str]:
    return (
        "SCHANNEL never compresses and has done RFC 5746 since 2010 and RFC 7627 since Windows Server 2016; it has "
        "no TLS_FALLBACK_SCSV at all (the deviation goes only with a single protocol version). When this answer is "
        "not SCHANNEL's, look at the load balancer or TLS proxy in front.",
        "Link Dovecot against a supported OpenSSL (1.1.1 or later: no compression, RFC 5746, RFC 7627, RFC 7507); "
        "ssl_options = no_compression on Dovecot 2.2/2.3.",
        "tls_ssl_options = NO_COMPRESSION, NO_RENEGOTIATION with a supported OpenSSL (1.1.1 or later: RFC 5746, "
        "RFC 7627, RFC 7507); postfix reload.",
    )


def _fix_order(p: Profile) -> tuple[str, str, str]:
    return (
        "SCHANNEL always imposes its own order (the SSL Cipher Suite Order policy): check for a proxy in front.",
        "ssl_prefer_server_ciphers = yes (Dovecot 2.4: ssl_server_prefer_ciphers = server); doveadm reload.",
        "tls_preempt_cipherlist = yes; postfix reload.",
    )


_RULES: dict[str, tuple[str, Severity, _Fix]] = {
    # check -> (title, severity, fix)
    "tls_versions": ("TLS versions outside the Mozilla {p} profile", "medium", _fix_versions),
    "ciphers": ("Cipher suites outside the Mozilla {p} profile", "low", _fix_ciphers),
    "ciphersuites": ("TLS 1.3 suites outside the Mozilla {p} profile", "low", _fix_tls13),
    "tls_curves": ("Key-exchange groups outside the Mozilla {p} profile", "low", _fix_groups),
    "ecdh_param_size": ("ECDH groups smaller than the Mozilla {p} profile allows", "low", _fix_groups),
    "dh_param_size": ("DH parameters smaller than the Mozilla {p} profile allows", "medium", _fix_dh),
    "certificate_types": ("Certificate key type outside the Mozilla {p} profile", "low", _fix_certificate),
    "certificate_curves": ("Certificate curve outside the Mozilla {p} profile", "low", _fix_certificate),
    "rsa_key_size": ("RSA key smaller than the Mozilla {p} profile allows", "medium", _fix_certificate),
    "certificate_signatures": ("Certificate signature outside the Mozilla {p} profile", "low", _fix_certificate),
    "maximum_certificate_lifespan": ("Certificate lifespan over the Mozilla {p} profile's", "low", _fix_certificate),
    "compression": ("TLS compression accepted", "medium", _fix_stack),
    "secure_renegotiation": ("No secure renegotiation (RFC 5746)", "medium", _fix_stack),
    "extended_master_secret": ("No extended master secret (RFC 7627)", "low", _fix_stack),
    "fallback_scsv": ("TLS_FALLBACK_SCSV not honoured", "low", _fix_stack),
    "server_preferred_order": ("Server does not impose its cipher order (Mozilla {p} profile)", "low", _fix_order),
}  # fmt: skip
# Deviations another finding already reports with its own fix: certificate trust (cert-untrusted and its kin).
_COVERED = frozenset({"certificate_path_validation"})
_WEAK = ("_RC4_", "_3DES_", "_DES_", "_NULL_", "EXPORT", "_anon_", "_IDEA_", "_SEED_", "_MD5")


def profile_findings(compliance: MozillaCompliance, profile: str, software: str | None) -> list[Finding]:
    """One finding per deviation from ``profile``, its fix for the server's software (all three when unknown)."""
    chosen = compliance.profile(profile)
    p = PROFILES[profile]
    findings = []
    for deviation in chosen.deviations:
        if deviation.check in _COVERED or deviation.check not in _RULES:
            continue
        title, severity, fix = _RULES[deviation.check]
        level: Severity = "high" if _worse(deviation) else severity
        detail = (
            f"{deviation.detail}. Mozilla's server-side TLS guidelines {compliance.guidelines}, {profile} profile "
            f"(oldest clients it serves: {p.oldest_clients})."
        )
        findings.append(
            Finding(
                f"tls-mozilla-{deviation.check.replace('_', '-')}",
                level,
                title.format(p=profile),
                detail,
                _for(fix(p), software),
            )
        )
    return findings


def shared_prime_finding(configuration: TlsConfiguration, software: str | None) -> Finding | None:
    """A finding when the DHE prime is a standard group of 1024 bits or fewer, whatever the profile: the Logjam
    paper showed one precomputation for such a prime breaks the DHE of every server that uses it (RFC 2409's Oakley
    group 2 above all). Mozilla's old profile allows 1024-bit DH, so this is not a profile deviation."""
    if not shared_and_weak(configuration.dh_group):
        return None
    return Finding(
        "tls-dh-shared-prime",
        "high" if (configuration.dh_bits or 0) < 1024 else "medium",
        "DHE uses a widely shared 1024-bit prime (Logjam)",
        f"The server's DHE suites use {configuration.dh_group}, a standard {configuration.dh_bits}-bit group that "
        "many servers share: one precomputation lets an attacker who can afford it read the DHE key exchanges of "
        "all of them (Logjam, weakdh.org). A 2048-bit group (RFC 7919 ffdhe2048) or ECDHE alone avoids it.",
        _for(_fix_dh(PROFILES["intermediate"]), software),
    )


# Suites a published attack breaks, by a mark in their IANA name, with the attack: reported whatever the profile
# (Mozilla's old profile keeps 3DES for Windows XP's browsers; SWEET32 still applies to them).
_ATTACKS = (
    ("_RC4_", "RC4 (biases recover plaintext; RFC 7465 forbids it)", "high"),
    ("EXPORT", "export-grade keys (FREAK, Logjam)", "high"),
    ("_NULL_", "no encryption at all", "high"),
    ("_anon_", "no server authentication (anyone on the path can stand in for the server)", "high"),
    ("_DES_CBC_", "single DES (a 56-bit key)", "high"),
    ("_3DES_", "64-bit blocks (SWEET32)", "medium"),
    ("_IDEA_", "64-bit blocks (SWEET32)", "medium"),
)


def attack_suites_finding(configuration: TlsConfiguration, profile: str, software: str | None) -> Finding | None:
    """A finding for accepted suites a known attack breaks that ``profile`` allows; those outside it are already
    the profile's ``ciphers`` deviation (high). So no choice of profile turns such a suite into an all-clear."""
    allowed = set(PROFILES[profile].ciphers)
    hits: dict[str, list[str]] = {}
    worst: Severity = "medium"
    for vs in configuration.suites:
        for suite in vs.suites:
            for mark, attack, severity in _ATTACKS:
                if mark in suite and suite in allowed:
                    hits.setdefault(attack, []).append(f"{suite} ({vs.version})")
                    worst = "high" if severity == "high" else worst
                    break
    if not hits:
        return None
    said = "; ".join(f"{attack}: {', '.join(sorted(set(suites)))}" for attack, suites in hits.items())
    return Finding(
        "tls-known-attack-suites",
        worst,
        "Suites a known attack breaks are accepted",
        f"{said}. The {profile} profile of Mozilla's guidelines allows them for the oldest clients it serves; the "
        "attack applies all the same to any client that ends up on them.",
        _for(_fix_ciphers(PROFILES["intermediate"]), software),
    )


def _worse(deviation: Deviation) -> bool:
    """SSL 3.0, or a suite that is broken outright (RC4, DES, NULL, export, anonymous): worse than a profile miss."""
    if deviation.check == "tls_versions":
        return "SSLv3" in deviation.detail
    return deviation.check == "ciphers" and any(mark in deviation.detail for mark in _WEAK)


def _for(fix: tuple[str, str, str], software: str | None) -> str:
    exchange, dovecot, postfix = fix
    if software == EXCHANGE:
        return exchange
    if software == DOVECOT:
        return dovecot
    if software == POSTFIX:
        return postfix
    return f"Exchange: {exchange} Dovecot: {dovecot} Postfix: {postfix}"
