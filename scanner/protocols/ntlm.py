"""Sans-I/O NTLM (MS-NLMP): the NEGOTIATE message mailprobe sends and the CHALLENGE message servers answer with.

Only what an information-disclosure check needs: mailprobe never computes an AUTHENTICATE message, so it never
holds or sends a credential. The NEGOTIATE carries none (no domain, no workstation: both fields empty)::

    data = negotiate_message()                     # 40 bytes, sent base64-encoded as the SASL response
    challenge = parse_challenge(b64decode(line))   # Challenge(target_name=..., dns_domain=..., version=...)

Every length and offset in a CHALLENGE is the server's choice. The parser bounds-checks each one and keeps what it
could read: a target name past the end of the message, a broken AV pair list or a name that is not UTF-16 becomes a
line in ``Challenge.problems`` while the other fields stand. Only a message that is not an NTLM CHALLENGE at all
(no signature, another type, shorter than its fixed header) raises ``NtlmError``.

Layouts (MS-NLMP 2.2.1.1, 2.2.1.2, 2.2.2.1, 2.2.2.10): little-endian throughout; a "fields" triple is
(length u16, max length u16, offset u32) pointing into the message.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import struct
from dataclasses import dataclass, field

SIGNATURE = b"NTLMSSP\0"
NEGOTIATE_TYPE = 1
CHALLENGE_TYPE = 2

# NegotiateFlags bits (MS-NLMP 2.2.2.5) that this module sends or reads.
NEGOTIATE_UNICODE = 0x00000001
NEGOTIATE_OEM = 0x00000002
REQUEST_TARGET = 0x00000004
NEGOTIATE_NTLM = 0x00000200
NEGOTIATE_ALWAYS_SIGN = 0x00008000
NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000
NEGOTIATE_TARGET_INFO = 0x00800000
NEGOTIATE_VERSION = 0x02000000
NEGOTIATE_128 = 0x20000000
NEGOTIATE_56 = 0x80000000

# What a current Windows client asks for (3.1.5.1.1), VERSION included: a server only sends its Version field (the
# Windows build) when asked. No SIGN or SEAL: no session is ever set up.
CLIENT_FLAGS = (
    NEGOTIATE_UNICODE
    | NEGOTIATE_OEM
    | REQUEST_TARGET
    | NEGOTIATE_NTLM
    | NEGOTIATE_ALWAYS_SIGN
    | NEGOTIATE_EXTENDED_SESSIONSECURITY
    | NEGOTIATE_VERSION
    | NEGOTIATE_128
    | NEGOTIATE_56
)
NTLM_REVISION_W2K3 = 0x0F

# AV pair ids (MS-NLMP 2.2.2.1)
AV_EOL = 0
AV_NB_COMPUTER = 1
AV_NB_DOMAIN = 2
AV_DNS_COMPUTER = 3
AV_DNS_DOMAIN = 4
AV_DNS_TREE = 5
AV_FLAGS = 6
AV_TIMESTAMP = 7
AV_NAMES = {
    AV_NB_COMPUTER: "netbios_computer",
    AV_NB_DOMAIN: "netbios_domain",
    AV_DNS_COMPUTER: "dns_computer",
    AV_DNS_DOMAIN: "dns_domain",
    AV_DNS_TREE: "dns_tree",
}

_HEADER = struct.Struct("<8sI")  # signature, message type
_FIELDS = struct.Struct("<HHI")  # length, max length, offset
_CHALLENGE_FIXED = 48  # signature .. TargetInfoFields; the Version field (8 more bytes) is optional
_VERSION = struct.Struct("<BBH3xB")  # major, minor, build, reserved, NTLM revision
_AV_HEADER = struct.Struct("<HH")
_FILETIME_EPOCH = dt.datetime(1601, 1, 1, tzinfo=dt.UTC)
MAX_MESSAGE = 64 * 1024  # far above any real CHALLENGE (a few hundred bytes); a line limit comes first anyway


class NtlmError(ValueError):
    """The bytes are not an NTLM CHALLENGE message; ``reason`` says why in words for the row."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Version:
    """The server's Windows version (MS-NLMP 2.2.2.10): "10.0.17763" is Windows Server 2019."""

    major: int
    minor: int
    build: int
    revision: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.build}"


