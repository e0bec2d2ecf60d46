"""Heartbleed (CVE-2014-0160) and the OpenSSL CCS injection (CVE-2014-0224), judged from the records a server sends
after its first flight: sans-I/O, by record type, length, heartbeat type and length fields, and alert code only.

    reader = RecordReader(leftover_of_the_flight)
    judge = HeartbleedJudge()                     # after heartbeat_requests(version) went out
    reader.feed(data); verdict = judge.read(reader) or judge.eof() / judge.timeout(seconds)

Heartbleed: the ServerHello tells first. mailprobe's TLS 1.2-and-older hellos offer the heartbeat extension (RFC
6520, mode peer_allowed_to_send); OpenSSL 1.0.1 to 1.0.1f, the only vulnerable stack, echoes it whenever a client
offers it, so a server that does not echo it is not vulnerable and costs nothing more. One that echoes it is sent,
before the handshake goes on (as testssl.sh and sslyze do), two heartbeat requests: the first sends 16 bytes and
claims 64, the second is well formed. A vulnerable server answers the first with 64 bytes (48 of them its own
memory: counted, never kept); a fixed one drops the first silently (RFC 6520 4) and answers only the second, so the
first response's payload_length tells which. The over-claim is small on purpose: enough to see, little to read.

CCS injection: after the server's flight, an early ChangeCipherSpec and a second record (another ChangeCipherSpec,
as testssl.sh sends). A fixed server refuses the early one with unexpected_message (OpenSSL's
SSL_R_CCS_RECEIVED_EARLY) or closes. A vulnerable one takes it and switches to keys derived from an empty master
secret, so it cannot decrypt the record that follows: bad_record_mac (decryption_failed from SSL 3.0 stacks).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from scanner.model import VulnerabilityCheck
from scanner.tls.hello import NotTlsRecord, pop_record

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
HEARTBEAT_REQUEST, HEARTBEAT_RESPONSE = 1, 2
SENT = 16  # payload bytes each heartbeat request carries
CLAIMED = 64  # what the over-long one claims to carry
PADDING = 16  # RFC 6520's minimum

SERVER_HELLO_DONE = b"\x0e\x00\x00\x00"
_KINDS = range(CHANGE_CIPHER_SPEC, HEARTBEAT + 1)  # what may follow a flight: heartbeat records too
MAX_READ = 256 * 1024  # a server still sending after this much is not answering a probe

ALERT_NAMES = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    21: "decryption_failed",
    22: "record_overflow",
    40: "handshake_failure",
    47: "illegal_parameter",
    50: "decode_error",
    70: "protocol_version",
    80: "internal_error",
}
_REFUSES_EARLY_CCS = frozenset({0, 10, 40})  # close_notify, unexpected_message, handshake_failure (testssl.sh's)
_FAILED_DECRYPTION = frozenset({20, 21})  # the record after the CCS was read with keys of an empty master secret


def record(kind: int, version: int, body: bytes) -> bytes:
    return struct.pack(">BHH", kind, version, len(body)) + body


def heartbeat_request(version: int, *, claimed: int, sent: int, padding: int) -> bytes:
    """One heartbeat request record: ``sent`` payload bytes and ``padding`` padding, saying it carries ``claimed``."""
    message = struct.pack(">BH", HEARTBEAT_REQUEST, claimed) + b"\x01" * sent + b"\x00" * padding
    return record(HEARTBEAT, version, message)


def heartbeat_requests(version: int) -> bytes:
    """The over-long request (sends SENT, claims CLAIMED, no room for padding), then a well-formed one."""
    return heartbeat_request(version, claimed=CLAIMED, sent=SENT, padding=0) + heartbeat_request(
        version, claimed=SENT, sent=SENT, padding=PADDING
    )


def early_change_cipher_spec(version: int) -> bytes:
    """A ChangeCipherSpec before any key exchange, and a second record a server that took it must decrypt."""
    return record(CHANGE_CIPHER_SPEC, version, b"\x01") * 2


@dataclass(frozen=True)
class Record:
    """A record's header and at most its first three bytes: all a verdict reads (never the rest)."""

    kind: int
    length: int
    head: bytes
    tail: bytes = b""  # its last four bytes: a handshake record ending the flight ends with a ServerHelloDone

    @property
    def ends_flight(self) -> bool:
        return self.kind == HANDSHAKE and self.tail == SERVER_HELLO_DONE


class NotTls(Exception):
    """The bytes are not TLS records (garbage, an impossible length, or too many)."""


