"""scanner.tls.hello by bytes: the ClientHello mailprobe writes, and how it reads what servers answer."""

from __future__ import annotations

import hashlib
import struct

from scanner.tls.hello import ServerFlight, client_hello
from scanner.tls.suites import EMPTY_RENEGOTIATION_INFO_SCSV, FALLBACK_SCSV


def _parse_hello(record: bytes) -> dict[str, object]:
    """The fields of one ClientHello record, read the way a server reads them."""
    kind, record_version, length = struct.unpack(">BHH", record[:5])
    assert kind == 22 and length == len(record) - 5
    body = record[5:]
    assert body[0] == 1 and int.from_bytes(body[1:4], "big") == len(body) - 4
    hello = body[4:]
    version = int.from_bytes(hello[0:2], "big")
    at = 34
    sid = hello[at + 1 : at + 1 + hello[at]]
    at += 1 + len(sid)
    n = int.from_bytes(hello[at : at + 2], "big")
    suites = [int.from_bytes(hello[at + 2 + i : at + 4 + i], "big") for i in range(0, n, 2)]
    at += 2 + n
    compression = list(hello[at + 1 : at + 1 + hello[at]])
    at += 1 + hello[at]
    extensions: dict[int, bytes] = {}
    if at < len(hello):
        end = at + 2 + int.from_bytes(hello[at : at + 2], "big")
        assert end == len(hello)
        at += 2
        while at < end:
            ext, size = struct.unpack(">HH", hello[at : at + 4])
            extensions[ext] = hello[at + 4 : at + 4 + size]
            at += 4 + size
    return {
        "record_version": record_version,
        "version": version,
        "session_id": sid,
        "suites": suites,
        "compression": compression,
        "extensions": extensions,
    }


def test_tls12_hello_offers_the_suites_in_order_with_the_renegotiation_signal() -> None:
    hello = _parse_hello(client_hello("TLSv1.2", [0xC02F, 0x009C], [0x001D, 0x0017], "mail.example.test"))
    assert hello["version"] == 0x0303
    assert hello["suites"] == [0xC02F, 0x009C, EMPTY_RENEGOTIATION_INFO_SCSV]
    assert hello["compression"] == [1, 0]  # DEFLATE offered: a server that still compresses shows it
    extensions = hello["extensions"]
    assert isinstance(extensions, dict)
    assert extensions[0x000A] == b"\x00\x04\x00\x1d\x00\x17"  # supported_groups: exactly what was asked
    assert b"mail.example.test" in extensions[0x0000]
    assert 0x0017 in extensions  # extended_master_secret
    assert 0x002B not in extensions  # no supported_versions: TLS 1.2 is the highest offered


def test_tls13_hello_offers_13_alone_with_an_empty_key_share() -> None:
    hello = _parse_hello(client_hello("TLSv1.3", [0x1301], [0x001D], None))
    assert hello["version"] == 0x0303  # legacy_version, as RFC 8446 wants
    extensions = hello["extensions"]
    assert isinstance(extensions, dict)
    assert extensions[0x002B] == b"\x02\x03\x04"
    assert extensions[0x0033] == b"\x00\x00"
    assert hello["compression"] == [0]
    assert len(hello["session_id"]) == 32  # type: ignore[arg-type]
    assert 0x0000 not in extensions  # no SNI without a name


def test_sslv3_hello_has_no_extensions_and_fallback_adds_the_scsv() -> None:
    hello = _parse_hello(client_hello("SSLv3", [0x000A], [], None, fallback=True))
    assert hello["record_version"] == 0x0300 and hello["version"] == 0x0300
    assert hello["extensions"] == {}
    assert hello["suites"] == [0x000A, EMPTY_RENEGOTIATION_INFO_SCSV, FALLBACK_SCSV]


# -- the server's side -----------------------------------------------------------------------------------------


