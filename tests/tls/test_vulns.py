"""The Heartbleed and CCS-injection probes by bytes (scanner.tls.vulns, sans-I/O): what goes out, and the verdict
every kind of answer gets, hostile ones included. Nothing a server sends may crash the analysis or pass for an
all-clear it is not."""

from __future__ import annotations

import struct

import pytest

from scanner.model import VulnerabilityCheck
from scanner.tls.hello import EXT_HEARTBEAT, client_hello, read_extensions
from scanner.tls.vulns import (
    CLAIMED,
    SENT,
    CcsJudge,
    HeartbleedJudge,
    RecordReader,
    early_change_cipher_spec,
    heartbeat_requests,
)

TLS12 = 0x0303


def _record(kind: int, body: bytes, version: int = TLS12) -> bytes:
    return struct.pack(">BHH", kind, version, len(body)) + body


def _response(declared: int, carried: int) -> bytes:
    return _record(24, b"\x02" + declared.to_bytes(2, "big") + b"\xaa" * carried + b"\x00" * 16)


def _alert(code: int) -> bytes:
    return _record(21, bytes([2, code]))


REST_OF_FLIGHT = _record(22, b"\x0b\x00\x00\x03\x00\x00\x00") + _record(22, b"\x0e\x00\x00\x00")


def _judge(kind: type[HeartbleedJudge] | type[CcsJudge], stream: bytes, *, piece: int = 0) -> VulnerabilityCheck:
    """The verdict on ``stream`` (then a close), fed whole or ``piece`` bytes at a time."""
    judge = kind("TLSv1.2")
    reader = RecordReader()
    for start in range(0, len(stream), piece or max(len(stream), 1)):
        reader.feed(stream[start : start + (piece or len(stream))])
        verdict = judge.read(reader)
        if verdict is not None:
            return verdict
    return judge.eof(reader)


# -- what goes out ---------------------------------------------------------------------------------------------


def test_the_heartbeat_requests_claim_more_than_the_first_carries_and_the_second_is_well_formed() -> None:
    sent = heartbeat_requests(TLS12)
    first_len = int.from_bytes(sent[3:5], "big")
    first, second = sent[: 5 + first_len], sent[5 + first_len :]
    assert first[:3] == b"\x18\x03\x03" and first[5] == 1  # a heartbeat record holding a request
    assert int.from_bytes(first[6:8], "big") == CLAIMED > SENT == first_len - 3  # claims more than it carries
    assert second[:3] == b"\x18\x03\x03" and second[5] == 1
    assert int.from_bytes(second[6:8], "big") == SENT
    assert int.from_bytes(second[3:5], "big") == 3 + SENT + 16  # payload and RFC 6520's 16 bytes of padding
    assert len(sent) == len(first) + len(second)


def test_the_early_change_cipher_spec_is_two_one_byte_records() -> None:
    assert early_change_cipher_spec(0x0301) == b"\x14\x03\x01\x00\x01\x01" * 2


@pytest.mark.parametrize("version", ["TLSv1", "TLSv1.1", "TLSv1.2"])
def test_tls12_and_older_hellos_offer_the_heartbeat_extension(version: str) -> None:
    hello = client_hello(version, [0xC02F], [0x001D], "mail.example.test")
    assert _extensions(hello)[EXT_HEARTBEAT] == b"\x01"  # peer_allowed_to_send


@pytest.mark.parametrize("version", ["TLSv1.3", "SSLv3"])
def test_tls13_and_sslv3_hellos_do_not(version: str) -> None:
    assert EXT_HEARTBEAT not in _extensions(client_hello(version, [0x1301, 0x002F], [0x001D], None))


def _extensions(hello: bytes) -> dict[int, bytes]:
    body = hello[9:]
    at = 34
    at += 1 + body[at]
    at += 2 + int.from_bytes(body[at : at + 2], "big")
    at += 1 + body[at]
    return read_extensions(body, at)


# -- Heartbleed ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("piece", [0, 1, 7])
def test_a_response_longer_than_the_request_sent_is_vulnerable_even_byte_by_byte(piece: int) -> None:
    stream = REST_OF_FLIGHT + _response(CLAIMED, CLAIMED) + _response(SENT, SENT)
    verdict = _judge(HeartbleedJudge, stream, piece=piece)
    assert verdict.verdict == "vulnerable"
    assert f"{CLAIMED - SENT} bytes of the server's memory" in verdict.evidence
    assert "\xaa" not in verdict.evidence  # counted, never kept


def test_only_the_well_formed_request_answered_is_not_vulnerable() -> None:
    verdict = _judge(HeartbleedJudge, REST_OF_FLIGHT + _response(SENT, SENT))
    assert verdict.verdict == "not_vulnerable" and f"carried {SENT} bytes" in verdict.evidence


