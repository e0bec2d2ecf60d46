"""ROBOT (the Return Of Bleichenbacher's Oracle Threat, robotattack.org, 2017), sans-I/O: whether a server's RSA key
exchange tells apart well- and badly-padded PKCS#1 v1.5 premaster secrets.

    choice = applicability(configuration)              # a RobotCheck (not applicable ...) or (version, suite)
    flight = RsaFlight(); ready = flight.feed(data)     # the server's first flight, up to ServerHelloDone
    texts = premaster_plaintexts(key_bytes, version)    # the five premasters of the published method
    client_flight(encrypt(texts[v], n, e), ...)        # ClientKeyExchange, ChangeCipherSpec, bad Finished
    reaction_of(bytes_after) or reaction_at_eof(...)    # "alert:20", "closed", ... (structure only, never text)
    verdict(first_round, second_round)                  # not_vulnerable, vulnerable (strong/weak), inconclusive

A server without the oracle reacts the same way to all five (OpenSSL: a random premaster on a bad padding, so the
Finished fails alike). One that reacts differently leaks whether a ciphertext decrypts to a conformant padding,
which is all Bleichenbacher's attack needs. The I/O (one connection per premaster) is scanner.tls.robot_probe.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from scanner.model import RobotCheck, RobotOracle, TlsConfiguration
from scanner.tls.hello import MAX_FLIGHT, VERSION_CODES, NotTlsRecord, pop_handshake, pop_record
from scanner.tls.suites import SUITE_CODES, aead, key_exchange

# In the order they are sent: the well-formed one first, then the four the ROBOT authors' method breaks.
WELL_FORMED = "well-formed"
WRONG_FIRST_BYTES = "wrong-first-bytes"  # not 00 02 at the start: fails the first check any decoder makes
MISPLACED_ZERO = "misplaced-zero"  # 00 02 and a 0x00, but one byte before the end: a 1-byte "premaster"
NO_SEPARATOR = "no-separator"  # 00 02 and no 0x00 at all after it
WRONG_VERSION = "wrong-version"  # a conformant padding whose premaster names another version (Klima et al., 2003)
VARIANTS = (WELL_FORMED, WRONG_FIRST_BYTES, MISPLACED_ZERO, NO_SEPARATOR, WRONG_VERSION)
_MALFORMED_PADDING = (WRONG_FIRST_BYTES, MISPLACED_ZERO, NO_SEPARATOR)

PREMASTER_BYTES = 48
_MIN_PADDING = 8  # PKCS#1 v1.5: at least eight non-zero padding bytes
MIN_KEY_BYTES = 3 + _MIN_PADDING + PREMASTER_BYTES
# Fixed, non-zero filler: the same ciphertexts go out in both rounds, so a change of reaction is the server's.
_PREMASTER_TAIL = bytes(range(0x21, 0x21 + PREMASTER_BYTES - 2))
_FINISHED_FILLER = 0x5C
_TLS_RSA_VERSIONS = ("TLSv1.2", "TLSv1.1", "TLSv1", "SSLv3")  # newest first: the probe takes the newest


def rsa_suites(configuration: TlsConfiguration) -> list[tuple[str, str]]:
    """(version, suite) of every accepted suite with RSA key exchange in TLS 1.2 or older, newest version first, in
    the server's order; export suites (a temporary RSA key of their own) left out."""
    found = []
    by_version = {entry.version: entry.suites for entry in configuration.suites}
    for version in _TLS_RSA_VERSIONS:
        for suite in by_version.get(version, ()):
            if key_exchange(suite) == "RSA" and "EXPORT" not in suite and suite in SUITE_CODES:
                found.append((version, suite))
    return found


def applicability(configuration: TlsConfiguration) -> RobotCheck | tuple[str, str]:
    """The (version, suite) to probe with, or the result when there is nothing to probe: not applicable without RSA
    key exchange (no connection), inconclusive when the enumeration stopped before it could tell."""
    candidates = rsa_suites(configuration)
    if not candidates:
        if any(u.startswith("enumeration incomplete") for u in configuration.untested):
            return RobotCheck("inconclusive", note="the enumeration stopped early: RSA key exchange not ruled out")
        return RobotCheck("not_applicable", note="no RSA key exchange (TLS_RSA_*) accepted in TLS 1.2 or older")
    newest = candidates[0][0]
    in_newest = [c for c in candidates if c[0] == newest]
    # GCM first, as sslyze does: some stacks leaked only on their AES-GCM path
    return next((c for c in in_newest if aead(c[1])), in_newest[0])


