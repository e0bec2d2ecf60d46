"""The NTLM NEGOTIATE builder and CHALLENGE parser, by bytes: a real server's challenge, a full Exchange-like one,
and hostile ones (every length and offset is the server's choice)."""

from __future__ import annotations

import base64
import datetime as dt
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scanner.protocols.ntlm import (
    AV_DNS_COMPUTER,
    AV_DNS_DOMAIN,
    AV_DNS_TREE,
    AV_FLAGS,
    AV_NB_COMPUTER,
    AV_NB_DOMAIN,
    AV_TIMESTAMP,
    NEGOTIATE_UNICODE,
    NEGOTIATE_VERSION,
    NtlmError,
    av_text,
    av_timestamp,
    challenge_message,
    decode_base64,
    negotiate_message,
    parse_challenge,
)

# What Dovecot 2.3 (auth_mechanisms = plain ntlm, through Samba's ntlm_auth helper with workgroup CORP and netbios
# name EX01) answered to negotiate_message() on this machine: the message as a real server builds it.
SAMBA_CHALLENGE = (
    "TlRMTVNTUAACAAAACAAIADgAAAAFgomiWwu/gXRitwYAAAAAAAAAADQANABAAAAABgEAAAAAAA9DAE8AUgBQAAIACABDAE8AUgBQAAEACABF"
    "AFgAMAAxAAQAAAADAAQAdgBtAAcACAAoSWGGuoXdAQAAAAA="
)
WHEN = dt.datetime(2026, 12, 1, 9, 30, 0, tzinfo=dt.UTC)
EXCHANGE_PAIRS = (
    (AV_NB_DOMAIN, av_text("CORP")),
    (AV_NB_COMPUTER, av_text("EX01")),
    (AV_DNS_DOMAIN, av_text("corp.example.org")),
    (AV_DNS_COMPUTER, av_text("EX01.corp.example.org")),
    (AV_DNS_TREE, av_text("example.org")),
    (AV_TIMESTAMP, av_timestamp(WHEN)),
)


def exchange_like(**kwargs: object) -> bytes:
    values: dict[str, object] = {
        "server_challenge": b"\x01\x02\x03\x04\x05\x06\x07\x08",
        "target_name": "CORP",
        "av_pairs": EXCHANGE_PAIRS,
        "version": (10, 0, 17763),
    }
    values.update(kwargs)
    return challenge_message(**values)  # type: ignore[arg-type]


def test_negotiate_carries_no_name_and_asks_for_the_version() -> None:
    data = negotiate_message()
    assert data[:8] == b"NTLMSSP\0"
    assert struct.unpack_from("<I", data, 8)[0] == 1
    flags = struct.unpack_from("<I", data, 12)[0]
    assert flags == 0xA2088207  # UNICODE OEM REQUEST_TARGET NTLM ALWAYS_SIGN ESS VERSION 128 56
    assert flags & NEGOTIATE_VERSION
    # domain and workstation: empty fields (length 0) whose offset is the end of the message
    assert struct.unpack_from("<HHIHHI", data, 16) == (0, 0, 40, 0, 0, 40)
    assert data[32:] == bytes(7) + b"\x0f"  # Version 0.0.0, NTLM revision 15
    assert len(data) == 40
    assert negotiate_message(0x207) == data[:12] + struct.pack("<I", 0x207) + struct.pack("<HHIHHI", 0, 0, 32, 0, 0, 32)


def test_a_real_servers_challenge() -> None:
    challenge = parse_challenge(decode_base64(SAMBA_CHALLENGE))
    assert challenge.target_name == "CORP"
    assert challenge.netbios_domain == "CORP"
    assert challenge.netbios_computer == "EX01"
    assert challenge.dns_computer == "vm"
    assert challenge.dns_domain == ""  # sent, empty
    assert challenge.dns_tree is None  # not sent
    assert str(challenge.version) == "6.1.0"
    assert challenge.timestamp == dt.datetime(2026, 12, 6, 19, 46, 45, 591684, tzinfo=dt.UTC)
    assert challenge.problems == ()
    assert challenge.names == {"target_name": "CORP", "netbios_computer": "EX01", "netbios_domain": "CORP",
                               "dns_computer": "vm"}  # fmt: skip


