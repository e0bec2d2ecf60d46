"""Mozilla's server-side TLS guidelines, version 5.7: the three profiles as data (facts of the published JSON,
https://ssl-config.mozilla.org/guidelines/5.7.json), in the names mailprobe uses (IANA suite and group names).

Only what can be judged from a mail client's side is kept: HSTS and OCSP stapling are left out (no HTTP; stapling
is not judged by sslyze's checker either).
"""

from __future__ import annotations

from dataclasses import dataclass

GUIDELINES_VERSION = "5.7"
PROFILE_NAMES: tuple[str, ...] = ("modern", "intermediate", "old")


@dataclass(frozen=True)
class Profile:
    name: str
    tls_versions: frozenset[str]
    ciphersuites: tuple[str, ...]  # TLS 1.3, IANA names
    ciphers: tuple[str, ...]  # TLS 1.2 and older, IANA names, in the recommended order
    openssl_ciphers: tuple[str, ...]  # the same in OpenSSL's names (Dovecot's ssl_cipher_list, Postfix)
    tls_curves: tuple[str, ...]  # IANA group names
    dh_param_size: int | None  # None: no finite-field DH at all
    ecdh_param_size: int
    certificate_types: frozenset[str]  # "ecdsa", "rsa"
    certificate_curves: frozenset[str]
    certificate_signatures: frozenset[str]
    rsa_key_size: int | None
    maximum_certificate_lifespan: int  # days
    server_preferred_order: bool
    oldest_clients: str
    min_version: str  # the oldest version allowed, as Dovecot and Postfix spell it


_TLS13 = ("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256")
_CURVES = ("x25519", "secp256r1", "secp384r1")  # Mozilla: X25519, prime256v1, secp384r1
_CERT_CURVES = frozenset({"secp256r1", "secp384r1"})  # Mozilla: prime256v1, secp384r1
_ECDSA_SIGS = frozenset({"ecdsa-with-SHA256", "ecdsa-with-SHA384", "ecdsa-with-SHA512"})

_INTERMEDIATE_IANA = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)  # fmt: skip
_INTERMEDIATE_OPENSSL = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "DHE-RSA-AES128-GCM-SHA256", "DHE-RSA-AES256-GCM-SHA384", "DHE-RSA-CHACHA20-POLY1305",
)  # fmt: skip
_OLD_IANA = (
    *_INTERMEDIATE_IANA[:6],
    "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "TLS_DHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "TLS_RSA_WITH_AES_128_GCM_SHA256", "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256", "TLS_RSA_WITH_AES_256_CBC_SHA256", "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
)  # fmt: skip
_OLD_OPENSSL = (
    *_INTERMEDIATE_OPENSSL,
    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA384", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA",
    "DHE-RSA-AES128-SHA256", "DHE-RSA-AES256-SHA256", "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA256",
    "AES256-SHA256", "AES128-SHA", "AES256-SHA", "DES-CBC3-SHA",
)  # fmt: skip

PROFILES: dict[str, Profile] = {
    "modern": Profile(
        name="modern",
        tls_versions=frozenset({"TLSv1.3"}),
        ciphersuites=_TLS13,
        ciphers=(),
        openssl_ciphers=(),
        tls_curves=_CURVES,
        dh_param_size=None,
        ecdh_param_size=256,
        certificate_types=frozenset({"ecdsa"}),
        certificate_curves=_CERT_CURVES,
        certificate_signatures=_ECDSA_SIGS,
        rsa_key_size=None,
        maximum_certificate_lifespan=90,
        server_preferred_order=False,
        oldest_clients="Firefox 63, Android 10.0, Chrome 70, Edge 75, Java 11, OpenSSL 1.1.1, Opera 57, Safari 12.1",
        min_version="TLSv1.3",
    ),
    "intermediate": Profile(
        name="intermediate",
        tls_versions=frozenset({"TLSv1.2", "TLSv1.3"}),
        ciphersuites=_TLS13,
        ciphers=_INTERMEDIATE_IANA,
        openssl_ciphers=_INTERMEDIATE_OPENSSL,
        tls_curves=_CURVES,
        dh_param_size=2048,
        ecdh_param_size=256,
        certificate_types=frozenset({"ecdsa", "rsa"}),
        certificate_curves=_CERT_CURVES,
        certificate_signatures=frozenset({"sha256WithRSAEncryption"}) | _ECDSA_SIGS,
        rsa_key_size=2048,
        maximum_certificate_lifespan=366,
        server_preferred_order=False,
        oldest_clients="Firefox 27, Android 4.4.2, Chrome 31, Edge, IE 11 on Windows 7, Java 8u31, OpenSSL 1.0.1, "
        "Opera 20, Safari 9",
        min_version="TLSv1.2",
    ),
    "old": Profile(
        name="old",
        tls_versions=frozenset({"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"}),
        ciphersuites=_TLS13,
        ciphers=_OLD_IANA,
        openssl_ciphers=_OLD_OPENSSL,
        tls_curves=_CURVES,
        dh_param_size=1024,
        ecdh_param_size=256,
        certificate_types=frozenset({"rsa"}),
        certificate_curves=_CERT_CURVES,
        certificate_signatures=frozenset({"sha256WithRSAEncryption"}),
        rsa_key_size=2048,
        maximum_certificate_lifespan=366,
        server_preferred_order=True,
        oldest_clients="Firefox 1, Android 2.3, Chrome 1, Edge 12, IE8 on Windows XP, Java 6, OpenSSL 0.9.8, "
        "Opera 5, Safari 1",
        min_version="TLSv1",
    ),
}
