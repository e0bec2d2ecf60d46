"""One legacy-version probe per server, not per port.

Whether TLS 1.0/1.1 are still accepted is a setting of the server's TLS stack, not of a port: Exchange's
SChannel enables protocol versions machine-wide, and Dovecot's imap-login (or pop3-login) serves STARTTLS on 143
and implicit TLS on 993 with the same ssl settings. So within a scan the ports of one address that speak the same
protocol (IMAP on 143 and 993, POP3 on 110 and 995), present the same certificate chain and negotiate the same
version and cipher share one probe: the first one probes, the others wait for its result and say where it came
from (``TlsInfo.legacy_versions_probed_on``). That is one connection fewer per such port, and one fewer
handshake for the server. Submission ports are never shared (Postfix sets TLS per master.cf service), nor are
results that depend on the moment (a timeout, a closed connection): those ports probe for themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from scanner.probe.context import LegacyKey
from scanner.scan.once import OncePerKey

if TYPE_CHECKING:
    from scanner.tls.legacy import LegacyResult

SHARED_PROTOCOLS = frozenset({"imap", "pop3"})
MAX_SERVERS = 4096  # servers remembered at once: a range's hosts come and go, their results need not stay

Key = LegacyKey  # address, protocol, chain digest, version, cipher


class LegacyShare:
    def __init__(self, max_servers: int = MAX_SERVERS) -> None:
        self._once: OncePerKey[Key, tuple[LegacyResult, int]] = OncePerKey(max_servers)

    async def probe(
        self, key: Key, port: int, run: Callable[[], Awaitable[LegacyResult]]
    ) -> tuple[LegacyResult, int | None]:
        """The legacy result for ``key``: probed by ``run()`` (and None as its port), or the result another port of
        the same server got (and that port). Only IMAP and POP3 ports share (see the module's docstring)."""
        if key[1] not in SHARED_PROTOCOLS:
            return await run(), None
        if self._once.taken(key):
            shared = await self._once.shared(key)
            if shared is not None:
                return shared[0], shared[1]
            return await run(), None  # the first port's probe told nothing lasting: this one probes itself
        result = await self._once.do(key, run, lambda result: (result, port) if _lasting(result) else None)
        return result, None


def _lasting(result: LegacyResult) -> bool:
    """True when the result is the server's setting: nothing in it is untested for a reason of the moment."""
    from scanner.tls.legacy import local_support

    return all(local_support(entry.split(":", 1)[0]) for entry in result.untested)