def _record(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BHH", kind, 0x0303, len(payload)) + payload


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _server_hello(suite: int, *, version: int = 0x0303, random: bytes = b"\x11" * 32, exts: bytes = b"") -> bytes:
    body = struct.pack(">H", version) + random + b"\x00" + struct.pack(">H", suite) + b"\x00"
    body += struct.pack(">H", len(exts)) + exts
    return _handshake(2, body)


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


def _feed_in_pieces(data: bytes, size: int) -> object:
    flight = ServerFlight()
    for start in range(0, len(data), size):
        answer = flight.feed(data[start : start + size])
        if answer is not None:
            return answer
    return flight.eof()


def test_ecdhe_answer_gives_the_suite_the_curve_and_the_extensions_even_byte_by_byte() -> None:
    hello = _server_hello(0xC02F, exts=_ext(0xFF01, b"\x00") + _ext(0x0017, b""))
    certificate = _handshake(11, b"\x00\x00\x03\x00\x00\x00")
    key_exchange = _handshake(12, b"\x03\x00\x18" + b"\x41" + b"\x04" * 65)  # named_curve secp384r1
    flight = _record(22, hello + certificate) + _record(22, key_exchange + _handshake(14, b""))
    answer = _feed_in_pieces(flight, 1)
    assert answer.outcome == "accepted"  # type: ignore[attr-defined]
    assert answer.version == "TLSv1.2" and answer.suite_name == "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"  # type: ignore[attr-defined]
    assert answer.group == 0x0018  # type: ignore[attr-defined]
    assert answer.extensions == {0xFF01, 0x0017}  # type: ignore[attr-defined]


def test_dhe_answer_measures_the_prime() -> None:
    prime = (1 << 2047 | 1).to_bytes(256, "big")
    key_exchange = _handshake(12, struct.pack(">H", len(prime)) + prime + b"\x00\x01\x02" + b"\x00\x01\x05")
    message = _server_hello(0x009E) + key_exchange  # one handshake message split over two records
    answer = _feed_in_pieces(_record(22, message[:50]) + _record(22, message[50:]), 7)
    assert answer.dh_bits == 2048  # type: ignore[attr-defined]


def test_hello_retry_request_names_the_tls13_group() -> None:
    hrr_random = hashlib.sha256(b"HelloRetryRequest").digest()
    exts = _ext(0x002B, b"\x03\x04") + _ext(0x0033, b"\x00\x1d")
    answer = ServerFlight().feed(_record(22, _server_hello(0x1302, random=hrr_random, exts=exts)))
    assert answer is not None and answer.retry_request
    assert answer.version == "TLSv1.3" and answer.group == 0x001D and answer.suite_name == "TLS_AES_256_GCM_SHA384"


def test_refusals_alert_close_and_a_plaintext_answer() -> None:
    alert = ServerFlight().feed(_record(21, b"\x02\x28"))
    assert alert is not None and alert.outcome == "alert" and alert.alert == 40
    assert ServerFlight().eof().outcome == "closed"
    plain = ServerFlight().feed(b"-ERR TLS not available\r\n")
    assert plain is not None and plain.outcome == "not_tls"
    cut = ServerFlight()
    assert cut.feed(_record(22, _server_hello(0x009E))[:20]) is None
    assert cut.eof().outcome == "not_tls"


def test_rsa_key_exchange_needs_nothing_after_the_server_hello() -> None:
    answer = ServerFlight().feed(_record(22, _server_hello(0x002F, version=0x0301, exts=b"")))
    assert answer is not None and answer.version == "TLSv1" and answer.suite_name == "TLS_RSA_WITH_AES_128_CBC_SHA"
    assert answer.extensions == frozenset()  # no renegotiation_info: no RFC 5746


def test_an_endless_flight_is_cut_off() -> None:
    flight = ServerFlight()
    answer = None
    for _ in range(20):
        answer = flight.feed(_record(22, _handshake(11, b"\x00" * 16000)))  # certificates before any ServerHello
        if answer is not None:
            break
    assert answer is not None and answer.outcome == "not_tls"
