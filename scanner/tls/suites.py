"""Cipher suites and key-exchange groups mailprobe offers when it enumerates a server's TLS configuration.

Names are IANA's (as Mozilla's guidelines list them in ``ciphers.iana`` and ``ciphersuites``), codes are the two
bytes of the ClientHello. The properties a judgement needs (forward secrecy, AEAD, the key exchange) follow from the
name, so they are derived, not typed in twice. PSK, SRP, Kerberos and GOST suites are left out: a server only
selects them for clients holding their secrets.
"""

from __future__ import annotations

from dataclasses import dataclass

TLS13_SUITES: dict[int, str] = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0x1304: "TLS_AES_128_CCM_SHA256",
    0x1305: "TLS_AES_128_CCM_8_SHA256",
}

# TLS 1.2 and older, strongest first (the order a client prefers; a server that follows the client's order picks
# from the top).
_LEGACY_TABLE = """
C02C ECDHE_ECDSA_WITH_AES_256_GCM_SHA384   C030 ECDHE_RSA_WITH_AES_256_GCM_SHA384
C02B ECDHE_ECDSA_WITH_AES_128_GCM_SHA256   C02F ECDHE_RSA_WITH_AES_128_GCM_SHA256
CCA9 ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256   CCA8 ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
009F DHE_RSA_WITH_AES_256_GCM_SHA384   009E DHE_RSA_WITH_AES_128_GCM_SHA256   CCAA DHE_RSA_WITH_CHACHA20_POLY1305_SHA256
00A3 DHE_DSS_WITH_AES_256_GCM_SHA384   00A2 DHE_DSS_WITH_AES_128_GCM_SHA256
C0AD ECDHE_ECDSA_WITH_AES_256_CCM   C0AC ECDHE_ECDSA_WITH_AES_128_CCM   C0AF ECDHE_ECDSA_WITH_AES_256_CCM_8
C0AE ECDHE_ECDSA_WITH_AES_128_CCM_8   C09F DHE_RSA_WITH_AES_256_CCM   C09E DHE_RSA_WITH_AES_128_CCM
C0A3 DHE_RSA_WITH_AES_256_CCM_8   C0A2 DHE_RSA_WITH_AES_128_CCM_8
C05D ECDHE_ECDSA_WITH_ARIA_256_GCM_SHA384   C05C ECDHE_ECDSA_WITH_ARIA_128_GCM_SHA256
C061 ECDHE_RSA_WITH_ARIA_256_GCM_SHA384   C060 ECDHE_RSA_WITH_ARIA_128_GCM_SHA256
C053 DHE_RSA_WITH_ARIA_256_GCM_SHA384   C052 DHE_RSA_WITH_ARIA_128_GCM_SHA256
C057 DHE_DSS_WITH_ARIA_256_GCM_SHA384   C056 DHE_DSS_WITH_ARIA_128_GCM_SHA256
C024 ECDHE_ECDSA_WITH_AES_256_CBC_SHA384   C028 ECDHE_RSA_WITH_AES_256_CBC_SHA384
C023 ECDHE_ECDSA_WITH_AES_128_CBC_SHA256   C027 ECDHE_RSA_WITH_AES_128_CBC_SHA256
006B DHE_RSA_WITH_AES_256_CBC_SHA256   0067 DHE_RSA_WITH_AES_128_CBC_SHA256
006A DHE_DSS_WITH_AES_256_CBC_SHA256   0040 DHE_DSS_WITH_AES_128_CBC_SHA256
C073 ECDHE_ECDSA_WITH_CAMELLIA_256_CBC_SHA384   C072 ECDHE_ECDSA_WITH_CAMELLIA_128_CBC_SHA256
C077 ECDHE_RSA_WITH_CAMELLIA_256_CBC_SHA384   C076 ECDHE_RSA_WITH_CAMELLIA_128_CBC_SHA256
00C4 DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256   00BE DHE_RSA_WITH_CAMELLIA_128_CBC_SHA256
00C3 DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256   00BD DHE_DSS_WITH_CAMELLIA_128_CBC_SHA256
C00A ECDHE_ECDSA_WITH_AES_256_CBC_SHA   C014 ECDHE_RSA_WITH_AES_256_CBC_SHA
C009 ECDHE_ECDSA_WITH_AES_128_CBC_SHA   C013 ECDHE_RSA_WITH_AES_128_CBC_SHA
0039 DHE_RSA_WITH_AES_256_CBC_SHA   0033 DHE_RSA_WITH_AES_128_CBC_SHA
0038 DHE_DSS_WITH_AES_256_CBC_SHA   0032 DHE_DSS_WITH_AES_128_CBC_SHA
0088 DHE_RSA_WITH_CAMELLIA_256_CBC_SHA   0045 DHE_RSA_WITH_CAMELLIA_128_CBC_SHA
0087 DHE_DSS_WITH_CAMELLIA_256_CBC_SHA   0044 DHE_DSS_WITH_CAMELLIA_128_CBC_SHA
009A DHE_RSA_WITH_SEED_CBC_SHA   0099 DHE_DSS_WITH_SEED_CBC_SHA
C008 ECDHE_ECDSA_WITH_3DES_EDE_CBC_SHA   C012 ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
0016 DHE_RSA_WITH_3DES_EDE_CBC_SHA   0013 DHE_DSS_WITH_3DES_EDE_CBC_SHA
C007 ECDHE_ECDSA_WITH_RC4_128_SHA   C011 ECDHE_RSA_WITH_RC4_128_SHA
009D RSA_WITH_AES_256_GCM_SHA384   009C RSA_WITH_AES_128_GCM_SHA256   C09D RSA_WITH_AES_256_CCM
C09C RSA_WITH_AES_128_CCM   C0A1 RSA_WITH_AES_256_CCM_8   C0A0 RSA_WITH_AES_128_CCM_8
C051 RSA_WITH_ARIA_256_GCM_SHA384   C050 RSA_WITH_ARIA_128_GCM_SHA256
003D RSA_WITH_AES_256_CBC_SHA256   003C RSA_WITH_AES_128_CBC_SHA256
00C0 RSA_WITH_CAMELLIA_256_CBC_SHA256   00BA RSA_WITH_CAMELLIA_128_CBC_SHA256
0035 RSA_WITH_AES_256_CBC_SHA   002F RSA_WITH_AES_128_CBC_SHA
0084 RSA_WITH_CAMELLIA_256_CBC_SHA   0041 RSA_WITH_CAMELLIA_128_CBC_SHA
0096 RSA_WITH_SEED_CBC_SHA   0007 RSA_WITH_IDEA_CBC_SHA   000A RSA_WITH_3DES_EDE_CBC_SHA
0005 RSA_WITH_RC4_128_SHA   0004 RSA_WITH_RC4_128_MD5
C032 ECDH_RSA_WITH_AES_256_GCM_SHA384   C031 ECDH_RSA_WITH_AES_128_GCM_SHA256
C02E ECDH_ECDSA_WITH_AES_256_GCM_SHA384   C02D ECDH_ECDSA_WITH_AES_128_GCM_SHA256
C02A ECDH_RSA_WITH_AES_256_CBC_SHA384   C029 ECDH_RSA_WITH_AES_128_CBC_SHA256
C026 ECDH_ECDSA_WITH_AES_256_CBC_SHA384   C025 ECDH_ECDSA_WITH_AES_128_CBC_SHA256
C00F ECDH_RSA_WITH_AES_256_CBC_SHA   C00E ECDH_RSA_WITH_AES_128_CBC_SHA
C005 ECDH_ECDSA_WITH_AES_256_CBC_SHA   C004 ECDH_ECDSA_WITH_AES_128_CBC_SHA
C00D ECDH_RSA_WITH_3DES_EDE_CBC_SHA   C003 ECDH_ECDSA_WITH_3DES_EDE_CBC_SHA
C00C ECDH_RSA_WITH_RC4_128_SHA   C002 ECDH_ECDSA_WITH_RC4_128_SHA
00A1 DH_RSA_WITH_AES_256_GCM_SHA384   00A0 DH_RSA_WITH_AES_128_GCM_SHA256
00A5 DH_DSS_WITH_AES_256_GCM_SHA384   00A4 DH_DSS_WITH_AES_128_GCM_SHA256
0037 DH_RSA_WITH_AES_256_CBC_SHA   0031 DH_RSA_WITH_AES_128_CBC_SHA
0036 DH_DSS_WITH_AES_256_CBC_SHA   0030 DH_DSS_WITH_AES_128_CBC_SHA
0010 DH_RSA_WITH_3DES_EDE_CBC_SHA   000D DH_DSS_WITH_3DES_EDE_CBC_SHA
0015 DHE_RSA_WITH_DES_CBC_SHA   0012 DHE_DSS_WITH_DES_CBC_SHA   0009 RSA_WITH_DES_CBC_SHA
0014 DHE_RSA_EXPORT_WITH_DES40_CBC_SHA   0011 DHE_DSS_EXPORT_WITH_DES40_CBC_SHA
0008 RSA_EXPORT_WITH_DES40_CBC_SHA   0006 RSA_EXPORT_WITH_RC2_CBC_40_MD5   0003 RSA_EXPORT_WITH_RC4_40_MD5
00A7 DH_anon_WITH_AES_256_GCM_SHA384   00A6 DH_anon_WITH_AES_128_GCM_SHA256
006D DH_anon_WITH_AES_256_CBC_SHA256   006C DH_anon_WITH_AES_128_CBC_SHA256
003A DH_anon_WITH_AES_256_CBC_SHA   0034 DH_anon_WITH_AES_128_CBC_SHA
0089 DH_anon_WITH_CAMELLIA_256_CBC_SHA   0046 DH_anon_WITH_CAMELLIA_128_CBC_SHA
00C5 DH_anon_WITH_CAMELLIA_256_CBC_SHA256   00BF DH_anon_WITH_CAMELLIA_128_CBC_SHA256
001B DH_anon_WITH_3DES_EDE_CBC_SHA   0018 DH_anon_WITH_RC4_128_MD5
C019 ECDH_anon_WITH_AES_256_CBC_SHA   C018 ECDH_anon_WITH_AES_128_CBC_SHA
C017 ECDH_anon_WITH_3DES_EDE_CBC_SHA   C016 ECDH_anon_WITH_RC4_128_SHA
C006 ECDHE_ECDSA_WITH_NULL_SHA   C010 ECDHE_RSA_WITH_NULL_SHA   C015 ECDH_anon_WITH_NULL_SHA
003B RSA_WITH_NULL_SHA256   0002 RSA_WITH_NULL_SHA   0001 RSA_WITH_NULL_MD5
"""