@dataclass(frozen=True)
class Challenge:
    """What a CHALLENGE message tells about the server. Names are decoded text, exactly as sent (untrusted)."""

    flags: int
    target_name: str | None = None
    netbios_computer: str | None = None
    netbios_domain: str | None = None
    dns_computer: str | None = None
    dns_domain: str | None = None
    dns_tree: str | None = None
    timestamp: dt.datetime | None = None  # the server's clock (MsvAvTimestamp), UTC
    version: Version | None = None
    problems: tuple[str, ...] = field(default=())  # what could not be read, and why; the rest stands

    @property
    def names(self) -> dict[str, str]:
        """The names given away, by field name, in MS-NLMP order (target name first)."""
        found = {"target_name": self.target_name}
        found.update({name: getattr(self, name) for name in AV_NAMES.values()})
        return {k: v for k, v in found.items() if v}


def negotiate_message(flags: int = CLIENT_FLAGS) -> bytes:
    """A NEGOTIATE message: no domain and no workstation name (empty fields at the end of the fixed part), and a
    Version of 0.0.0 (mailprobe is no Windows build; the field only has to be there when VERSION is asked)."""
    end = 40 if flags & NEGOTIATE_VERSION else 32
    empty = _FIELDS.pack(0, 0, end)
    version = _VERSION.pack(0, 0, 0, NTLM_REVISION_W2K3) if flags & NEGOTIATE_VERSION else b""
    return _HEADER.pack(SIGNATURE, NEGOTIATE_TYPE) + struct.pack("<I", flags) + empty + empty + version


def decode_base64(text: str) -> bytes:
    """A SASL challenge's base64 text as bytes; NtlmError when it is not base64."""
    text = text.strip()
    if not text:
        raise NtlmError("the server sent an empty challenge instead of an NTLM CHALLENGE")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise NtlmError(f"the challenge is not base64 ({len(text)} characters)") from None


def parse_challenge(data: bytes) -> Challenge:
    """The CHALLENGE message in ``data``; NtlmError when it is not one. Damaged parts become ``problems``."""
    if len(data) > MAX_MESSAGE:
        raise NtlmError(f"the challenge is {len(data)} bytes, more than any NTLM CHALLENGE ({MAX_MESSAGE})")
    if len(data) < _HEADER.size or data[:8] != SIGNATURE:
        raise NtlmError("not an NTLM message (no NTLMSSP signature)")
    kind = _HEADER.unpack_from(data)[1]
    if kind != CHALLENGE_TYPE:
        raise NtlmError(f"NTLM message of type {kind}, not a CHALLENGE (type 2)")
    if len(data) < _CHALLENGE_FIXED:
        raise NtlmError(f"NTLM CHALLENGE cut short: {len(data)} bytes, its fixed part alone is {_CHALLENGE_FIXED}")
    problems: list[str] = []
    flags = struct.unpack_from("<I", data, 20)[0]
    unicode = bool(flags & NEGOTIATE_UNICODE)
    target_name = None
    raw_name = _field(data, 12, "target name", problems)
    if raw_name:
        target_name = _text(raw_name, unicode, "target name", problems)
    version = _version(data, flags, problems)
    values: dict[str, str] = {}
    timestamp = None
    if flags & NEGOTIATE_TARGET_INFO or struct.unpack_from("<H", data, 40)[0]:
        info = _field(data, 40, "target info", problems)
        if info is not None:
            values, timestamp = _av_pairs(info, problems)
    return Challenge(
        flags=flags,
        target_name=target_name,
        timestamp=timestamp,
        version=version,
        problems=tuple(problems),
        **values,
    )


def _field(data: bytes, at: int, what: str, problems: list[str]) -> bytes | None:
    """The bytes a (length, max length, offset) triple points at; None, with the reason, when they are not all in
    the message."""
    length, _, offset = _FIELDS.unpack_from(data, at)
    if length == 0:
        return b""
    if offset + length > len(data):
        problems.append(f"{what}: {length} bytes at offset {offset}, past the end of the {len(data)}-byte message")
        return None
    if offset < _CHALLENGE_FIXED and length:
        problems.append(f"{what}: offset {offset} points into the message header")
    return data[offset : offset + length]


def _text(raw: bytes, unicode: bool, what: str, problems: list[str]) -> str:
    """UTF-16LE when the server negotiated Unicode, else OEM text (read as Latin-1, which never fails)."""
    if not unicode:
        return raw.decode("latin-1")
    try:
        if len(raw) % 2:
            raise UnicodeDecodeError("utf-16-le", raw, len(raw) - 1, len(raw), "odd length")
        return raw.decode("utf-16-le")
    except UnicodeDecodeError:
        problems.append(f"{what}: not valid UTF-16 ({len(raw)} bytes); unreadable parts shown as \ufffd")
        return raw.decode("utf-16-le", errors="replace")


