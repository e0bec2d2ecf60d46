"""A TLS server that answers a ClientHello by rules and never goes further: for what OpenSSL (and so Python's ssl)
will not be set up to do, such as ignoring TLS_FALLBACK_SCSV, leaving out RFC 5746 or RFC 7627, or taking TLS
compression. Its first flight is real TLS on the wire (ServerHello, ServerKeyExchange, ServerHelloDone, or a
HelloRetryRequest, or an alert), as scanner.tls.hello reads it; there is no certificate and no signature, since
neither the enumeration nor the confirmation reads them.

After its flight it reads records as OpenSSL did while waiting for the client's key exchange, set by ``heartbeat``
and ``early_ccs``: heartbeat requests answered as OpenSSL 1.0.1f did (the length the request claims, read past what
it carried: zeros here, the server's memory there) or as 1.0.1g and later do (an over-long request dropped, RFC 6520
4), and an early ChangeCipherSpec refused (unexpected_message) or, as before 1.0.1h, taken, after which the next
record cannot be decrypted (bad_record_mac)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from scanner.tls.hello import VERSION_CODES, VERSION_NAMES, read_extensions
from scanner.tls.suites import FALLBACK_SCSV, GROUPS, SUITE_NAMES, TLS12_EC_GROUPS, ephemeral_dh, ephemeral_ec

_HRR_RANDOM = hashlib.sha256(b"HelloRetryRequest").digest()


@dataclass(frozen=True)
class Rules:
    suites: dict[str, tuple[str, ...]]  # version -> suites (IANA names) in the server's order
    groups: tuple[str, ...] = ("x25519", "secp256r1")  # in the server's order
    server_order: bool = True
    dh_prime: int = (1 << 2047) + 0x1F  # a 2,048-bit odd number: only its size and digest are ever read
    fallback_scsv: bool = True
    secure_renegotiation: bool = True
    extended_master_secret: bool = True
    compression: bool = False
    # off: no echo of the extension; silent: echoed, requests never answered; alert: echoed, requests refused
    heartbeat: Literal["off", "fixed", "bleeds", "silent", "alert"] = "off"
    early_ccs: Literal["refused", "taken"] = "refused"


@dataclass
class _Hello:
    version: int
    suites: list[int]
    compression: list[int]
    extensions: dict[int, bytes] = field(default_factory=dict)


def _parse(data: bytes) -> _Hello:
    body = data[5 + 4 :]
    version = int.from_bytes(body[0:2], "big")
    at = 34
    at += 1 + body[at]
    n = int.from_bytes(body[at : at + 2], "big")
    suites = [int.from_bytes(body[i : i + 2], "big") for i in range(at + 2, at + 2 + n, 2)]
    at += 2 + n
    compression = list(body[at + 1 : at + 1 + body[at]])
    return _Hello(version, suites, compression, read_extensions(body, at + 1 + body[at]))


def _codes16(data: bytes, skip: int) -> list[int]:
    return [int.from_bytes(data[i : i + 2], "big") for i in range(skip, len(data) - 1, 2)]


def answer(rules: Rules, data: bytes) -> bytes:
    """The server's first flight for one ClientHello record."""
    hello = _parse(data)
    offered_versions = _codes16(hello.extensions.get(0x002B, b""), 1)
    groups = _codes16(hello.extensions.get(0x000A, b""), 2)
    ours = [VERSION_CODES[v] for v in rules.suites]
    if 0x0304 in offered_versions and "TLSv1.3" in rules.suites:
        version = 0x0304
    else:
        usable = [v for v in ours if v <= hello.version and v != 0x0304]
        if not usable:
            return _alert(70)  # protocol_version
        version = max(usable)
        if FALLBACK_SCSV in hello.suites and rules.fallback_scsv and version < max(ours):
            return _alert(86)  # inappropriate_fallback
    name = VERSION_NAMES[version]
    codes = {name_: code for code, name_ in SUITE_NAMES.items()}
    server_groups = [code for g in rules.groups for code, group in GROUPS.items() if group.name == g]
    shared_groups = [g for g in server_groups if g in groups]
    if version != 0x0304:
        shared_groups = [g for g in shared_groups if g in TLS12_EC_GROUPS]

    def usable_suite(code: int) -> bool:
        suite = SUITE_NAMES.get(code, "")
        return not ephemeral_ec(suite) or bool(shared_groups)

    server_suites = [codes[s] for s in rules.suites[name]]
    if rules.server_order:
        chosen = next((c for c in server_suites if c in hello.suites and usable_suite(c)), None)
    else:
        chosen = next((c for c in hello.suites if c in server_suites and usable_suite(c)), None)
    if chosen is None or (version == 0x0304 and not shared_groups):
        return _alert(40)  # handshake_failure
    if version == 0x0304:  # the empty key_share of an enumeration's hello: a HelloRetryRequest naming the group
        extensions = _ext(0x002B, struct.pack(">H", 0x0304)) + _ext(0x0033, struct.pack(">H", shared_groups[0]))
        return _record(22, 0x0303, _handshake(2, _server_hello(0x0303, _HRR_RANDOM, chosen, 0, extensions)))
    extensions = b""
    if rules.secure_renegotiation and (0x00FF in hello.suites or 0xFF01 in hello.extensions):
        extensions += _ext(0xFF01, b"\x00")
    if rules.extended_master_secret and 0x0017 in hello.extensions:
        extensions += _ext(0x0017, b"")
    if rules.heartbeat != "off" and 0x000F in hello.extensions:
        extensions += _ext(0x000F, b"\x01")
    compression = 1 if rules.compression and 1 in hello.compression else 0
    flight = _server_hello(version, os.urandom(32), chosen, compression, extensions)
    records = [_handshake(2, flight)]
    suite = SUITE_NAMES[chosen]
    if ephemeral_ec(suite):
        records.append(_handshake(12, b"\x03" + struct.pack(">H", shared_groups[0]) + b"\x01\x04"))
    elif ephemeral_dh(suite):
        prime = rules.dh_prime.to_bytes((rules.dh_prime.bit_length() + 7) // 8, "big")
        records.append(_handshake(12, struct.pack(">H", len(prime)) + prime + b"\x00\x01\x02\x00\x01\x05"))
    records.append(_handshake(14, b""))
    return b"".join(_record(22, version, r) for r in records)


def after_flight(rules: Rules, kind: int, body: bytes, keys_changed: bool) -> tuple[bytes, bool]:
    """The answer to one client record after the flight, and whether an early ChangeCipherSpec was taken."""
    if keys_changed:  # read with keys derived from an empty master secret: it cannot decrypt
        return _alert(20), True
    if kind == 20:
        return (b"", True) if rules.early_ccs == "taken" else (_alert(10), False)
    if kind == 24 and rules.heartbeat == "silent":
        return b"", False
    if kind == 24 and rules.heartbeat in ("fixed", "bleeds") and body[:1] == b"\x01" and len(body) >= 3:
        claimed = int.from_bytes(body[1:3], "big")
        if rules.heartbeat == "fixed" and 3 + claimed + 16 > len(body):
            return b"", False  # dropped silently, as RFC 6520 says
        payload = (body[3:] + bytes(claimed))[:claimed]  # past the request: zeros, where 1.0.1f read its memory
        return _record(24, 0x0303, b"\x02" + claimed.to_bytes(2, "big") + payload + os.urandom(16)), False
    return _alert(10), False


async def _read_record(reader: asyncio.StreamReader) -> bytes:
    header = await reader.readexactly(5)
    return header + await reader.readexactly(int.from_bytes(header[3:5], "big"))


def _split(data: bytes) -> tuple[int, bytes]:
    return data[0], data[5:]


def _server_hello(version: int, random: bytes, suite: int, compression: int, extensions: bytes) -> bytes:
    body = struct.pack(">H", version) + random + b"\x00" + struct.pack(">HB", suite, compression)
    return body + struct.pack(">H", len(extensions)) + extensions


def _handshake(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + len(body).to_bytes(3, "big") + body


def _record(kind: int, version: int, payload: bytes) -> bytes:
    return struct.pack(">BHH", kind, min(version, 0x0303), len(payload)) + payload


def _alert(description: int) -> bytes:
    return _record(21, 0x0303, bytes([2, description]))


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack(">HH", kind, len(data)) + data


@dataclass
class RuleServer:
    rules: Rules
    host: str = "127.0.0.4"
    port: int = 0
    connections: int = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            writer.write(answer(self.rules, await _read_record(reader)))
            await writer.drain()
            reply = b""
            keys_changed = False
            while not reply.startswith(b"\x15"):  # until an alert, or the client closes
                kind, body = _split(await _read_record(reader))
                reply, keys_changed = after_flight(self.rules, kind, body, keys_changed)
                writer.write(reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, local_addr=("127.0.0.1", 0))


@contextlib.asynccontextmanager
async def rule_server(rules: Rules) -> AsyncIterator[RuleServer]:
    server = RuleServer(rules)
    listening = await asyncio.start_server(server._handle, server.host, 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
