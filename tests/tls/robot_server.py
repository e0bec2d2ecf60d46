"""A TLS server on loopback that really decrypts the RSA premaster, for the ROBOT tests.

ClientHellos are answered by rules (tests.tls.rule_server), with a real Certificate message after the ServerHello
when the suite has RSA key exchange, so the enumeration and the confirmation see an ordinary server. When the client
goes on with a ClientKeyExchange, the server decrypts it with its private key (raw modular exponentiation) and reads
the client's ChangeCipherSpec and Finished too, then reacts as its ``behaviour`` says:

- ``constant``: the same alert (bad_record_mac, 20) whatever the padding, as OpenSSL does (not vulnerable);
- ``strong``: decrypt_error (51) when the block does not start 00 02, bad_record_mac otherwise: tells apart
  conformant and non-conformant starts, like the stacks the ROBOT paper found with a strong oracle;
- ``weak``: a fully conformant padding (00 02, 8 non-zero bytes, a 0x00, 48 bytes) goes on to bad_record_mac, any
  other closes the connection without an alert: only the well-formed padding stands out;
- ``flaky``: alternates between an alert and a silent close from one connection to the next, whatever was sent;
- ``silent``: never answers the key exchange.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from scanner.certgen import Issued
from scanner.tls.suites import SUITE_NAMES, key_exchange
from tests.tls.rule_server import Rules, answer

Behaviour = Literal["constant", "strong", "weak", "flaky", "silent"]


def private_numbers(issued: Issued) -> tuple[int, int]:
    """(n, d) of the certificate's RSA key."""
    key = serialization.load_pem_private_key(issued.key_pem, password=None)
    assert isinstance(key, RSAPrivateKey)
    numbers = key.private_numbers()
    return numbers.public_numbers.n, numbers.d


def decrypt(ciphertext: bytes, n: int, d: int) -> bytes:
    size = (n.bit_length() + 7) // 8
    return pow(int.from_bytes(ciphertext, "big"), d, n).to_bytes(size, "big")


def conformant(block: bytes) -> bool:
    """PKCS#1 v1.5 encryption padding holding a 48-byte premaster."""
    if block[:2] != b"\x00\x02":
        return False
    zero = block.find(b"\x00", 2)
    return zero >= 10 and len(block) - zero - 1 == 48


def _with_certificate(flight: bytes, certificate: bytes) -> bytes:
    """The rule server's flight with a Certificate record after its ServerHello, when the suite is RSA kex."""
    if flight[0] != 22 or len(flight) < 9 or flight[5] != 2:
        return flight
    end = 5 + int.from_bytes(flight[3:5], "big")
    hello = flight[9:end]
    at = 35 + hello[34]
    suite = SUITE_NAMES.get(int.from_bytes(hello[at : at + 2], "big"), "")
    if key_exchange(suite) != "RSA" or hello[0:2] == b"\x03\x04":
        return flight
    body = len(certificate).to_bytes(3, "big") + certificate
    message = b"\x0b" + (len(body) + 3).to_bytes(3, "big") + (len(body)).to_bytes(3, "big") + body
    record = b"\x16" + flight[1:3] + len(message).to_bytes(2, "big") + message
    return flight[:end] + record + flight[end:]


@dataclass
class RobotServer:
    rules: Rules
    issued: Issued
    behaviour: Behaviour
    host: str = "127.0.0.6"
    port: int = 0
    connections: int = 0
    key_exchanges: int = 0

    async def _read_record(self, reader: asyncio.StreamReader) -> tuple[int, bytes]:
        header = await reader.readexactly(5)
        return header[0], await reader.readexactly(int.from_bytes(header[3:5], "big"))

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        number = self.connections
        try:
            kind, hello = await self._read_record(reader)
            header = bytes([kind]) + b"\x03\x01" + len(hello).to_bytes(2, "big")
            writer.write(_with_certificate(answer(self.rules, header + hello), self.issued.cert_der))
            await writer.drain()
            kind, message = await self._read_record(reader)
            if kind != 22 or not message or message[0] != 16:
                return
            self.key_exchanges += 1
            await self._read_record(reader)  # ChangeCipherSpec
            await self._read_record(reader)  # the Finished nobody can verify
            await self._react(message[6:], number, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _react(
        self, ciphertext: bytes, number: int, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        n, d = private_numbers(self.issued)
        block = decrypt(ciphertext, n, d)
        if self.behaviour == "silent":
            await reader.read(1)  # until the client gives up and closes
            return
        if self.behaviour == "constant":
            alert: int | None = 20
        elif self.behaviour == "strong":
            alert = 20 if block[:2] == b"\x00\x02" else 51
        elif self.behaviour == "weak":
            alert = 20 if conformant(block) else None
        else:
            alert = 20 if number % 2 else None
        if alert is not None:
            writer.write(b"\x15\x03\x03\x00\x02\x02" + bytes([alert]))
            await writer.drain()

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection(self.host, self.port, local_addr=("127.0.0.1", 0))


@contextlib.asynccontextmanager
async def robot_server(
    rules: Rules, issued: Issued, behaviour: Behaviour, host: str = "127.0.0.6"
) -> AsyncIterator[RobotServer]:
    server = RobotServer(rules, issued, behaviour, host)
    listening = await asyncio.start_server(server._handle, host, 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
