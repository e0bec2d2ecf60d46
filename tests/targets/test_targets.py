"""Target parsing and lazy expansion: what a user types becomes exactly the endpoints they expect."""

from __future__ import annotations

import io
import sys
import tracemalloc

import pytest

from scanner.errors import UsageError
from scanner.targets.intervals import IntervalSet
from scanner.targets.parsing import parse_ports
from scanner.targets.planning import Shard, build_plan


def keys(plan) -> list[tuple[str, int]]:
    return [(e.address, e.port) for e in plan.literal_endpoints()]


def test_cidr_expands_to_every_address_on_every_default_port():
    plan = build_plan(["192.0.2.0/30"])
    got = keys(plan)
    assert plan.total == 16 == len(got) == len(set(got))
    assert {a for a, _ in got} == {"192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3"}
    assert {p for _, p in got} == {110, 143, 993, 995}


def test_protocol_and_tls_mode_follow_the_port():
    plan = build_plan(["192.0.2.7"])
    modes = {(e.port, e.protocol, e.transport) for e in plan.literal_endpoints()}
    assert modes == {
        (110, "pop3", "starttls"),
        (143, "imap", "starttls"),
        (993, "imap", "implicit"),
        (995, "pop3", "implicit"),
    }


def test_both_range_forms_and_overlaps_are_scanned_once():
    plan = build_plan(["198.51.100.1-5", "198.51.100.3-198.51.100.9", "198.51.100.4", "198.51.100.0/29"], ports="143")
    addresses = [a for a, _ in keys(plan)]
    assert addresses == [f"198.51.100.{i}" for i in range(10)]
    assert plan.total == 10


def test_ipv6_cidr_bracketed_port_and_bare_address():
    plan = build_plan(["2001:db8::/126", "[2001:db8::10]:993", "2001:db8::20"], ports="143")
    got = set(keys(plan))
    assert got == {
        ("2001:db8::", 143),
        ("2001:db8::1", 143),
        ("2001:db8::2", 143),
        ("2001:db8::3", 143),
        ("2001:db8::10", 993),
        ("2001:db8::20", 143),
    }


def test_host_port_with_standard_port_and_schemes_for_others():
    plan = build_plan(["192.0.2.1:995", "imaps://192.0.2.2:10993", "pop3://[2001:db8::1]:1110", "imap://192.0.2.3"])
    got = {(e.address, e.port, e.protocol, e.transport) for e in plan.literal_endpoints()}
    assert got == {
        ("192.0.2.1", 995, "pop3", "implicit"),
        ("192.0.2.2", 10993, "imap", "implicit"),
        ("2001:db8::1", 1110, "pop3", "starttls"),
        ("192.0.2.3", 143, "imap", "starttls"),
    }


def test_non_standard_port_without_scheme_is_refused_with_advice():
    with pytest.raises(UsageError, match=r"192\.0\.2\.1:1143.*imaps://"):
        build_plan(["192.0.2.1:1143"])


def test_port_list_accepts_scheme_entries():
    specs = parse_ports("143,imaps:10993")
    assert [(s.port, s.protocol, s.transport) for s in specs] == [
        (143, "imap", "starttls"),
        (10993, "imap", "implicit"),
    ]
    with pytest.raises(UsageError, match="8080"):
        parse_ports("8080")


@pytest.mark.parametrize(
    "token",
    [
        "10.0.0.300",
        "10.0.0.0/33",
        "10.0.0.1-300",
        "10.0.0.1-2001:db8::1",
        "ftp://192.0.2.1",
        "bad_host!",
        "192.0.2.1:0",
        "[2001:db8::1",
        "1.2.3",
        "2001:db8::zz",
        "-leading.example",
    ],
)
def test_malformed_tokens_are_named(token):
    with pytest.raises(UsageError) as info:
        build_plan(["192.0.2.1", token])
    assert token in str(info.value) or repr(token) in str(info.value)


def test_reversed_range_says_it_expands_to_nothing():
    with pytest.raises(UsageError, match="expands to nothing"):
        build_plan(["192.0.2.9-3"])


def test_everything_excluded_says_so():
    with pytest.raises(UsageError, match="expand to nothing"):
        build_plan(["192.0.2.0/29"], excludes=["192.0.2.0/28"])


def test_exclusions_cut_holes(tmp_path):
    excl = tmp_path / "excl.txt"
    excl.write_text("# keep the printers out\n192.0.2.4/31\n\n192.0.2.250-255 # gateway\n")
    plan = build_plan(["192.0.2.0/24"], ports="143", excludes=["192.0.2.0"], exclude_files=[str(excl)])
    addresses = {a for a, _ in keys(plan)}
    assert plan.total == 256 - 1 - 2 - 6 == len(addresses)
    assert not addresses & {"192.0.2.0", "192.0.2.4", "192.0.2.5", "192.0.2.250", "192.0.2.255"}
    assert "192.0.2.6" in addresses and "192.0.2.249" in addresses


def test_target_files_with_comments_and_masscan_lines(tmp_path):
    listing = tmp_path / "targets.txt"
    listing.write_text(
        "# from a sweep\n192.0.2.1\n192.0.2.2 192.0.2.3  # two on one line\nopen tcp 993 192.0.2.9 1700000000\n\n"
        "Discovered open port 995/tcp on 192.0.2.10                                      \n"
    )
    plan = build_plan([f"@{listing}"], ports="143", lists=[str(listing)])
    assert set(keys(plan)) == {
        ("192.0.2.1", 143),
        ("192.0.2.2", 143),
        ("192.0.2.3", 143),
        ("192.0.2.9", 993),
        ("192.0.2.10", 995),
    }
    listing.write_text("Discovered open port 995/udp on 192.0.2.10\n")
    with pytest.raises(UsageError, match="targets.txt:1"):
        build_plan([], lists=[str(listing)])