def _legacy_suites() -> dict[int, str]:
    words = _LEGACY_TABLE.split()
    return {int(code, 16): f"TLS_{name}" for code, name in zip(words[::2], words[1::2], strict=True)}


LEGACY_SUITES: dict[int, str] = _legacy_suites()  # TLS 1.2 and older
SUITE_NAMES: dict[int, str] = {**TLS13_SUITES, **LEGACY_SUITES}
SUITE_CODES: dict[str, int] = {name: code for code, name in SUITE_NAMES.items()}

EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF  # RFC 5746: asks the server to show whether it does secure renegotiation
FALLBACK_SCSV = 0x5600  # RFC 7507: "this is a fallback"; a server that knows better answers inappropriate_fallback


@dataclass(frozen=True)
class Group:
    name: str  # IANA's name (secp256r1, x25519, ffdhe2048, ...)
    bits: int  # the size a judgement compares: the curve's or the finite field's
    kind: str  # "ec", "ff" (finite-field DH, RFC 7919) or "hybrid" (post-quantum hybrid)


GROUPS: dict[int, Group] = {
    0x001D: Group("x25519", 256, "ec"),  # 255 bits, counted as 256 as Mozilla's ecdh_param_size does
    0x0017: Group("secp256r1", 256, "ec"),
    0x0018: Group("secp384r1", 384, "ec"),
    0x0019: Group("secp521r1", 521, "ec"),
    0x001E: Group("x448", 448, "ec"),
    0x001A: Group("brainpoolP256r1", 256, "ec"),
    0x001B: Group("brainpoolP384r1", 384, "ec"),
    0x001C: Group("brainpoolP512r1", 512, "ec"),
    0x001F: Group("brainpoolP256r1tls13", 256, "ec"),
    0x0020: Group("brainpoolP384r1tls13", 384, "ec"),
    0x0021: Group("brainpoolP512r1tls13", 512, "ec"),
    0x0016: Group("secp256k1", 256, "ec"),
    0x0015: Group("secp224r1", 224, "ec"),
    0x0014: Group("secp224k1", 224, "ec"),
    0x0013: Group("secp192r1", 192, "ec"),
    0x0012: Group("secp192k1", 192, "ec"),
    0x0011: Group("secp160r2", 160, "ec"),
    0x0010: Group("secp160r1", 160, "ec"),
    0x000F: Group("secp160k1", 160, "ec"),
    0x000E: Group("sect571r1", 571, "ec"),
    0x000D: Group("sect571k1", 571, "ec"),
    0x000C: Group("sect409r1", 409, "ec"),
    0x000B: Group("sect409k1", 409, "ec"),
    0x000A: Group("sect283r1", 283, "ec"),
    0x0009: Group("sect283k1", 283, "ec"),
    0x0008: Group("sect239k1", 239, "ec"),
    0x0007: Group("sect233r1", 233, "ec"),
    0x0006: Group("sect233k1", 233, "ec"),
    0x0005: Group("sect193r2", 193, "ec"),
    0x0004: Group("sect193r1", 193, "ec"),
    0x0003: Group("sect163r2", 163, "ec"),
    0x0002: Group("sect163r1", 163, "ec"),
    0x0001: Group("sect163k1", 163, "ec"),
    0x0100: Group("ffdhe2048", 2048, "ff"),
    0x0101: Group("ffdhe3072", 3072, "ff"),
    0x0102: Group("ffdhe4096", 4096, "ff"),
    0x0103: Group("ffdhe6144", 6144, "ff"),
    0x0104: Group("ffdhe8192", 8192, "ff"),
    0x11EC: Group("X25519MLKEM768", 256, "hybrid"),
    0x11EB: Group("SecP256r1MLKEM768", 256, "hybrid"),
    0x11ED: Group("SecP384r1MLKEM1024", 384, "hybrid"),
}
GROUP_BY_NAME: dict[str, Group] = {g.name: g for g in GROUPS.values()}
# Groups TLS 1.2's ECDHE can use (RFC 8422); the rest exist in TLS 1.3 only or are finite-field groups.
TLS12_EC_GROUPS: tuple[int, ...] = tuple(c for c, g in GROUPS.items() if g.kind == "ec" and not 0x1F <= c <= 0x21)


def key_exchange(suite: str) -> str:
    """The key exchange of a suite: "ECDHE", "DHE", "RSA", "ECDH", "DH", "DH_anon", "ECDH_anon", or "TLS13"."""
    if suite in TLS13_SUITES.values():
        return "TLS13"
    kex = suite.removeprefix("TLS_").split("_WITH_", 1)[0]
    for known in ("ECDH_anon", "DH_anon", "ECDHE", "DHE", "ECDH", "DH"):
        if kex.startswith(known):
            return known
    return "RSA"


def forward_secret(suite: str) -> bool:
    """Whether a stolen server key leaves recorded sessions unreadable: an ephemeral key exchange."""
    return key_exchange(suite) in ("TLS13", "ECDHE", "DHE", "DH_anon", "ECDH_anon")


def aead(suite: str) -> bool:
    return any(mode in suite for mode in ("_GCM", "_CCM", "CHACHA20_POLY1305"))


def ephemeral_dh(suite: str) -> bool:
    """The server sends finite-field DH parameters in its ServerKeyExchange (their size is judged)."""
    return key_exchange(suite) in ("DHE", "DH_anon")


def ephemeral_ec(suite: str) -> bool:
    return key_exchange(suite) in ("ECDHE", "ECDH_anon")
