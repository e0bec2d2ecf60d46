"""A small fleet of fake IMAP servers on loopback, served from a background thread so scans in other processes (the
pods of an Indexed Job, the actors of a Ray cluster) can probe them, and so a test can count what each one was
sent: every conversation that carried a dummy login is recorded with its server.

Each server plays ``imap-no-tls`` (no STARTTLS: one connection per probe, the password checked in clear after the
profile's login delay), on 127.0.0.FIRST.. on two ports shared by every address; the addresses after the live
ones have nothing listening (closed endpoints, answered at once by a reset).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from scanner.fakeserver import FakeServer, bundled_profile


def free_port_pair(address: str, first: int) -> tuple[int, int]:
    """Two ports free on every one of the fleet's addresses (probed by binding on the first one)."""
    for base in range(first, first + 2000, 2):
        try:
            with socket.socket() as one, socket.socket() as two:
                one.bind((address, base))
                two.bind((address, base + 1))
            return base, base + 1
        except OSError:
            continue
    raise RuntimeError("no free pair of ports")


@dataclass
class Fleet:
    addresses: tuple[str, ...]  # every target address, live ones first
    live: int  # how many of them have servers
    ports: tuple[int, int]
    login_delay: float
    servers: list[FakeServer] = field(default_factory=list)

    @property
    def target(self) -> str:
        first, last = self.addresses[0], self.addresses[-1]
        return f"{first}-{last.rsplit('.', 1)[1]}"

    @property
    def port_list(self) -> str:
        return ",".join(f"imap:{port}" for port in self.ports)

    @property
    def endpoints(self) -> set[tuple[str, int]]:
        return {(address, port) for address in self.addresses for port in self.ports}

    def logins(self) -> Counter[tuple[str, int]]:
        """Conversations that carried a dummy login, per endpoint (address, port)."""
        counted: Counter[tuple[str, int]] = Counter()
        for server in self.servers:
            for session in server.sessions:
                if session.credentials:
                    counted[(server.host, server.port)] += 1
        return counted


@contextmanager
def fake_fleet(first: int = 40, live: int = 6, dark: int = 6, login_delay: float = 0.5) -> Iterator[Fleet]:
    addresses = tuple(f"127.0.0.{first + i}" for i in range(live + dark))
    fleet = Fleet(addresses, live, free_port_pair(addresses[0], 20000 + first * 10), login_delay)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fake-fleet", daemon=True)
    thread.start()

    def call(coroutine):  # type: ignore[no-untyped-def]
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(10)

    profile = bundled_profile("imap-no-tls")
    try:
        for address in addresses[:live]:
            for port in fleet.ports:
                server = FakeServer(profile, host=address, port=port, login_delay=login_delay)
                fleet.servers.append(call(server.start()))
        yield fleet
    finally:
        for server in fleet.servers:
            call(server.close())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