def test_bad_line_in_a_file_names_file_and_line(tmp_path):
    listing = tmp_path / "t.txt"
    listing.write_text("192.0.2.1\n192.0.2.999\n")
    with pytest.raises(UsageError, match=r"t\.txt:2: .*192\.0\.2\.999"):
        build_plan([], lists=[str(listing)])


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="nope.txt"):
        build_plan([f"@{tmp_path / 'nope.txt'}"])


def test_stdin_dash(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("192.0.2.7\n192.0.2.8\n"))
    plan = build_plan(["-"], ports="110")
    assert keys(plan) == [("192.0.2.7", 110), ("192.0.2.8", 110)]


def test_more_than_a_slash_16_needs_yes():
    with pytest.raises(UsageError, match="--yes"):
        build_plan(["10.0.0.0/15"])
    assert build_plan(["10.0.0.0/16"]).total == 65536 * 4
    assert build_plan(["10.0.0.0/8"], yes=True).total == (1 << 24) * 4


def test_a_slash_8_is_never_held_in_memory():
    tracemalloc.start()
    plan = build_plan(["10.0.0.0/8"], yes=True, ports="143")
    first = []
    for i, endpoint in enumerate(plan.literal_endpoints()):
        if i < 3:
            first.append(endpoint.address)
        if i == 200_000:
            break
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert first == ["10.0.0.0", "10.0.0.1", "10.0.0.2"]
    assert peak < 2_000_000


def test_shards_partition_the_targets_exactly():
    tokens = ["192.0.2.0/27", "198.51.100.10-20", "imaps://203.0.113.5:10993"]
    whole = set(keys(build_plan(tokens)))
    parts = [set(keys(build_plan(tokens, shard=f"{k}/3"))) for k in (1, 2, 3)]
    assert set().union(*parts) == whole
    assert sum(len(p) for p in parts) == len(whole)
    assert max(len(p) for p in parts) - min(len(p) for p in parts) <= 1  # balanced
    for k, part in zip((1, 2, 3), parts, strict=True):
        assert build_plan(tokens, shard=f"{k}/3").total == len(part)
    assert parts[0] == set(keys(build_plan(tokens, shard=Shard(0, 3))))  # deterministic


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "a/b", "2"])
def test_bad_shard(text):
    with pytest.raises(UsageError, match="--shard"):
        build_plan(["192.0.2.0/24"], shard=text)


def test_resume_keys_are_skipped_and_counted():
    plan = build_plan(
        ["192.0.2.0/30"], ports="143,993", done=[("192.0.2.1", 143), ("192.0.2.3", 993), ("203.0.113.1", 143)]
    )
    got = keys(plan)
    assert ("192.0.2.1", 143) not in got and ("192.0.2.3", 993) not in got
    assert plan.total == 8 - 2 == len(got)


def test_names_are_kept_for_later_resolution():
    plan = build_plan(["Mail.Example.COM", "imaps://mail.example.com:10993", "192.0.2.1"], ports="143")
    assert plan.names == {"mail.example.com": tuple(parse_ports("143")) + tuple(parse_ports("imaps:10993"))}
    assert plan.total is None  # unknown until the names are resolved


def test_interval_set_minus_and_rank():
    s = IntervalSet([(0, 9), (20, 29)]).minus(IntervalSet([(5, 22), (28, 40)]))
    assert list(s.values()) == [0, 1, 2, 3, 4, 23, 24, 25, 26, 27]
    assert s.rank(23) == 5 and s.rank(10) is None
    assert list(s.values(1, 3)) == [1, 4, 25]


def test_client_preset_adds_the_submission_ports():
    specs = parse_ports("client")
    assert [(s.port, s.protocol, s.transport) for s in specs] == [
        (110, "pop3", "starttls"),
        (143, "imap", "starttls"),
        (465, "smtp", "implicit"),
        (587, "smtp", "starttls"),
        (993, "imap", "implicit"),
        (995, "pop3", "implicit"),
    ]
    assert [s.port for s in parse_ports("CLIENT,587,submission:2587")] == [110, 143, 465, 587, 993, 995, 2587]
    assert {s.port for s in build_plan(["192.0.2.7"]).default_ports} == {110, 143, 993, 995}  # default unchanged


def test_submission_ports_by_number_and_scheme():
    plan = build_plan(["192.0.2.1:587", "192.0.2.2:465", "submissions://192.0.2.3:10465", "submission://192.0.2.4"])
    got = {(e.address, e.port, e.protocol, e.transport) for e in plan.literal_endpoints()}
    assert got == {
        ("192.0.2.1", 587, "smtp", "starttls"),
        ("192.0.2.2", 465, "smtp", "implicit"),
        ("192.0.2.3", 10465, "smtp", "implicit"),
        ("192.0.2.4", 587, "smtp", "starttls"),
    }
    with pytest.raises(UsageError, match="port 25 is not a standard"):
        build_plan(["192.0.2.1:25"])  # relay, not a client port: never probed by number
