"""DNS against a real UDP responder on loopback: names, PTR, --domain discovery, failures as result rows."""

from __future__ import annotations

import pytest

from scanner.cli import build_parser
from scanner.commands.scan import plan_targets, settings_from_args
from scanner.errors import UsageError
from scanner.model import Endpoint, EndpointResult
from scanner.settings import ScanSettings
from scanner.targets.dns import Resolver, parse_nameserver
from tests.targets.dnsserver import LocalDns

ZONE = {
    "_imaps._tcp.example.test.": {"SRV": ["0 1 10993 imap-a.example.test."]},
    "_pop3._tcp.example.test.": {"SRV": ["10 1 1110 pop-b.example.test."]},
    "_imap._tcp.example.test.": {"SRV": ["0 0 0 ."]},  # "service not offered" (RFC 6186 section 3.4)
    "example.test.": {"MX": ["10 mx.example.test."]},
    "imap-a.example.test.": {"A": ["127.0.0.21"]},
    "pop-b.example.test.": {"A": ["127.0.0.22"], "AAAA": ["::1"]},
    "mx.example.test.": {"A": ["127.0.0.23"]},
    "mail.example.test.": {"A": ["127.0.0.24"]},
    "solo.example.test.": {"A": ["127.0.0.25"]},
    "21.0.0.127.in-addr.arpa.": {"PTR": ["imap-a.example.test."]},
    "ghost.test.": {},  # present, no addresses
}


def plan_args(*argv: str) -> ScanSettings:
    """The scan command's own settings for these options (the command line as a user types it)."""
    return settings_from_args(build_parser().parse_args(["scan", *argv]))


async def collect(plan) -> list[Endpoint | EndpointResult]:
    return [item async for item in plan.endpoints]


async def test_domain_discovery_finds_srv_mx_and_usual_names():
    async with LocalDns(ZONE) as server:
        plan = plan_targets(plan_args("--domain", "example.test", "--nameserver", server.nameserver, "-p", "143,993"))
        items = await collect(plan)
    endpoints = {(e.host, e.address, e.port, e.protocol, e.transport) for e in items if isinstance(e, Endpoint)}
    assert endpoints == {
        ("imap-a.example.test", "127.0.0.21", 10993, "imap", "implicit"),  # SRV _imaps
        ("pop-b.example.test", "127.0.0.22", 1110, "pop3", "starttls"),  # SRV _pop3, both families
        ("pop-b.example.test", "::1", 1110, "pop3", "starttls"),
        ("mx.example.test", "127.0.0.23", 143, "imap", "starttls"),  # MX, the -p list
        ("mx.example.test", "127.0.0.23", 993, "imap", "implicit"),
        ("mail.example.test", "127.0.0.24", 143, "imap", "starttls"),  # a usual name
        ("mail.example.test", "127.0.0.24", 993, "imap", "implicit"),
    }
    assert all(e.name == e.host for e in items if isinstance(e, Endpoint))  # the name is kept for SNI
    # SRV-named hosts remember the mail domain: clients check the certificate against it too (RFC 6186, 7817)
    srv = {e.host: e.srv_domain for e in items if isinstance(e, Endpoint)}
    assert srv["imap-a.example.test"] == srv["pop-b.example.test"] == "example.test"
    assert srv["mx.example.test"] is None and srv["mail.example.test"] is None
    assert not [e for e in items if isinstance(e, EndpointResult)]  # guessed names that do not exist are silent
    assert ("_imaps._tcp.example.test.", "SRV") in server.queries
    assert plan.total == len(items) == 7


