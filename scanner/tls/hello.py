"""ClientHello bytes and the reading of the server's first flight: sans-I/O, for enumerating a TLS configuration.

    hello = client_hello("TLSv1.2", suites=[0xC02F, 0x009C], groups=[0x001D], server_name="mail.example.com")
    flight = ServerFlight()
    answer = flight.feed(bytes_from_server) or flight.eof()
    answer.outcome, answer.suite, answer.group, answer.dh_bits

Why hellos of our own instead of OpenSSL handshakes: the question is what the *server* accepts, and the OpenSSL that
pyOpenSSL loads can no longer offer SSLv3, RC4, 3DES, export or single-DES suites at all (OpenSSL 3 and later), nor
offer exactly one group. A ClientHello is plain bytes; so is everything the server answers up to its
ServerHelloDone (TLS 1.2 and older) or its ServerHello (TLS 1.3), and that is where the version, the suite, the
group, the DH parameters, compression and the RFC 5746/7627 extensions are. No handshake is completed: the
connection is closed once the answer is read, so an enumeration costs the server no session.

TLS 1.3 hellos send an empty key_share: the server answers with a HelloRetryRequest that names the group and suite
it chose (RFC 8446 4.1.4), which is all enumeration needs.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import Literal

from scanner.tls.dh_groups import dh_group
from scanner.tls.suites import (
    EMPTY_RENEGOTIATION_INFO_SCSV,
    FALLBACK_SCSV,
    SUITE_NAMES,
    ephemeral_dh,
    ephemeral_ec,
)

VERSION_CODES: dict[str, int] = {
    "SSLv3": 0x0300,
    "TLSv1": 0x0301,
    "TLSv1.1": 0x0302,
    "TLSv1.2": 0x0303,
    "TLSv1.3": 0x0304,
}
VERSION_NAMES: dict[int, str] = {code: name for name, code in VERSION_CODES.items()}

EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_HEARTBEAT = 0x000F
EXT_EXTENDED_MASTER_SECRET = 0x0017
EXT_SUPPORTED_VERSIONS = 0x002B
EXT_KEY_SHARE = 0x0033
EXT_RENEGOTIATION_INFO = 0xFF01


# Signature schemes offered: every one a server may sign with, so the choice of suite is never narrowed by ours.
_SIGNATURE_SCHEMES = (
    0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0804, 0x0805, 0x0806, 0x0809, 0x080A, 0x080B,
    0x081A, 0x081B, 0x081C, 0x0401, 0x0501, 0x0601, 0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602,
    0x0203, 0x0201, 0x0202,
)  # fmt: skip
_HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()  # RFC 8446 4.1.3: a ServerHello with this random
MAX_FLIGHT = 256 * 1024  # a certificate chain is rarely past 16 KB; a server sending more is not answering a hello
MAX_RECORD = 16384 + 2048  # TLSCiphertext's limit (RFC 5246 6.2.3)
RECORD_TYPES = (20, 21, 22, 23)  # ChangeCipherSpec, alert, handshake, application data


class NotTlsRecord(ValueError):
    """Bytes that cannot start a TLS record."""


def pop_record(buffer: bytearray, kinds: Container[int] = RECORD_TYPES) -> tuple[int, bytes] | None:
    """Takes the first whole record off ``buffer``: (content type, payload); None while it is not all there. Raises
    NotTlsRecord when the bytes cannot start a TLS record (a type outside ``kinds``, a major version other than 3,
    a length past MAX_RECORD). The one record reader of the flight readers here, in robot and in vulns."""
    if len(buffer) < 5:
        return None
    kind, major, length = buffer[0], buffer[1], int.from_bytes(buffer[3:5], "big")
    if kind not in kinds or major != 3 or length > MAX_RECORD:
        raise NotTlsRecord(f"not a TLS record (type {kind}, length {length})")
    if len(buffer) < 5 + length:
        return None
    payload = bytes(buffer[5 : 5 + length])
    del buffer[: 5 + length]
    return kind, payload


def pop_handshake(buffer: bytearray) -> tuple[int, bytes] | None:
    """Takes the first whole handshake message off ``buffer`` (handshake records' payloads, joined): (type, body);
    None while it is not all there."""
    if len(buffer) < 4:
        return None
    kind, length = buffer[0], int.from_bytes(buffer[1:4], "big")
    if len(buffer) < 4 + length:
        return None
    body = bytes(buffer[4 : 4 + length])
    del buffer[: 4 + length]
    return kind, body


def client_hello(
    version: str,
    suites: Sequence[int],
    groups: Sequence[int],
    server_name: str | None = None,
    *,
    fallback: bool = False,
    compression: bool = True,
) -> bytes:
    """One TLS record holding a ClientHello that offers ``version`` as the highest (TLS 1.3: alone, through
    supported_versions), ``suites`` in that order and ``groups``. ``fallback`` adds TLS_FALLBACK_SCSV; ``compression``
    also offers DEFLATE (never in TLS 1.3, where a server must refuse it)."""
    tls13 = version == "TLSv1.3"
    legacy_version = 0x0303 if tls13 else VERSION_CODES[version]
    offered = list(suites)
    if not tls13:
        offered.append(EMPTY_RENEGOTIATION_INFO_SCSV)
    if fallback:
        offered.append(FALLBACK_SCSV)
    body = struct.pack(">H", legacy_version) + os.urandom(32)
    session_id = os.urandom(32) if tls13 else b""  # TLS 1.3 middlebox compatibility mode (RFC 8446 D.4)
    body += _vec8(session_id) + _vec16(_codes(offered))
    body += _vec8(b"\x01\x00" if compression and not tls13 else b"\x00")
    if version != "SSLv3":  # SSL 3.0 servers predate extensions; some refuse a hello that carries them
        body += _vec16(_extensions(tls13, groups, server_name))
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    record_version = 0x0300 if version == "SSLv3" else 0x0301  # what clients put there for the widest acceptance
    return struct.pack(">BHH", 22, record_version, len(handshake)) + handshake


def _extensions(tls13: bool, groups: Sequence[int], server_name: str | None) -> bytes:
    exts = []
    if server_name:
        name = server_name.encode("idna")
        exts.append(_ext(EXT_SERVER_NAME, _vec16(b"\x00" + _vec16(name))))
    if groups:
        exts.append(_ext(EXT_SUPPORTED_GROUPS, _vec16(_codes(groups))))
    exts.append(_ext(EXT_EC_POINT_FORMATS, _vec8(b"\x00")))
    exts.append(_ext(EXT_SIGNATURE_ALGORITHMS, _vec16(_codes(_SIGNATURE_SCHEMES))))
    if tls13:
        exts.append(_ext(EXT_SUPPORTED_VERSIONS, _vec8(struct.pack(">H", 0x0304))))
        exts.append(_ext(EXT_KEY_SHARE, _vec16(b"")))  # empty: the server names its group in a HelloRetryRequest
    else:
        exts.append(_ext(EXT_EXTENDED_MASTER_SECRET, b""))
        # RFC 6520, peer_allowed_to_send: whether the ServerHello echoes it decides Heartbleed (scanner.tls.vulns)
        exts.append(_ext(EXT_HEARTBEAT, b"\x01"))
    return b"".join(exts)


def _codes(codes: Sequence[int]) -> bytes:
    """16-bit codes, big-endian, in one call (a hello offers about 150 suites; enumeration sends dozens of hellos)."""
    return struct.pack(f">{len(codes)}H", *codes)


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def _vec8(data: bytes) -> bytes:
    return bytes([len(data)]) + data


def _vec16(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


Outcome = Literal["accepted", "alert", "closed", "not_tls", "timeout"]


@dataclass(frozen=True)
class ServerAnswer:
    """What the server answered to one ClientHello."""

    outcome: Outcome  # accepted: a ServerHello (or HelloRetryRequest); timeout: no answer; the rest are refusals
    version: str | None = None  # negotiated ("TLSv1.2"), or the code in hex when unknown
    suite: int | None = None
    compression: int = 0  # the method chosen: 0 none, 1 DEFLATE
    extensions: frozenset[int] = field(default_factory=frozenset)  # in the ServerHello
    group: int | None = None  # TLS 1.3: key_share's group; TLS 1.2 and older: the ServerKeyExchange's named curve
    dh_bits: int | None = None  # size of the finite-field DH prime in the ServerKeyExchange
    dh_group: str | None = None  # that prime's standard group (scanner.tls.dh_groups), or "custom"
    retry_request: bool = False  # a TLS 1.3 HelloRetryRequest
    alert: int | None = None  # the alert description, when the server answered with one
    detail: str = ""  # why an answer could not be read, for the record

    @property
    def suite_name(self) -> str | None:
        if self.suite is None:
            return None
        return SUITE_NAMES.get(self.suite, f"0x{self.suite:04X}")


class ServerFlight:
    """Reads the server's bytes after a ClientHello until they say what it chose (or that it refused)."""

    def __init__(self) -> None:
        self._records = bytearray()
        self._handshake = bytearray()
        self._seen = 0
        self._hello: ServerAnswer | None = None
        self._hello_done = False
        self.alerted = False  # the server ended the handshake after its ServerHello: nothing more to ask there

    def feed(self, data: bytes) -> ServerAnswer | None:
        """The answer once the bytes so far settle it; None while more are needed."""
        self._seen += len(data)
        self._records += data
        while True:
            try:
                found = pop_record(self._records)
            except NotTlsRecord:
                return self._done(ServerAnswer("not_tls", detail=f"not a TLS record: {bytes(self._records[:5])!r}"))
            if found is None:
                break
            kind, payload = found
            if kind == 21:
                if len(payload) < 2:
                    return self._done(ServerAnswer("not_tls", detail="truncated alert"))
                if self._hello is not None:  # an alert after the ServerHello: the hello still says what it chose
                    self.alerted = True
                    return self._hello
                return ServerAnswer("alert", alert=payload[1], detail=f"alert {payload[1]}")
            if kind != 22:  # ChangeCipherSpec or encrypted data: nothing more to read in clear
                self.alerted = self._hello is not None  # not a flight a probe may follow
                return self._done(self._hello or ServerAnswer("not_tls", detail="no ServerHello"))
            self._handshake += payload
            answer = self._messages()
            if answer is not None:
                return answer
        if self._seen > MAX_FLIGHT:
            return self._done(self._hello or ServerAnswer("not_tls", detail="no ServerHello in the first 256 KB"))
        return None

    def eof(self) -> ServerAnswer:
        """The answer when the server closed the connection (or stopped sending) before settling it."""
        if self._hello is not None:
            return self._hello
        if self._seen == 0:
            return ServerAnswer("closed", detail="closed the connection without an answer")
        return ServerAnswer("not_tls", detail="answer cut short")

    def hello_done(self) -> bool:
        """Whether the flight's ServerHelloDone was among the bytes read (the answer may settle before it)."""
        at = 0
        while at + 4 <= len(self._handshake):
            kind, length = self._handshake[at], int.from_bytes(self._handshake[at + 1 : at + 4], "big")
            if kind == 14:
                return True
            at += 4 + length
        return self._hello_done

    def unread(self) -> bytes:
        """The bytes after the records read so far (the rest of the flight, and whatever follows it)."""
        return bytes(self._records)

    def _done(self, answer: ServerAnswer) -> ServerAnswer:
        return answer

    def _messages(self) -> ServerAnswer | None:
        while (found := pop_handshake(self._handshake)) is not None:
            kind, body = found
            if kind == 2 and self._hello is None:
                try:
                    hello = _server_hello(body)
                except (ValueError, IndexError, struct.error) as exc:
                    return ServerAnswer("not_tls", detail=f"unreadable ServerHello: {exc}")
                if hello.version == "TLSv1.3" or hello.retry_request:
                    return hello  # the rest is encrypted (or a new hello is expected)
                self._hello = hello
                name = hello.suite_name or ""
                if not (ephemeral_dh(name) or ephemeral_ec(name)):
                    return hello  # no ServerKeyExchange to wait for
            elif kind == 12 and self._hello is not None:
                return _with_key_exchange(self._hello, body)
            elif kind == 14 and self._hello is not None:  # ServerHelloDone without a ServerKeyExchange
                self._hello_done = True
                return self._hello
            elif self._hello is None:
                return ServerAnswer("not_tls", detail=f"handshake message {kind} before the ServerHello")
        return None


def _server_hello(body: bytes) -> ServerAnswer:
    legacy_version = int.from_bytes(body[0:2], "big")
    random = body[2:34]
    sid_len = body[34]
    at = 35 + sid_len
    suite = int.from_bytes(body[at : at + 2], "big")
    compression = body[at + 2]
    extensions = read_extensions(body, at + 3)
    version_code = legacy_version
    if len(extensions.get(EXT_SUPPORTED_VERSIONS, b"")) == 2:
        version_code = int.from_bytes(extensions[EXT_SUPPORTED_VERSIONS], "big")
    group = None
    if len(extensions.get(EXT_KEY_SHARE, b"")) >= 2:
        group = int.from_bytes(extensions[EXT_KEY_SHARE][:2], "big")
    return ServerAnswer(
        "accepted",
        version=VERSION_NAMES.get(version_code, f"0x{version_code:04X}"),
        suite=suite,
        compression=compression,
        extensions=frozenset(extensions),
        group=group,
        retry_request=random == _HRR_RANDOM,
    )


def read_extensions(body: bytes, at: int) -> dict[int, bytes]:
    """A hello's extensions block, which starts at ``at`` with its length, by type; empty when the hello has none."""
    extensions: dict[int, bytes] = {}
    if at + 2 <= len(body):
        end = at + 2 + int.from_bytes(body[at : at + 2], "big")
        at += 2
        while at + 4 <= end:
            kind, length = struct.unpack(">HH", body[at : at + 4])
            extensions[kind] = body[at + 4 : at + 4 + length]
            at += 4 + length
    return extensions


def _with_key_exchange(hello: ServerAnswer, body: bytes) -> ServerAnswer:
    """The ServerHello's answer with the group or DH size its ServerKeyExchange names."""
    name = hello.suite_name or ""
    try:
        if ephemeral_ec(name) and len(body) >= 3 and body[0] == 3:  # named_curve
            return _replace(hello, group=int.from_bytes(body[1:3], "big"))
        if ephemeral_dh(name) and len(body) >= 2:
            size = int.from_bytes(body[0:2], "big")
            prime = body[2 : 2 + size]
            if len(prime) == size:
                value = int.from_bytes(prime, "big")
                return _replace(hello, dh_bits=value.bit_length(), dh_group=dh_group(value))
    except (IndexError, ValueError):
        pass
    return hello


def _replace(answer: ServerAnswer, **changes: object) -> ServerAnswer:
    import dataclasses

    return dataclasses.replace(answer, **changes)  # type: ignore[arg-type]
