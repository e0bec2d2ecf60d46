"""Labels for client addresses: internal ranges, and the server's own address (which Dovecot trusts)."""

from __future__ import annotations

import ipaddress
from functools import lru_cache


@lru_cache(maxsize=65536)
def address_labels(address: str) -> tuple[str, ...]:
    """``("loopback",)``, ``("private",)``, ``("link-local",)``, ``()`` for public, ``("not-an-ip",)``."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return ("not-an-ip",)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback:
        return ("internal", "loopback")
    if ip.is_link_local:
        return ("internal", "link-local")
    if ip.is_private and not _is_documentation(ip):
        return ("internal", "private")
    return ()


def _is_documentation(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    # Python counts the documentation ranges as "private"; in logs they stand for public clients.
    nets = ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24") if ip.version == 4 else ("2001:db8::/32",)
    return any(ip in ipaddress.ip_network(net) for net in nets)
