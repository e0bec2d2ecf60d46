"""A tiny authoritative DNS responder for tests: asyncio UDP on 127.0.0.x, dnspython messages, records from a dict.

    async with LocalDns({"example.test.": {"MX": ["10 mx1.example.test."]}}) as dns:
        dns.address, dns.port, dns.queries   # queries: (name, type) in arrival order

Unknown names answer NXDOMAIN; known names without the asked type answer NOERROR with no records. A name listed
in ``fail`` answers SERVFAIL.
"""

from __future__ import annotations

import asyncio

import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Zone = dict[str, dict[str, list[str]]]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, server: LocalDns) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.server.answer(data), addr)


class LocalDns:
    def __init__(self, zone: Zone, *, address: str = "127.0.0.53", fail: frozenset[str] = frozenset()) -> None:
        self.zone = {name.lower(): records for name, records in zone.items()}
        self.address = address
        self.fail = {name.lower() for name in fail}
        self.port = 0
        self.queries: list[tuple[str, str]] = []
        self._transport: asyncio.DatagramTransport | None = None

    def answer(self, wire: bytes) -> bytes:
        query = dns.message.from_wire(wire)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        if name in self.fail:
            response.set_rcode(dns.rcode.SERVFAIL)
        elif name not in self.zone:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif rdtype in self.zone[name]:
            rrset = dns.rrset.from_text_list(name, 60, dns.rdataclass.IN, rdtype, self.zone[name][rdtype])
            response.answer.append(rrset)
        return response.to_wire()

    async def __aenter__(self) -> LocalDns:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), local_addr=(self.address, 0))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._transport is not None:
            self._transport.close()

    @property
    def nameserver(self) -> str:
        return f"{self.address}:{self.port}"
