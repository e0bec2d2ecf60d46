"""One TLS enumeration per server, not per port (see scanner.tls.enumerate).

The configuration a server's TLS stack accepts is a setting of the stack, not of a port: Dovecot's imap-login
serves 143 (STARTTLS) and 993 with the same ssl settings, Exchange's SCHANNEL is machine-wide. So the ports of one
address that speak the same protocol, present the same chain and negotiate the same version and cipher share one
enumeration, as they share the legacy-version probe (scanner.scan.legacy_share, whose rules these are): the first
port enumerates, the others wait for it and say where the result came from (``TlsConfiguration.enumerated_on``).
Submission ports never share (Postfix sets TLS per master.cf service). An enumeration that stopped early (the
server refused connections, the caps were reached) is not shared: the next port tries for itself.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from scanner.model import TlsConfiguration

SHARED_PROTOCOLS = frozenset({"imap", "pop3"})
MAX_SERVERS = 4096

Key = tuple[str, str, bytes, str | None, str | None]  # address, protocol, chain digest, version, cipher


class TlsShare:
    def __init__(self, max_servers: int = MAX_SERVERS) -> None:
        self._max = max_servers
        self._results: OrderedDict[Key, asyncio.Future[TlsConfiguration | None]] = OrderedDict()

    async def enumerate(self, key: Key, port: int, run: Callable[[], Awaitable[TlsConfiguration]]) -> TlsConfiguration:
        """The configuration for ``key``: enumerated by ``run()``, or the one another port of the server got
        (with ``enumerated_on`` set to that port)."""
        if key[1] not in SHARED_PROTOCOLS:
            return await run()
        known = self._results.get(key)
        if known is not None:
            shared = await asyncio.shield(known)
            if shared is not None:
                return shared
            return await run()
        waiting: asyncio.Future[TlsConfiguration | None] = asyncio.get_running_loop().create_future()
        self._results[key] = waiting
        while len(self._results) > self._max:
            self._results.popitem(last=False)
        try:
            result = await run()
        except BaseException:
            self._results.pop(key, None)
            waiting.set_result(None)
            raise
        if complete(result):
            waiting.set_result(dataclasses.replace(result, enumerated_on=port))
        else:
            self._results.pop(key, None)
            waiting.set_result(None)
        return result


def complete(config: TlsConfiguration) -> bool:
    return not any(entry.startswith("enumeration incomplete") for entry in config.untested)