def premaster_plaintexts(key_bytes: int, version: str, modulus: int | None = None) -> dict[str, bytes]:
    """The five encryption blocks (each ``key_bytes`` long) of the published method. ``version``: the one the
    ClientHello offered, which a well-formed premaster starts with (RFC 5246 7.4.7.1). ``modulus``: when given,
    a wrong first byte that would make the block exceed it is replaced by 0x00 0x17 (still not 00 02)."""
    if key_bytes < MIN_KEY_BYTES:
        raise ValueError(f"an RSA key of {key_bytes} bytes is too small for a PKCS#1 v1.5 premaster")
    padding = bytes((i % 251) + 1 for i in range(key_bytes - 3 - PREMASTER_BYTES))
    code = struct.pack(">H", VERSION_CODES[version])
    wrong_first = b"\x41\x17" + padding + b"\x00" + code + _PREMASTER_TAIL
    if modulus is not None and int.from_bytes(wrong_first, "big") >= modulus:
        wrong_first = b"\x00\x17" + wrong_first[2:]
    return {
        WELL_FORMED: b"\x00\x02" + padding + b"\x00" + code + _PREMASTER_TAIL,
        WRONG_FIRST_BYTES: wrong_first,
        MISPLACED_ZERO: b"\x00\x02" + padding + b"\x11" + _PREMASTER_TAIL + b"\x00\x11",
        NO_SEPARATOR: b"\x00\x02" + padding + b"\x11\x11\x11" + _PREMASTER_TAIL,
        WRONG_VERSION: b"\x00\x02" + padding + b"\x00\x02\x02" + _PREMASTER_TAIL,
    }


def encrypt(block: bytes, modulus: int, exponent: int) -> bytes:
    """Raw RSA (textbook, no padding of its own): the padding is what is being tested."""
    size = (modulus.bit_length() + 7) // 8
    return pow(int.from_bytes(block, "big"), exponent, modulus).to_bytes(size, "big")


def public_key(certificate_der: bytes) -> tuple[int, int] | None:
    """(n, e) of the certificate's RSA key; None when it is not RSA or does not parse."""
    try:
        key = x509.load_der_x509_certificate(certificate_der).public_key()
    except ValueError:
        return None
    if not isinstance(key, RSAPublicKey):
        return None
    numbers = key.public_numbers()
    return numbers.n, numbers.e


def _record(kind: int, version: int, payload: bytes) -> bytes:
    return struct.pack(">BHH", kind, version, len(payload)) + payload


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def client_key_exchange(ciphertext: bytes, version: int) -> bytes:
    """One record: the ClientKeyExchange with the encrypted premaster (length-prefixed, except in SSL 3.0)."""
    body = ciphertext if version == VERSION_CODES["SSLv3"] else struct.pack(">H", len(ciphertext)) + ciphertext
    return _record(22, version, _handshake(16, body))


def change_cipher_spec(version: int) -> bytes:
    return _record(20, version, b"\x01")


def unverifiable_finished(version: int, suite: str) -> bytes:
    """A record in the place of the encrypted Finished, the right size for the suite but bytes no key opens: the
    server fails it the same way whatever the premaster, unless the premaster's padding made it act otherwise."""
    size = 40 if aead(suite) else 80  # GCM: nonce, 16-byte Finished, tag; CBC: IV, Finished, MAC, padding
    return _record(22, version, bytes([_FINISHED_FILLER]) * size)


def empty_certificate(version: int) -> bytes:
    """What a client without a certificate sends when the server asks for one (TLS 1.0 to 1.2)."""
    return _record(22, version, _handshake(11, b"\x00\x00\x00"))


def client_flight(ciphertext: bytes, version: int, suite: str, *, certificate_requested: bool = False) -> bytes:
    """Everything the client sends after the server's first flight, in one write."""
    head = empty_certificate(version) if certificate_requested and version != VERSION_CODES["SSLv3"] else b""
    return (
        head
        + client_key_exchange(ciphertext, version)
        + change_cipher_spec(version)
        + unverifiable_finished(version, suite)
    )


FlightOutcome = Literal["ready", "refused", "closed", "not_tls"]


@dataclass(frozen=True)
class FlightAnswer:
    """The server's first flight to an RSA key-exchange hello, as far as the probe needs it."""

    outcome: FlightOutcome  # ready: ServerHelloDone came, with a ServerHello and a certificate before it
    version: int | None = None  # the ServerHello's
    suite: int | None = None
    certificate: bytes | None = None  # the leaf, DER
    certificate_requested: bool = False
    detail: str = ""  # mailprobe's words, never the server's bytes


