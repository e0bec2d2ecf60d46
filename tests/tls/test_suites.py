"""The suite table mailprobe offers: every suite testssl.sh 3.0 asks for (besides PSK, SRP, Kerberos, GOST and a
few experiments), with the properties the judgement derives from the name."""

from __future__ import annotations

import re

from scanner.tls.suites import (
    LEGACY_SUITES,
    SUITE_CODES,
    SUITE_NAMES,
    aead,
    ephemeral_dh,
    ephemeral_ec,
    forward_secret,
    key_exchange,
)
from scanner.verdicts.tls_profile import _WEAK

_NAME = re.compile(r"TLS_(ECDHE|DHE|ECDH|DH|RSA)(_anon|_ECDSA|_RSA|_DSS)?(_EXPORT1024|_EXPORT)?_WITH_\w+")


def test_names_are_unique_and_shaped_as_iana_names() -> None:
    assert len(SUITE_CODES) == len(SUITE_NAMES)
    for code, name in LEGACY_SUITES.items():
        assert _NAME.fullmatch(name), (hex(code), name)


def test_the_suites_testssl_asks_beyond_the_openssl_3_ones_are_offered() -> None:
    # GnuTLS's CAMELLIA-GCM, ARIA-CBC, static DH with SHA-256, the EXPORT1024 and pre-RFC ChaCha20 code points:
    # a server accepting one of them besides profile suites would otherwise look compliant.
    expected = {
        0xC08A: "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256",
        0xC07C: "TLS_DHE_RSA_WITH_CAMELLIA_128_GCM_SHA256",
        0xC07A: "TLS_RSA_WITH_CAMELLIA_128_GCM_SHA256",
        0xC04C: "TLS_ECDHE_RSA_WITH_ARIA_128_CBC_SHA256",
        0xC03C: "TLS_RSA_WITH_ARIA_128_CBC_SHA256",
        0x003F: "TLS_DH_RSA_WITH_AES_128_CBC_SHA256",
        0x0066: "TLS_DHE_DSS_WITH_RC4_128_SHA",
        0x0062: "TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA",
        0xCC13: "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD",
        0xC001: "TLS_ECDH_ECDSA_WITH_NULL_SHA",
    }
    assert {code: LEGACY_SUITES.get(code) for code in expected} == expected
    assert len(LEGACY_SUITES) == 228


def test_properties_of_the_added_suites() -> None:
    assert forward_secret("TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256") and aead(
        "TLS_ECDHE_RSA_WITH_CAMELLIA_128_GCM_SHA256"
    )
    assert ephemeral_ec("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD")
    assert aead("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256_OLD")
    assert key_exchange("TLS_DH_RSA_WITH_AES_128_CBC_SHA256") == "DH"
    assert not forward_secret("TLS_DH_RSA_WITH_AES_128_CBC_SHA256")
    assert ephemeral_dh("TLS_DHE_DSS_EXPORT1024_WITH_DES_CBC_SHA")
    assert not aead("TLS_RSA_WITH_ARIA_128_CBC_SHA256")
    # Broken ones are judged as such (a high finding when a profile's ciphers check names them).
    for name in ("TLS_RSA_EXPORT1024_WITH_RC2_56_MD5", "TLS_DHE_DSS_WITH_RC4_128_SHA", "TLS_ECDH_RSA_WITH_NULL_SHA",
                 "TLS_DH_anon_WITH_ARIA_128_GCM_SHA256", "TLS_DH_DSS_WITH_SEED_CBC_SHA"):  # fmt: skip
        assert any(mark in name for mark in _WEAK), name