def test_every_name_of_an_exchange_like_challenge() -> None:
    challenge = parse_challenge(exchange_like())
    assert challenge.names == {
        "target_name": "CORP",
        "netbios_computer": "EX01",
        "netbios_domain": "CORP",
        "dns_computer": "EX01.corp.example.org",
        "dns_domain": "corp.example.org",
        "dns_tree": "example.org",
    }
    assert str(challenge.version) == "10.0.17763" and challenge.version is not None
    assert challenge.version.revision == 15
    assert challenge.timestamp == WHEN
    assert challenge.problems == ()


def test_without_the_version_flag_no_version_is_read() -> None:
    challenge = parse_challenge(exchange_like(version=None))
    assert challenge.version is None and challenge.problems == ()


def test_oem_names_when_unicode_was_not_negotiated() -> None:
    data = bytearray(exchange_like(target_name=""))
    flags = struct.unpack_from("<I", data, 20)[0] & ~NEGOTIATE_UNICODE
    struct.pack_into("<I", data, 20, flags)
    name = b"CORP\xe9"
    struct.pack_into("<HHI", data, 12, len(name), len(name), len(data))
    challenge = parse_challenge(bytes(data) + name)
    assert challenge.target_name == "CORP\xe9"
    assert challenge.netbios_domain == "CORP"  # AV pairs are always UTF-16


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no NTLMSSP signature"),
        (b"HTTP/1.1 200 OK\r\n", "no NTLMSSP signature"),
        (negotiate_message(), "type 1, not a CHALLENGE"),
        (b"NTLMSSP\0\x02\0\0\0" + bytes(20), "cut short: 32 bytes"),
        (b"NTLMSSP\0" + b"\x03\0\0\0" + bytes(60), "type 3"),
        (b"NTLMSSP\0\x02\0\0\0" + bytes(70_000), "more than any NTLM CHALLENGE"),
    ],
)
def test_what_is_no_challenge_at_all_raises_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(NtlmError) as caught:
        parse_challenge(data)
    assert reason in caught.value.reason


@pytest.mark.parametrize(("text", "reason"), [("", "empty challenge"), ("not base64!", "not base64"), ("QQ", "base64")])
def test_base64_that_is_not(text: str, reason: str) -> None:
    with pytest.raises(NtlmError) as caught:
        decode_base64(text)
    assert reason in caught.value.reason


def test_a_target_name_past_the_end_is_a_problem_and_the_rest_stands() -> None:
    data = bytearray(exchange_like())
    struct.pack_into("<HHI", data, 12, 0xFFFF, 0xFFFF, 0xFFFFFFF0)  # huge length, offset far past the end
    challenge = parse_challenge(bytes(data))
    assert challenge.target_name is None
    assert challenge.dns_computer == "EX01.corp.example.org"
    assert str(challenge.version) == "10.0.17763"
    past = f"target name: 65535 bytes at offset 4294967280, past the end of the {len(data)}-byte message"
    assert challenge.problems == (past,)


def test_target_info_past_the_end_keeps_the_target_name() -> None:
    data = bytearray(exchange_like())
    struct.pack_into("<HHI", data, 40, 500, 500, 60)
    challenge = parse_challenge(bytes(data))
    assert challenge.target_name == "CORP"
    assert challenge.dns_computer is None
    assert "target info: 500 bytes at offset 60, past the end" in challenge.problems[0]


def test_an_av_pair_longer_than_the_list_keeps_the_pairs_before_it() -> None:
    pairs = ((AV_NB_DOMAIN, av_text("CORP")), (AV_DNS_COMPUTER, av_text("host")))
    data = bytearray(exchange_like(av_pairs=pairs))
    info_offset = struct.unpack_from("<I", data, 44)[0]
    second = info_offset + 4 + 8  # after the first pair (header 4 + "CORP" in UTF-16)
    struct.pack_into("<HH", data, second, AV_DNS_COMPUTER, 0xFFFF)
    challenge = parse_challenge(bytes(data))
    assert challenge.netbios_domain == "CORP"
    assert challenge.dns_computer is None
    assert challenge.problems == ("target info: AV pair 3 claims 65535 bytes, 12 left",)