async def test_name_targets_resolve_lazily_and_failures_become_rows():
    async with LocalDns(ZONE, fail=frozenset({"broken.test."})) as server:
        plan = plan_targets(
            plan_args(
                "solo.example.test",
                "nowhere.test",
                "ghost.test",
                "broken.test",
                "127.0.0.30",
                "-p",
                "143",
                "--nameserver",
                server.nameserver,
            )
        )
        assert server.queries == []  # planning sends nothing
        items = await collect(plan)
    rows = {item.host: item for item in items if isinstance(item, EndpointResult)}
    assert set(rows) == {"nowhere.test", "ghost.test", "broken.test"}
    assert all(r.state == "error" and r.error.startswith("DNS: ") for r in rows.values())
    assert "no such name" in rows["nowhere.test"].error
    assert "SERVFAIL" in rows["broken.test"].error
    endpoints = [(e.host, e.address) for e in items if isinstance(e, Endpoint)]
    assert endpoints == [("solo.example.test", "127.0.0.25"), ("127.0.0.30", "127.0.0.30")]


async def test_a_name_inside_a_scanned_range_is_scanned_once_with_its_name():
    async with LocalDns(ZONE) as server:
        plan = plan_targets(
            plan_args("solo.example.test", "127.0.0.24-26", "-p", "143", "--nameserver", server.nameserver)
        )
        items = await collect(plan)
    assert [(e.address, e.name) for e in items] == [
        ("127.0.0.25", "solo.example.test"),
        ("127.0.0.24", None),
        ("127.0.0.26", None),
    ]
    assert plan.total == 3


async def test_excluded_addresses_are_not_scanned_even_when_a_name_points_there():
    async with LocalDns(ZONE) as server:
        plan = plan_targets(
            plan_args(
                "solo.example.test",
                "mx.example.test",
                "--exclude",
                "127.0.0.25",
                "-p",
                "143",
                "--nameserver",
                server.nameserver,
            )
        )
        items = await collect(plan)
    assert [e.address for e in items] == ["127.0.0.23"]


async def test_domain_without_mail_services_is_one_error_row():
    async with LocalDns({"empty.test.": {"A": ["127.0.0.40"]}}) as server:
        plan = plan_targets(plan_args("--domain", "empty.test", "-p", "143", "--nameserver", server.nameserver))
        items = await collect(plan)
    assert len(items) == 1 and isinstance(items[0], EndpointResult)
    assert items[0].state == "error" and "no mail service found for empty.test" in items[0].error


async def test_ptr_lookup_and_cache():
    async with LocalDns(ZONE) as server:
        resolver = Resolver(nameserver=parse_nameserver(server.nameserver), timeout=2.0)
        assert await resolver.reverse_for_scan("127.0.0.21") == "imap-a.example.test"
        assert await resolver.reverse_for_scan("127.0.0.21") == "imap-a.example.test"
        assert await resolver.reverse_for_scan("127.0.0.99") is None
    assert server.queries.count(("21.0.0.127.in-addr.arpa.", "PTR")) == 1


async def test_loopback_ptr_is_not_asked_of_the_system_resolver():
    assert await Resolver().reverse_for_scan("127.0.0.5") is None


async def test_silent_nameserver_times_out_into_a_row():
    import socket

    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # bound, never answers
    sink.bind(("127.0.0.54", 0))
    try:
        plan = plan_targets(
            plan_args(
                "solo.example.test",
                "-p",
                "143",
                "--timeout",
                "0.5",
                "--nameserver",
                f"127.0.0.54:{sink.getsockname()[1]}",
            )
        )
        plan.resolver.timeout = 0.5
        items = await collect(plan)
    finally:
        sink.close()
    assert len(items) == 1 and items[0].state == "error" and "timed out" in items[0].error


@pytest.mark.parametrize("text", ["dns.example", "127.0.0.1:x", "[::1", "127.0.0.1:70000"])
def test_bad_nameserver(text):
    with pytest.raises(UsageError, match="--nameserver"):
        parse_nameserver(text)


def test_nameserver_forms():
    assert parse_nameserver("127.0.0.53") == ("127.0.0.53", 53)
    assert parse_nameserver("127.0.0.53:5353") == ("127.0.0.53", 5353)
    assert parse_nameserver("[::1]:5353") == ("::1", 5353)
