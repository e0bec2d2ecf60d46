"""One TLS enumeration per server, not per port, and a confirmation instead of an enumeration where one will do.

The configuration a server's TLS stack accepts is a setting of the stack, not of a port: Dovecot's imap-login and
pop3-login serve 143, 993, 110 and 995 with the same ssl settings, Exchange's SCHANNEL is machine-wide. So the IMAP
and POP3 ports of one address that present the same chain and negotiate the same version and cipher share one
enumeration: the first port enumerates, the others wait for it and say where the result came from
(``TlsConfiguration.enumerated_on``). The legacy-version probe is shared by the same rule, within a protocol
(scanner.scan.legacy_share).

Other servers are not assumed to be alike, but often are: a pool behind one certificate. A server at another address
that presents a chain already enumerated in this scan and negotiates the same version and cipher is asked to confirm
that configuration (scanner.tls.confirm: a few hellos, mostly refused ones, instead of dozens of full handshakes) and
gets it with ``confirmed_from``; when its answers differ it is enumerated in full. Submission ports take no part:
Postfix sets TLS per master.cf service. An enumeration that stopped early (the server refused connections, the caps
were reached) is neither shared nor confirmed against: the next port tries for itself. The forked workers of one
scan share their full enumerations too (scanner.scan.chain_board): a pool is enumerated once per scan, not once per
process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from scanner.model import TlsConfiguration
from scanner.scan.chain_board import ChainBoard
from scanner.scan.once import OncePerKey

SHARED_PROTOCOLS = frozenset({"imap", "pop3"})
MAX_SERVERS = 4096

Key = tuple[str, str, bytes, str | None, str | None]  # address, protocol, chain digest, version, cipher
ServerKey = tuple[str, bytes, str | None, str | None]  # address, chain digest, version, cipher
ChainKey = tuple[bytes, str | None, str | None]  # chain digest, version, cipher
Confirm = Callable[[TlsConfiguration], Awaitable[TlsConfiguration | None]]


class TlsShare:
    def __init__(self, max_servers: int = MAX_SERVERS, board: ChainBoard | None = None) -> None:
        self._servers: OncePerKey[ServerKey, TlsConfiguration] = OncePerKey(max_servers)
        # full enumerations by chain, with where they were made ("address:port"): what others may confirm
        self._chains: OncePerKey[ChainKey, tuple[TlsConfiguration, str]] = OncePerKey(max_servers)
        self._board = board  # the other processes of the scan (scanner.scan.chain_board), when it has some

    async def enumerate(
        self,
        key: Key,
        port: int,
        run: Callable[[], Awaitable[TlsConfiguration]],
        confirm: Confirm | None = None,
    ) -> TlsConfiguration:
        """The configuration for ``key``: enumerated by ``run()``, the one another IMAP or POP3 port of the server
        got (with ``enumerated_on`` set to that port), or one enumerated on another server that ``confirm`` found
        here too (with ``confirmed_from``). Without ``confirm``, configurations are shared within a server only."""
        if key[1] not in SHARED_PROTOCOLS:
            return await run()
        server: ServerKey = (key[0], *key[2:])
        if self._servers.taken(server):
            shared = await self._servers.shared(server)
            return shared if shared is not None else await run()

        def share(result: TlsConfiguration) -> TlsConfiguration | None:
            return dataclasses.replace(result, enumerated_on=port) if complete(result) else None

        return await self._servers.do(server, lambda: self._confirmed_or_enumerated(key, port, run, confirm), share)

    async def _confirmed_or_enumerated(
        self, key: Key, port: int, run: Callable[[], Awaitable[TlsConfiguration]], confirm: Confirm | None
    ) -> TlsConfiguration:
        if confirm is None:
            return await run()
        chain: ChainKey = key[2:]
        if self._chains.taken(chain):
            found = await self._chains.shared(chain)  # another server is enumerating this chain: wait, then confirm
            if found is not None:
                configuration, where = found
                confirmed = await confirm(configuration)
                if confirmed is not None:
                    return dataclasses.replace(confirmed, confirmed_from=where)
            return await run()
        where = _where(key[0], port)
        check = confirm
        known: tuple[TlsConfiguration, str] | None = None  # what this process's other servers may confirm against

        async def first_here() -> TlsConfiguration:
            nonlocal known
            board = self._board
            if board is not None and not board.claim(chain):
                known = await board.wait(chain)  # another process of the scan is enumerating this chain
                if known is not None:
                    confirmed = await check(known[0])
                    if confirmed is not None:
                        return dataclasses.replace(confirmed, confirmed_from=known[1])
                return await run()  # this server in full; the others here still confirm against the known one
            try:
                result = await run()
            except BaseException:
                if board is not None:
                    board.publish(chain, None)  # the waiting processes stop waiting
                raise
            known = (result, where) if complete(result) else None
            if board is not None:
                board.publish(chain, known)
            return result

        return await self._chains.do(chain, first_here, lambda _: known)


def _where(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def complete(config: TlsConfiguration) -> bool:
    return not any(entry.startswith("enumeration incomplete") for entry in config.untested)
