"""Mozilla profile judgement (scanner.verdicts.tls_profile): pure rules over an enumerated configuration."""

from __future__ import annotations

import dataclasses
import datetime as dt

from scanner.model import CertificateInfo, EndpointResult, TlsConfiguration, TlsInfo, VersionSuites
from scanner.verdicts.mozilla_profiles import PROFILES
from scanner.verdicts.tls_profile import deviating_offers, judge, profile_findings

_TLS13 = VersionSuites("TLSv1.3", ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"))
_GOOD = dict(
    compression=False, secure_renegotiation=True, extended_master_secret=True, forward_secrecy="all", aead="all"
)


def _cert(key: str = "EC secp256r1", signature: str = "ecdsa-with-SHA256", days: int = 90) -> CertificateInfo:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    kind, _, size = key.partition(" ")
    return CertificateInfo(
        subject="CN=mail.example.test",
        issuer="CN=Example CA",
        sans=("DNS:mail.example.test",),
        not_before=start,
        not_after=start + dt.timedelta(days=days),
        days_left=30,
        sha256="00",
        key=key,
        signature_algorithm=signature,
        chain_length=2,
        trusted=True,
        trust_store="system",
        trust_error=None,
        self_signed=False,
        exchange_default=False,
        name_match=True,
        names_checked=("mail.example.test",),
        key_type=kind,
        key_bits=256 if kind == "EC" else int(size),
    )


def _checks(config: TlsConfiguration, cert: CertificateInfo, profile: str) -> set[str]:
    return {d.check for d in judge(config, cert).profile(profile).deviations}


def test_tls13_only_with_an_ecdsa_certificate_meets_every_profile_but_old_and_says_modern() -> None:
    config = TlsConfiguration(versions=("TLSv1.3",), suites=(_TLS13,), groups=("x25519", "secp256r1"), **_GOOD)
    verdict = judge(config, _cert())
    assert verdict.guidelines == "5.7"
    assert verdict.modern.compliant is True and verdict.intermediate.compliant is True
    assert verdict.old.compliant is False  # old wants an RSA certificate
    assert {d.check for d in verdict.old.deviations} == {"certificate_types", "certificate_signatures"}
    assert verdict.summary == "modern"


def test_intermediate_server() -> None:
    tls12 = VersionSuites(
        "TLSv1.2", ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384"), False
    )
    config = TlsConfiguration(
        versions=("TLSv1.2", "TLSv1.3"), suites=(_TLS13, tls12), groups=("x25519",), dh_bits=2048, **_GOOD
    )
    cert = _cert("RSA 2048", "sha256WithRSAEncryption", days=365)
    verdict = judge(config, cert)
    assert verdict.intermediate.compliant is True
    assert _checks(config, cert, "modern") == {
        "tls_versions", "ciphers", "certificate_types", "certificate_signatures", "maximum_certificate_lifespan"
    }  # fmt: skip
    assert verdict.summary == "intermediate"
    small_dh = dataclasses.replace(config, dh_bits=1024)
    assert _checks(small_dh, cert, "intermediate") == {"dh_param_size"}
    assert judge(small_dh, cert).old.compliant is True  # 1024 is enough for old; among intermediate's suites
    # alone the client's order is harmless (the server follows it here)


def test_old_profile_wants_the_server_order_and_allows_tls10_and_rsa_key_exchange() -> None:
    tls10 = VersionSuites("TLSv1", ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_AES_128_CBC_SHA"), True)
    config = TlsConfiguration(versions=("TLSv1",), suites=(tls10,), groups=("secp256r1",), dh_bits=1024, **_GOOD)
    cert = _cert("RSA 2048", "sha256WithRSAEncryption", days=365)
    assert judge(config, cert).old.compliant is True
    client_order = dataclasses.replace(config, suites=(dataclasses.replace(tls10, server_order=False),))
    assert _checks(client_order, cert, "old") == {"server_preferred_order"}
    assert _checks(client_order, cert, "intermediate") == {"tls_versions", "ciphers", "dh_param_size"}


def test_groups_curves_and_finite_field_groups() -> None:
    config = TlsConfiguration(
        versions=("TLSv1.3",),
        suites=(_TLS13,),
        groups=("x25519", "secp521r1", "secp224r1", "ffdhe2048", "X25519MLKEM768"),
        **_GOOD,
    )
    modern = judge(config, _cert()).modern
    details = [d.detail for d in modern.deviations]
    assert any("groups outside the profile: secp224r1, secp521r1;" in d for d in details)
    assert any("smallest ECDH group 224 bits, under 256" in d for d in details)
    assert any("finite-field" in d.detail for d in modern.deviations)  # modern has no DH at all
    assert "X25519MLKEM768" not in str(modern.deviations)  # post-quantum hybrids are not held against a server
    intermediate = judge(config, _cert()).intermediate
    assert not any("finite-field" in d.detail for d in intermediate.deviations)  # ffdhe2048 meets 2048


def test_stack_properties_and_an_incomplete_enumeration() -> None:
    config = TlsConfiguration(
        versions=("TLSv1.2",),
        suites=(VersionSuites("TLSv1.2", ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",)),),
        compression=True,
        secure_renegotiation=False,
        extended_master_secret=False,
        fallback_scsv=False,
    )
    cert = _cert("RSA 2048", "sha256WithRSAEncryption", days=365)
    assert _checks(config, cert, "intermediate") == {
        "compression", "secure_renegotiation", "extended_master_secret", "fallback_scsv"
    }  # fmt: skip
    clean = TlsConfiguration(
        versions=("TLSv1.2",),
        suites=config.suites,
        untested=("enumeration incomplete: the server refused 4 connections in a row",),
        **_GOOD,
    )
    verdict = judge(clean, cert)
    assert verdict.intermediate.compliant is None  # nothing found, but not everything was asked
    assert verdict.summary == "unknown"


def test_findings_name_the_profile_and_the_fix_for_each_server() -> None:
    tls10 = VersionSuites("TLSv1", ("TLS_RSA_WITH_RC4_128_SHA",))
    config = TlsConfiguration(versions=("TLSv1", "TLSv1.2"), suites=(tls10,), **_GOOD)
    verdict = judge(config, _cert("RSA 2048", "sha256WithRSAEncryption", days=365))
    found = {f.id: f for f in profile_findings(verdict, "intermediate", "Dovecot")}
    assert set(found) == {"tls-mozilla-tls-versions", "tls-mozilla-ciphers"}
    assert found["tls-mozilla-ciphers"].severity == "high"  # RC4: broken, worse than a profile miss
    assert "ssl_min_protocol = TLSv1.2" in found["tls-mozilla-tls-versions"].remediation
    assert "5.7, intermediate profile" in found["tls-mozilla-ciphers"].detail
    exchange = profile_findings(verdict, "intermediate", "Microsoft Exchange")[0].remediation
    assert "SCHANNEL\\Protocols" in exchange and "TLS 1.0, TLS 1.1" in exchange
    postfix = profile_findings(verdict, "intermediate", "Postfix")[0].remediation
    assert "smtpd_tls_protocols = >=TLSv1.2" in postfix
    unknown = profile_findings(verdict, "intermediate", None)[1].remediation
    assert unknown.startswith("Exchange: ") and " Dovecot: " in unknown and " Postfix: " in unknown
    modern_fix = profile_findings(verdict, "modern", "Microsoft Exchange")[0].remediation
    assert "out of Exchange's reach" in modern_fix


def test_the_untrusted_certificate_is_a_deviation_but_not_a_second_finding() -> None:
    config = TlsConfiguration(versions=("TLSv1.3",), suites=(_TLS13,), groups=("x25519",), **_GOOD)
    untrusted = dataclasses.replace(_cert(), trusted=False, trust_error="self-signed")
    verdict = judge(config, untrusted)
    assert verdict.modern.compliant is False
    assert [d.check for d in verdict.modern.deviations] == ["certificate_path_validation"]
    assert profile_findings(verdict, "modern", None) == []  # cert-untrusted/cert-self-signed already say it


def test_profiles_hold_the_5_7_data() -> None:
    assert len(PROFILES["intermediate"].ciphers) == 9 and len(PROFILES["old"].ciphers) == 26
    assert len(PROFILES["old"].openssl_ciphers) == 26
    assert PROFILES["modern"].ciphers == () and PROFILES["modern"].tls_versions == {"TLSv1.3"}
    assert set(PROFILES["intermediate"].ciphers) < set(PROFILES["old"].ciphers)


def test_the_judgement_survives_the_json_round_trip() -> None:
    config = TlsConfiguration(versions=("TLSv1.3",), suites=(_TLS13,), groups=("x25519",), **_GOOD)
    tls = TlsInfo("TLSv1.3", "TLS_AES_128_GCM_SHA256", _cert(), configuration=config, mozilla=judge(config, _cert()))
    row = EndpointResult("h", "127.0.0.2", None, 993, "imap", "implicit", "open", tls=tls)
    again = EndpointResult.from_json(row.to_json())
    assert again.tls == tls
    assert '"summary":"modern"' in row.to_json()


def test_deviating_offers_keep_the_smallest_set_that_proves_each_miss() -> None:
    """What another server must accept to be judged as this one (scanner.tls.confirm): the suites outside old are
    inside the ones outside intermediate, so accepting one of them proves both misses; likewise the groups."""
    config = TlsConfiguration(
        versions=("TLSv1.2", "TLSv1.3"),
        suites=(
            VersionSuites("TLSv1.3", ("TLS_AES_256_GCM_SHA384", "TLS_AES_128_CCM_SHA256"), True),
            VersionSuites(
                "TLSv1.2",
                (
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",  # outside intermediate, inside old
                    "TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256",  # outside both
                ),
                True,
            ),
        ),
        groups=("x25519", "secp256r1", "x448", "ffdhe2048"),
    )
    assert deviating_offers(config) == (
        ("TLSv1.2", ("TLS_ECDHE_RSA_WITH_ARIA_128_GCM_SHA256",)),
        ("TLSv1.3", ("TLS_AES_128_CCM_SHA256",)),
        ("groups", ("x448",)),  # modern's miss (x448 and ffdhe2048) is proved by x448 alone
    )
    compliant = TlsConfiguration(
        versions=("TLSv1.3",), suites=(VersionSuites("TLSv1.3", ("TLS_AES_128_GCM_SHA256",), None),), groups=("x25519",)
    )
    assert deviating_offers(compliant) == ()


def test_suites_a_known_attack_breaks_are_a_finding_whatever_profile_allows_them() -> None:
    """Mozilla's old profile keeps 3DES for Windows XP: a server judged against it still hears of SWEET32. Against a
    profile that excludes the suite the deviation finding says it already (high), so no second finding."""
    from scanner.verdicts.tls_profile import attack_suites_finding

    tls12 = VersionSuites("TLSv1.2", ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"), True)
    config = TlsConfiguration(versions=("TLSv1.2",), suites=(tls12,), **_GOOD)
    old = attack_suites_finding(config, "old", "Dovecot")
    assert old is not None and old.id == "tls-known-attack-suites" and old.severity == "medium"
    assert "SWEET32" in old.detail and "TLS_RSA_WITH_3DES_EDE_CBC_SHA (TLSv1.2)" in old.detail
    assert "ssl_cipher_list = " in old.remediation
    assert _checks(config, _cert("RSA 2048", "sha256WithRSAEncryption", days=365), "old") == set()  # compliant
    assert attack_suites_finding(config, "intermediate", "Dovecot") is None
    high = {f.id: f.severity for f in profile_findings(judge(config, None), "intermediate", "Dovecot")}
    assert high["tls-mozilla-ciphers"] == "high"
    clean = TlsConfiguration(versions=("TLSv1.2",), suites=(VersionSuites("TLSv1.2", tls12.suites[:1], True),))
    assert attack_suites_finding(clean, "old", None) is None