@pytest.mark.parametrize(
    ("stream", "verdict"),
    [
        (_alert(10), "not_vulnerable"),  # heartbeats refused
        (b"", "not_vulnerable"),  # closed without a response
        (_response(CLAIMED, 5), "inconclusive"),  # claims bytes it does not carry: not proof of a leak
        (_response(0xFFFF, 0), "inconclusive"),
        (_record(21, b"\x02"), "inconclusive"),  # a truncated alert
        (_record(23, b"\x00" * 40), "inconclusive"),  # application data instead
        (_record(24, b"\x02"), "not_vulnerable"),  # a heartbeat record too short to be a response, then a close
        (b"* OK IMAP4rev1 ready\r\n", "inconclusive"),  # not TLS at all
        (b"\x18\x03\x03\xff\xff" + b"\x00" * 10, "inconclusive"),  # an impossible record length
        (_response(CLAIMED, CLAIMED)[:20], "inconclusive"),  # cut off in the middle of a record
    ],
    ids=[
        "alert",
        "close",
        "claims-more-than-it-carries",
        "claims-65535",
        "truncated-alert",
        "application-data",
        "runt-heartbeat",
        "garbage",
        "huge-length",
        "cut-short",
    ],
)
def test_hostile_and_odd_answers_to_the_heartbeat_requests(stream: bytes, verdict: str) -> None:
    assert _judge(HeartbleedJudge, stream).verdict == verdict


def test_our_own_requests_echoed_back_are_not_a_response() -> None:
    verdict = _judge(HeartbleedJudge, heartbeat_requests(TLS12))  # a reflector: then it closes
    assert verdict.verdict == "not_vulnerable" and "no heartbeat response" in verdict.evidence


def test_silence_is_inconclusive_never_an_all_clear() -> None:
    verdict = HeartbleedJudge("TLSv1.2").timeout(5.0)
    assert verdict.verdict == "inconclusive" and "5 s" in verdict.evidence


def test_more_than_the_read_cap_is_inconclusive() -> None:
    flight = _record(22, b"\x00" * 16000)
    verdict = _judge(HeartbleedJudge, flight * 20)
    assert verdict.verdict == "inconclusive" and "KB" in verdict.evidence


# -- CCS injection ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stream", "verdict"),
    [
        (REST_OF_FLIGHT + _alert(10), "not_vulnerable"),  # unexpected_message: the fix
        (REST_OF_FLIGHT + _alert(40), "not_vulnerable"),
        (REST_OF_FLIGHT, "not_vulnerable"),  # closed without an alert
        (REST_OF_FLIGHT + _alert(20), "vulnerable"),  # took it, then bad_record_mac on the next record
        (REST_OF_FLIGHT + _alert(21), "vulnerable"),  # decryption_failed (SSL 3.0 stacks)
        (_response(SENT, SENT) + _alert(20), "vulnerable"),  # a late heartbeat response first
        (_alert(47), "inconclusive"),
        (_record(21, b"\x02"), "inconclusive"),
        (_record(20, b"\x01"), "inconclusive"),  # the server's own ChangeCipherSpec
        (b"\x00" * 64, "inconclusive"),
        (_alert(20)[:6], "inconclusive"),
    ],
    ids=[
        "unexpected-message",
        "handshake-failure",
        "close",
        "bad-record-mac",
        "decryption-failed",
        "after-a-heartbeat",
        "other-alert",
        "truncated-alert",
        "server-ccs",
        "garbage",
        "cut-short",
    ],
)
@pytest.mark.parametrize("piece", [0, 1])
def test_answers_to_the_early_change_cipher_spec(stream: bytes, verdict: str, piece: int) -> None:
    assert _judge(CcsJudge, stream, piece=piece).verdict == verdict


def test_the_evidence_names_the_alert_by_code_and_the_version() -> None:
    verdict = _judge(CcsJudge, _alert(20))
    assert verdict.version == "TLSv1.2" and "bad_record_mac (20)" in verdict.evidence


def test_the_end_of_the_flight_is_seen_in_a_record_and_in_the_flight_reader() -> None:
    from scanner.tls.hello import ServerFlight

    reader = RecordReader(REST_OF_FLIGHT + _alert(40))
    first, done, alert = reader.next(), reader.next(), reader.next()
    assert first is not None and not first.ends_flight
    assert done is not None and done.ends_flight
    assert alert is not None and alert.kind == 21 and not alert.ends_flight
    hello = b"\x02\x00\x00\x26\x03\x03" + b"\x11" * 32 + b"\x00\x00\x2f\x00"  # TLS_RSA_WITH_AES_128_CBC_SHA
    flight = ServerFlight()
    together = flight.feed(_record(22, hello + b"\x0b\x00\x00\x03\x00\x00\x00" + b"\x0e\x00\x00\x00"))
    assert together is not None and together.outcome == "accepted" and flight.hello_done()
    flight = ServerFlight()
    assert flight.feed(_record(22, hello)) is not None and not flight.hello_done()