def _version(data: bytes, flags: int, problems: list[str]) -> Version | None:
    if not flags & NEGOTIATE_VERSION:
        return None
    if len(data) < _CHALLENGE_FIXED + _VERSION.size:
        problems.append("version: the VERSION flag is set but the message ends before the Version field")
        return None
    major, minor, build, revision = _VERSION.unpack_from(data, _CHALLENGE_FIXED)
    if major == minor == build == 0:
        return None  # sent empty (non-Windows servers): nothing disclosed
    return Version(major, minor, build, revision)


def _av_pairs(info: bytes, problems: list[str]) -> tuple[dict[str, str], dt.datetime | None]:
    """The names and the timestamp in a TargetInfo AV pair list; stops at MsvAvEOL or at the first pair that does
    not fit, keeping the pairs before it. The first of two pairs with one id counts."""
    values: dict[str, str] = {}
    timestamp: dt.datetime | None = None
    seen: set[int] = set()
    at = 0
    while True:
        if at + _AV_HEADER.size > len(info):
            problems.append("target info: the AV pair list ends without MsvAvEOL")
            break
        av_id, length = _AV_HEADER.unpack_from(info, at)
        at += _AV_HEADER.size
        if av_id == AV_EOL:
            break
        if at + length > len(info):
            problems.append(f"target info: AV pair {av_id} claims {length} bytes, {len(info) - at} left")
            break
        value = info[at : at + length]
        at += length
        if av_id in seen:
            problems.append(f"target info: AV pair {av_id} sent twice; the first one counts")
            continue
        seen.add(av_id)
        if av_id in AV_NAMES:
            values[AV_NAMES[av_id]] = _text(value, True, AV_NAMES[av_id].replace("_", " "), problems)
        elif av_id == AV_TIMESTAMP:
            timestamp = _filetime(value, problems)
    return values, timestamp


def _filetime(value: bytes, problems: list[str]) -> dt.datetime | None:
    if len(value) != 8:
        problems.append(f"timestamp: {len(value)} bytes, not 8")
        return None
    ticks = struct.unpack("<Q", value)[0]
    try:
        return _FILETIME_EPOCH + dt.timedelta(microseconds=ticks // 10)
    except OverflowError:
        problems.append("timestamp: out of range")
        return None


def challenge_message(
    *,
    server_challenge: bytes,
    target_name: str = "",
    av_pairs: tuple[tuple[int, bytes], ...] = (),
    version: tuple[int, int, int] | None = None,
    flags: int | None = None,
) -> bytes:
    """A CHALLENGE message (what a server sends): for the fake servers and the tests. ``av_pairs`` are (id, raw
    value) and get MsvAvEOL appended; names are passed through ``av_text``."""
    if len(server_challenge) != 8:
        raise ValueError("the server challenge is 8 bytes")
    if flags is None:
        flags = NEGOTIATE_UNICODE | REQUEST_TARGET | NEGOTIATE_NTLM | NEGOTIATE_EXTENDED_SESSIONSECURITY
        flags |= NEGOTIATE_TARGET_INFO | (NEGOTIATE_VERSION if version else 0) | NEGOTIATE_128 | NEGOTIATE_56
    name = target_name.encode("utf-16-le")
    info = b"".join(_AV_HEADER.pack(av_id, len(v)) + v for av_id, v in av_pairs) + _AV_HEADER.pack(AV_EOL, 0)
    head = _CHALLENGE_FIXED + (_VERSION.size if version else 0)
    version_bytes = _VERSION.pack(*version, NTLM_REVISION_W2K3) if version else b""
    return (
        _HEADER.pack(SIGNATURE, CHALLENGE_TYPE)
        + _FIELDS.pack(len(name), len(name), head)
        + struct.pack("<I", flags)
        + server_challenge
        + bytes(8)
        + _FIELDS.pack(len(info), len(info), head + len(name))
        + version_bytes
        + name
        + info
    )


def av_text(value: str) -> bytes:
    """A name as an AV pair value (UTF-16LE)."""
    return value.encode("utf-16-le")


def av_timestamp(moment: dt.datetime) -> bytes:
    """A UTC moment as an MsvAvTimestamp value (FILETIME: 100 ns ticks since 1601)."""
    delta = moment - _FILETIME_EPOCH
    ticks = (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10
    return struct.pack("<Q", ticks)
