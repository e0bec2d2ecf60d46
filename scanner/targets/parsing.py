"""Target syntax: what the user typed (addresses, CIDR blocks, ranges, names, URLs, target files, ``-p``) turned
into address intervals and names with their port specs. Nothing here resolves or sends anything; a bad token
raises UsageError naming it.

Port rules: a bare target gets the ``-p`` list (default 110,143,993,995; ``-p client`` adds the submission ports
465 and 587). ``HOST:PORT`` is allowed for the six standard ports, whose protocol and TLS mode are known
(scanner.model.STANDARD_PORTS). Any other port needs a scheme (``imap://HOST:PORT``, ``imaps://``, ``pop3://``,
``pop3s://``, ``submission://``, ``submissions://``) or a ``-p`` entry such as ``imaps:10993``.
"""

from __future__ import annotations

import ipaddress
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from scanner.errors import UsageError
from scanner.model import PORT_PRESETS, STANDARD_PORTS, Protocol, Transport
from scanner.targets.intervals import to_int

SCHEMES: dict[str, tuple[Protocol, Transport, int]] = {
    "imap": ("imap", "starttls", 143),
    "imaps": ("imap", "implicit", 993),
    "pop3": ("pop3", "starttls", 110),
    "pop3s": ("pop3", "implicit", 995),
    "submission": ("smtp", "starttls", 587),
    "submissions": ("smtp", "implicit", 465),
}
_SCHEME_NAMES = ", ".join(SCHEMES)

_NUMERIC = re.compile(r"^[0-9./\-]+$")
_SHORT_RANGE = re.compile(r"^(\d{1,3}\.\d{1,3}\.\d{1,3}\.)(\d{1,3})-(\d{1,3})$")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True, order=True)
class PortSpec:
    port: int
    protocol: Protocol
    transport: Transport


def standard_port(port: int, token: str) -> PortSpec:
    if port not in STANDARD_PORTS:
        raise UsageError(
            f"{token}: port {port} is not a standard POP3/IMAP/submission port; say what to speak there with "
            f"{_SCHEME_NAMES} (e.g. imaps://HOST:{port}), or -p imaps:{port}"
        )
    protocol, transport = STANDARD_PORTS[port]
    return PortSpec(port, protocol, transport)