class RecordReader:
    """Splits the server's bytes into records, keeping none of their content beyond ``Record.head``."""

    def __init__(self, leftover: bytes = b"") -> None:
        self._buffer = bytearray()
        self._seen = 0
        self.feed(leftover)

    def feed(self, data: bytes) -> None:
        self._seen += len(data)
        self._buffer += data

    @property
    def partial(self) -> bool:
        """Bytes of a record not yet whole: a close now cut the answer short."""
        return bool(self._buffer)

    def next(self) -> Record | None:
        """The next whole record; None while more bytes are needed. Raises NotTls."""
        if self._seen > MAX_READ:
            raise NotTls(f"more than {MAX_READ // 1024} KB after the first flight")
        try:
            found = pop_record(self._buffer, _KINDS)
        except NotTlsRecord as exc:
            raise NotTls(str(exc)) from None
        if found is None:
            return None
        kind, payload = found
        return Record(kind, len(payload), payload[:3], payload[-4:])


def alert_name(code: int) -> str:
    return f"{ALERT_NAMES.get(code, 'alert')} ({code})"


def _inconclusive(why: str, version: str) -> VulnerabilityCheck:
    return VulnerabilityCheck("inconclusive", why, version)


class _Judge:
    after = ""  # what was sent, for the evidence
    closed = ""  # what a close without an answer means

    def __init__(self, version: str) -> None:
        self.version = version  # the negotiated version of the connection, for the record

    def read(self, reader: RecordReader) -> VulnerabilityCheck | None:
        """The verdict once the records so far settle it; None while more are needed."""
        try:
            while (found := reader.next()) is not None:
                verdict = self._record(found)
                if verdict is not None:
                    return verdict
        except NotTls as exc:
            return _inconclusive(f"after {self.after}: {exc}", self.version)
        return None

    def _record(self, r: Record) -> VulnerabilityCheck | None:
        raise NotImplementedError

    def eof(self, reader: RecordReader) -> VulnerabilityCheck:
        """The verdict when the server closed the connection (the records before it were read)."""
        if reader.partial:
            return _inconclusive(f"the connection closed in the middle of a record after {self.after}", self.version)
        return VulnerabilityCheck(
            "not_vulnerable", f"closed the connection on {self.after}, {self.closed}", self.version
        )

    def timeout(self, seconds: float) -> VulnerabilityCheck:
        return _inconclusive(f"no answer to {self.after} within {seconds:g} s", self.version)


class HeartbleedJudge(_Judge):
    """What the server's records say after heartbeat_requests()."""

    after = "the heartbeat requests"
    closed = "no heartbeat response"
    still_talking = False  # the verdict came from a heartbeat response: the connection can take the next probe

    def _record(self, r: Record) -> VulnerabilityCheck | None:
        if r.kind == HANDSHAKE:
            return None  # the rest of the first flight
        if r.kind == ALERT:
            if r.length < 2:
                return _inconclusive("a truncated alert after the heartbeat requests", self.version)
            return VulnerabilityCheck(
                "not_vulnerable",
                f"answered the heartbeat requests with the alert {alert_name(r.head[1])}, no heartbeat response",
                self.version,
            )
        if r.kind != HEARTBEAT:
            return _inconclusive(f"a record of type {r.kind} instead of a heartbeat response", self.version)
        if r.length < 3 or r.head[0] != HEARTBEAT_RESPONSE:
            return None  # not a response: our own request reflected, or one of the server's
        declared = int.from_bytes(r.head[1:3], "big")
        self.still_talking = True
        if declared > SENT:
            if r.length < 3 + declared:
                self.still_talking = False
                return _inconclusive(
                    f"a heartbeat response claiming {declared} bytes but {r.length - 3} long", self.version
                )
            return VulnerabilityCheck(
                "vulnerable",
                f"a heartbeat request sending {SENT} bytes and claiming {CLAIMED} was answered with {declared} "
                f"bytes: {declared - SENT} bytes of the server's memory (not kept)",
                self.version,
            )
        return VulnerabilityCheck(
            "not_vulnerable",
            f"the first heartbeat response carried {declared} bytes, no more than a request sent: the over-long "
            "request read nothing past its own bytes",
            self.version,
        )


class CcsJudge(_Judge):
    """What the server's records say after early_change_cipher_spec()."""

    after = "the early ChangeCipherSpec"
    closed = "without an alert"

    def _record(self, r: Record) -> VulnerabilityCheck | None:
        if r.kind in (HANDSHAKE, HEARTBEAT):
            return None  # the rest of the first flight, or a late heartbeat response
        if r.kind != ALERT:
            return _inconclusive(f"a record of type {r.kind} after the early ChangeCipherSpec", self.version)
        if r.length < 2:
            return _inconclusive("a truncated alert after the early ChangeCipherSpec", self.version)
        code = r.head[1]
        if code in _REFUSES_EARLY_CCS:
            return VulnerabilityCheck(
                "not_vulnerable", f"refused the early ChangeCipherSpec with the alert {alert_name(code)}", self.version
            )
        if code in _FAILED_DECRYPTION:
            return VulnerabilityCheck(
                "vulnerable",
                f"took the early ChangeCipherSpec, then could not decrypt the next record: alert {alert_name(code)}",
                self.version,
            )
        return _inconclusive(
            f"alert {alert_name(code)} after the early ChangeCipherSpec: neither a refusal nor a failed decryption",
            self.version,
        )