def test_a_list_without_eol_and_a_repeated_pair() -> None:
    pairs = [(AV_NB_COMPUTER, av_text("A")), (AV_NB_COMPUTER, av_text("B")), (AV_FLAGS, b"\x02\0\0\0")]
    info = b"".join(struct.pack("<HH", i, len(v)) + v for i, v in pairs)
    data = bytearray(exchange_like(av_pairs=()))
    head = struct.unpack_from("<I", data, 44)[0]
    data = data[:head]
    struct.pack_into("<HHI", data, 40, len(info), len(info), len(data))
    struct.pack_into("<HHI", data, 12, 0, 0, 0)
    challenge = parse_challenge(bytes(data) + info)
    assert challenge.netbios_computer == "A"
    assert challenge.problems == (
        "target info: AV pair 1 sent twice; the first one counts",
        "target info: the AV pair list ends without MsvAvEOL",
    )


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (b"E\0X\0\x01", "EX\ufffd"),  # odd length
        (b"\x00\xd8A\0", "\ufffdA"),  # a lone high surrogate
    ],
)
def test_names_that_are_not_utf16_are_shown_replaced_with_a_problem(raw: bytes, shown: str) -> None:
    challenge = parse_challenge(exchange_like(av_pairs=((AV_DNS_DOMAIN, raw), (AV_NB_COMPUTER, av_text("EX01")))))
    assert challenge.dns_domain == shown
    assert challenge.netbios_computer == "EX01"
    assert challenge.problems == (f"dns domain: not valid UTF-16 ({len(raw)} bytes); unreadable parts shown as \ufffd",)


def test_control_characters_in_names_are_kept_as_data() -> None:
    """The parser keeps what was sent; making it safe is every output channel's job (scanner.untrusted)."""
    hostile = "\x1b]0;owned\x07\u202eEX01"
    challenge = parse_challenge(exchange_like(av_pairs=((AV_NB_COMPUTER, av_text(hostile)),)))
    assert challenge.netbios_computer == hostile


def test_bad_timestamps() -> None:
    short = parse_challenge(exchange_like(av_pairs=((AV_TIMESTAMP, b"\x01\x02"),)))
    assert short.timestamp is None and short.problems == ("timestamp: 2 bytes, not 8",)
    huge = parse_challenge(exchange_like(av_pairs=((AV_TIMESTAMP, b"\xff" * 8),)))
    assert huge.timestamp is None and huge.problems == ("timestamp: out of range",)


def test_version_flag_without_room_for_it() -> None:
    data = bytearray(challenge_message(server_challenge=bytes(8), flags=NEGOTIATE_VERSION | NEGOTIATE_UNICODE))
    struct.pack_into("<HHI", data, 40, 0, 0, 0)  # no target info either
    challenge = parse_challenge(bytes(data[:48]))
    assert challenge.version is None
    assert challenge.problems == ("version: the VERSION flag is set but the message ends before the Version field",)


def test_an_all_zero_version_discloses_nothing() -> None:
    challenge = parse_challenge(exchange_like(version=(0, 0, 0)))
    assert challenge.version is None


# -- fuzzing: nothing a server sends raises anything but NtlmError --------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
VALID = exchange_like()


@FUZZ
@given(st.binary(max_size=300))
def test_random_bytes_raise_only_ntlm_errors(data: bytes) -> None:
    for candidate in (data, b"NTLMSSP\0\x02\0\0\0" + data):
        try:
            challenge = parse_challenge(candidate)
        except NtlmError as exc:
            assert exc.reason
            continue
        assert all(isinstance(v, str) for v in challenge.names.values())


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=12),
       st.integers(0, len(VALID)))  # fmt: skip
def test_damaged_challenges_keep_what_they_can(edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID)
    for at, value in edits:
        data[at] = value
    try:
        challenge = parse_challenge(bytes(data[: max(cut, 48)]))
    except NtlmError as exc:
        assert exc.reason
        return
    for value in challenge.names.values():
        assert isinstance(value, str)
        value.encode("utf-8")  # never a lone surrogate: every name can be written to JSON and shown
    assert all(isinstance(p, str) and p for p in challenge.problems)


@FUZZ
@given(st.text(max_size=40))
def test_any_base64_text(text: str) -> None:
    try:
        data = decode_base64(text)
    except NtlmError:
        return
    assert data == base64.b64decode(text.strip())