class RsaFlight:
    """Reads the server's records after the ClientHello until its ServerHelloDone (or a refusal)."""

    def __init__(self) -> None:
        self._records = bytearray()
        self._handshake = bytearray()
        self._seen = 0
        self._version: int | None = None
        self._suite: int | None = None
        self._certificate: bytes | None = None
        self._requested = False

    def feed(self, data: bytes) -> FlightAnswer | None:
        self._seen += len(data)
        self._records += data
        while True:
            try:
                found = pop_record(self._records)
            except NotTlsRecord:
                return FlightAnswer("not_tls", detail="not a TLS record")
            if found is None:
                break
            kind, payload = found
            if kind == 21:
                code = payload[1] if len(payload) >= 2 else None
                return FlightAnswer("refused", detail=f"alert {code}" if code is not None else "truncated alert")
            if kind != 22:
                return FlightAnswer("not_tls", detail=f"record type {kind} before ServerHelloDone")
            self._handshake += payload
            answer = self._messages()
            if answer is not None:
                return answer
        if self._seen > MAX_FLIGHT:
            return FlightAnswer("not_tls", detail="no ServerHelloDone in the first 256 KB")
        return None

    def eof(self) -> FlightAnswer:
        if self._seen == 0:
            return FlightAnswer("closed", detail="closed the connection without an answer")
        return FlightAnswer("not_tls", detail="closed before ServerHelloDone")

    def _messages(self) -> FlightAnswer | None:
        while (found := pop_handshake(self._handshake)) is not None:
            kind, body = found
            if kind == 2 and self._version is None and len(body) >= 38:
                self._version = int.from_bytes(body[0:2], "big")
                at = 35 + body[34]
                if len(body) < at + 2:
                    return FlightAnswer("not_tls", detail="ServerHello cut short")
                self._suite = int.from_bytes(body[at : at + 2], "big")
            elif kind == 11 and self._version is not None:
                self._certificate = _leaf(body)
            elif kind == 13:
                self._requested = True
            elif kind == 14:
                return self._done()
            elif self._version is None:
                return FlightAnswer("not_tls", detail=f"handshake message {kind} before the ServerHello")
        return None

    def _done(self) -> FlightAnswer:
        if self._version is None or self._certificate is None:
            return FlightAnswer("not_tls", detail="ServerHelloDone without a ServerHello and a certificate")
        return FlightAnswer("ready", self._version, self._suite, self._certificate, self._requested)


def _leaf(body: bytes) -> bytes | None:
    """The first certificate of a Certificate message (TLS 1.2 and older), None when the lengths do not hold."""
    if len(body) < 6:
        return None
    size = int.from_bytes(body[3:6], "big")
    leaf = body[6 : 6 + size]
    return leaf if size and len(leaf) == size else None


def reaction_of(data: bytes) -> str | None:
    """The server's reaction to the client flight, from its first bytes: "alert:<code>", "record:<type>" (anything
    but an alert: it went on as if nothing were wrong), "not_tls"; None while more bytes are needed."""
    if len(data) < 5:
        return None
    kind, major, length = data[0], data[1], int.from_bytes(data[3:5], "big")
    if kind not in (20, 21, 22, 23) or major != 3:
        return "not_tls"
    if kind != 21:
        return f"record:{kind}"
    if length < 2:
        return "not_tls"
    if len(data) < 7:
        return None
    return f"alert:{data[6]}"


def reaction_at_eof(data: bytes) -> str:
    """The reaction when the server closed the connection: "closed" when it sent nothing, "not_tls" for a cut record."""
    return reaction_of(data) or ("closed" if not data else "not_tls")


HANDSHAKE_FAILED = "handshake:"  # prefix of an answer that is not a reaction to the premaster (see verdict)


def needs_second_round(first: Mapping[str, str]) -> bool:
    """Only one all-clear comes from one round: the same reaction to all five, none of them silence or a failed
    handshake. Anything else is asked again, since an oracle (or a fluke) must show twice."""
    answers = set(first.values())
    return len(answers) != 1 or any(a == "timeout" or a.startswith(HANDSHAKE_FAILED) for a in answers)


@dataclass(frozen=True)
class Judgement:
    verdict: Literal["not_vulnerable", "vulnerable", "inconclusive"]
    oracle: RobotOracle | None = None
    note: str = ""


def verdict(first: Mapping[str, str], second: Mapping[str, str] | None = None) -> Judgement:
    """The verdict from each variant's reaction, in one round or two. As the ROBOT authors classify: identical
    reactions, no oracle; different ones, an oracle, weak when the three broken paddings get the same reaction (only
    a fully conformant padding stands out, too rare a case for a practical attack), strong otherwise. A change
    between rounds, a failed handshake or silence everywhere is inconclusive, never an all-clear."""
    rounds = [first] if second is None else [first, second]
    if any(set(r) != set(VARIANTS) for r in rounds):
        return Judgement("inconclusive", note="not every premaster was sent")
    if second is not None and any(first[v] != second[v] for v in VARIANTS):
        return Judgement("inconclusive", note="the reactions changed between two rounds")
    if any(a.startswith(HANDSHAKE_FAILED) for r in rounds for a in r.values()):
        return Judgement("inconclusive", note="a handshake did not get as far as the key exchange")
    answers = set(first.values())
    if answers == {"timeout"}:
        return Judgement("inconclusive", note="the server answered no key exchange in time")
    if len(answers) == 1:
        return Judgement("not_vulnerable")
    if second is None:
        return Judgement("inconclusive", note="an oracle must show in two rounds")
    broken = {first[v] for v in _MALFORMED_PADDING}
    return Judgement("vulnerable", "weak" if len(broken) == 1 else "strong")


def answers_by_variant(rounds: Sequence[Mapping[str, str]]) -> dict[str, tuple[str, ...]]:
    return {v: tuple(r[v] for r in rounds if v in r) for v in VARIANTS}