def _port_number(text: str, token: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port in {token!r}: {text!r} (1-65535)")
    return int(text)


def parse_ports(text: str) -> tuple[PortSpec, ...]:
    """``-p``: comma-separated standard ports (110,143,993,995), SCHEME:PORT entries (imaps:10993) or a preset
    name (``client`` = 110,143,465,587,993,995)."""
    specs: list[PortSpec] = []
    items = (part.strip() for part in text.split(","))
    for item in (expanded for part in items for expanded in PORT_PRESETS.get(part.lower(), part).split(",")):
        if not item:
            continue
        scheme, sep, number = item.partition(":")
        if sep:
            if scheme.lower() not in SCHEMES:
                raise UsageError(f"-p {text}: unknown scheme {scheme!r} in {item!r} ({_SCHEME_NAMES})")
            protocol, transport, _ = SCHEMES[scheme.lower()]
            spec = PortSpec(_port_number(number, item), protocol, transport)
        else:
            spec = standard_port(_port_number(item, item), f"-p {text}")
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise UsageError(f"-p {text!r}: no ports")
    return tuple(specs)


# -- token parsing -------------------------------------------------------------------------------------------------


@dataclass
class Parsed:
    """One token: address intervals or a name, with explicit port specs (None: use the -p list)."""

    token: str
    intervals: list[tuple[int, int]] = field(default_factory=list)
    name: str | None = None
    ports: tuple[PortSpec, ...] | None = None


def address_form(text: str, token: str) -> list[tuple[int, int]] | None:
    """Intervals of an address, CIDR block or range; None when text is not written as one."""
    if "/" in text:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            if _NUMERIC.match(text) or ":" in text:
                raise UsageError(f"bad network {token!r}") from None
            return None
        return [(to_int(net.network_address), to_int(net.broadcast_address))]
    short = _SHORT_RANGE.match(text)
    if short:
        prefix, low, high = short.groups()
        try:
            first: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(prefix + low)
            last: ipaddress.IPv4Address | ipaddress.IPv6Address = ipaddress.IPv4Address(prefix + high)
        except ValueError:
            raise UsageError(f"bad range {token!r}") from None
        return _range(first, last, token)
    if "-" in text and (_NUMERIC.match(text) or ":" in text):
        left, _, right = text.partition("-")
        try:
            first, last = ipaddress.ip_address(left), ipaddress.ip_address(right)
        except ValueError:
            raise UsageError(f"bad range {token!r}") from None
        if first.version != last.version:
            raise UsageError(f"bad range {token!r}: mixes IPv4 and IPv6")
        return _range(first, last, token)
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        if _NUMERIC.match(text) or ":" in text:
            raise UsageError(f"bad address {token!r}") from None
        return None
    value = to_int(address)
    return [(value, value)]


def _range(first: Any, last: Any, token: str) -> list[tuple[int, int]]:
    if int(last) < int(first):
        raise UsageError(f"range {token!r} expands to nothing: {last} comes before {first}")
    return [(to_int(first), to_int(last))]


def valid_name(text: str) -> bool:
    name = text[:-1] if text.endswith(".") else text
    return 0 < len(name) <= 253 and all(_LABEL.match(label) for label in name.split("."))


def _split_port(text: str, token: str) -> tuple[str, int | None]:
    """HOST, HOST:PORT, [V6], [V6]:PORT, bare IPv6 (no port)."""
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise UsageError(f"bad target {token!r}: missing ']'")
        host, rest = text[1:close], text[close + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise UsageError(f"bad target {token!r}")
        return host, _port_number(rest[1:], token)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, _port_number(port, token)
    return text, None


def parse_target(token: str) -> Parsed:
    """One target token. Raises UsageError naming it when it is malformed."""
    text = token.strip()
    if not text:
        raise UsageError("empty target")
    scheme_spec: tuple[Protocol, Transport, int] | None = None
    if "://" in text:
        scheme, _, text = text.partition("://")
        if scheme.lower() not in SCHEMES:
            raise UsageError(f"bad target {token!r}: unknown scheme {scheme!r} ({_SCHEME_NAMES})")
        scheme_spec = SCHEMES[scheme.lower()]
        text = text[:-1] if text.endswith("/") else text  # imap://host/
    host, port = _split_port(text, token)
    ports: tuple[PortSpec, ...] | None = None
    if scheme_spec is not None:
        protocol, transport, default = scheme_spec
        ports = (PortSpec(port or default, protocol, transport),)
    elif port is not None:
        ports = (standard_port(port, token),)
    if not host:
        raise UsageError(f"bad target {token!r}: no host")
    intervals = address_form(host, token)
    if intervals is not None:
        return Parsed(token, intervals=intervals, ports=ports)
    if not valid_name(host):
        raise UsageError(f"bad target {token!r}: not an address, network, range or host name")
    return Parsed(token, name=host.rstrip(".").lower(), ports=ports)


def _tokens_of_line(line: str) -> list[str]:
    text = line.split("#", 1)[0].strip()
    if not text:
        return []
    fields = text.split()
    port = address = None
    # masscan -oL: "open tcp 143 192.0.2.7 1700000000"
    if len(fields) == 5 and fields[0] == "open" and fields[1] == "tcp" and fields[2].isdigit():
        port, address = fields[2], fields[3]
    # masscan's console lines (its output without -o): "Discovered open port 143/tcp on 192.0.2.7"
    elif len(fields) == 6 and fields[:3] == ["Discovered", "open", "port"] and fields[4] == "on":
        port, _, protocol = fields[3].partition("/")
        if protocol != "tcp" or not port.isdigit():
            return [text]  # not a line we know: reported as a bad target
        address = fields[5]
    if port is not None and address is not None:
        return [f"[{address}]:{port}" if ":" in address else f"{address}:{port}"]
    return [f.strip(",") for f in fields if f.strip(",")]


def read_list(path: str, *, flag: str = "-iL") -> Iterator[tuple[str, str]]:
    """(token, where) pairs of a target file: one or more targets a line, # comments; '-' is stdin."""
    if path == "-":
        lines: Iterable[str] = sys.stdin
        label = "<stdin>"
        for number, line in enumerate(lines, 1):
            for token in _tokens_of_line(line):
                yield token, f"{label}:{number}"
        return
    try:
        handle = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 (closed below, generator)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: {exc.strerror}") from None
    with handle:
        for number, line in enumerate(handle, 1):
            for token in _tokens_of_line(line):
                yield token, f"{path}:{number}"


def expand_sources(tokens: Iterable[str], lists: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    for token in tokens:
        if token == "-":
            yield from read_list("-")
        elif token.startswith("@") and len(token) > 1:
            yield from read_list(token[1:], flag=token[:1])
        else:
            yield token, None
    for path in lists:
        yield from read_list(path)


def parse_located(token: str, where: str | None) -> Parsed:
    try:
        return parse_target(token)
    except UsageError as exc:
        if where is None:
            raise
        raise UsageError(f"{where}: {exc}") from None
